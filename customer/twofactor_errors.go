package customer

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// twoFactorFailure is a second-factor error as both dialects report it: a status, a
// machine-readable reason and, for a wrong code, the tries left.
type twoFactorFailure struct {
	status     int
	reason     string
	message    string
	remaining  *int
	retryAfter time.Duration
}

// classifyTwoFactor recognises the twofactor package's errors; nil for any other.
func classifyTwoFactor(err error) *twoFactorFailure {
	var wrong *twofactor.WrongCodeError
	var cool *twofactor.CooldownError
	f := func(status int, reason string) *twoFactorFailure {
		return &twoFactorFailure{status: status, reason: reason, message: err.Error()}
	}
	switch {
	case errors.As(err, &wrong):
		out := f(http.StatusUnauthorized, "wrong_code")
		if wrong.Replayed {
			out.reason = "code_already_used"
		}
		n := wrong.Remaining
		out.remaining = &n
		return out
	case errors.As(err, &cool):
		out := f(http.StatusTooManyRequests, "resend_cooldown")
		out.retryAfter = cool.RetryAfter
		return out
	case errors.Is(err, twofactor.ErrCodeExpired):
		return f(http.StatusUnauthorized, "code_expired")
	case errors.Is(err, twofactor.ErrNoAttempts):
		return f(http.StatusUnauthorized, "no_attempts_left")
	case errors.Is(err, twofactor.ErrChallenge):
		return f(http.StatusUnauthorized, "invalid_challenge")
	case errors.Is(err, twofactor.ErrTooManyCodes):
		return f(http.StatusUnauthorized, "too_many_codes")
	case errors.Is(err, twofactor.ErrMethod):
		return f(http.StatusBadRequest, "method_not_available")
	case errors.Is(err, twofactor.ErrNotEnrolled):
		return f(http.StatusConflict, "not_enrolled")
	case errors.Is(err, twofactor.ErrAlreadyEnrolled):
		return f(http.StatusConflict, "already_enrolled")
	case errors.Is(err, identity.ErrSecondFactorRequired):
		return f(http.StatusUnauthorized, "second_factor_required")
	case errors.Is(err, twofactor.ErrNotFound):
		return &twoFactorFailure{status: http.StatusNotFound, reason: "not_found", message: "not found"}
	}
	return nil
}

// ticketError is the failure in the ticket API's shape.
func (f *twoFactorFailure) ticketError() *ticketError {
	code := "UNAUTHORIZED"
	switch f.status {
	case http.StatusBadRequest:
		code = "MISSING_OR_INVALID_PARAMETER"
	case http.StatusConflict:
		code = "VALIDATION_CONFLICT"
	case http.StatusTooManyRequests:
		code = "TOO_MANY_REQUESTS"
	case http.StatusNotFound:
		code = "ITEM_NOT_FOUND"
	}
	te := &ticketError{status: f.status, code: code, message: f.message, data: []nameValue{{"reason", f.reason}}}
	if f.remaining != nil {
		te.data = append(te.data, nameValue{"attemptsRemaining", strconv.Itoa(*f.remaining)})
	}
	return te
}

// loginError is the failure in the login API's shape.
func (f *twoFactorFailure) loginError() *loginError {
	typ := typeUnauthorized
	switch f.status {
	case http.StatusBadRequest:
		typ = typeBadRequest
	case http.StatusConflict:
		typ = typeConflict
	case http.StatusTooManyRequests:
		typ = typeTooManyRequests
	case http.StatusNotFound:
		typ = typeNotFound
	}
	msg := f.message
	if f.remaining != nil {
		msg += "; attemptsRemaining=" + strconv.Itoa(*f.remaining)
	}
	return &loginError{status: f.status, typ: typ, message: f.message, details: []identity.FieldError{{Field: "code", Type: f.reason, Message: msg}}}
}

// setRetryAfter sets Retry-After for a resend asked for too soon.
func (f *twoFactorFailure) setRetryAfter(w http.ResponseWriter) {
	api.SetRetryAfter(w, f.retryAfter)
}
