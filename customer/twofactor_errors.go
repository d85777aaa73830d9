package customer

import (
	"net/http"
	"strconv"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// ticketError is a second-factor failure in the ticket API's shape.
func ticketTwoFactorError(f *twofactor.Failure) *ticketError {
	status, code := http.StatusUnauthorized, "UNAUTHORIZED"
	switch f.Kind {
	case twofactor.Invalid:
		status, code = http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER"
	case twofactor.Conflict:
		status, code = http.StatusConflict, "VALIDATION_CONFLICT"
	case twofactor.TooSoon:
		status, code = http.StatusTooManyRequests, "TOO_MANY_REQUESTS"
	case twofactor.NotFound:
		status, code = http.StatusNotFound, "ITEM_NOT_FOUND"
	}
	te := &ticketError{status: status, code: code, message: f.Message, data: []nameValue{{"reason", f.Reason}}}
	if f.Remaining != nil {
		te.data = append(te.data, nameValue{"attemptsRemaining", strconv.Itoa(*f.Remaining)})
	}
	return te
}

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
