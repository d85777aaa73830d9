package login

import (
	"net/http"
	"strconv"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// loginTwoFactorError is a second-factor failure in the login API's shape.
func loginTwoFactorError(f *twofactor.Failure) *loginError {
	status, typ := http.StatusUnauthorized, typeUnauthorized
	switch f.Kind {
	case twofactor.Invalid:
		status, typ = http.StatusBadRequest, typeBadRequest
	case twofactor.Conflict:
		status, typ = http.StatusConflict, typeConflict
	case twofactor.TooSoon:
		status, typ = http.StatusTooManyRequests, typeTooManyRequests
	case twofactor.NotFound:
		status, typ = http.StatusNotFound, typeNotFound
	}
	msg := f.Message
	if f.Remaining != nil {
		msg += "; attemptsRemaining=" + strconv.Itoa(*f.Remaining)
	}
	return &loginError{status: status, typ: typ, message: f.Message, details: []identity.FieldError{{Field: "code", Type: f.Reason, Message: msg}}}
}
