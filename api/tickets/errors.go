package tickets

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/twofactor"
)

// ticketError is an error of the ticket API in its dialect's shape.
type ticketError struct {
	status  int
	code    string
	message string
	data    []nameValue
}

type nameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (e *ticketError) Error() string { return e.code + ": " + e.message }

// badParam is a 400 MISSING_OR_INVALID_PARAMETER.
func badParam(msg string, data ...nameValue) *ticketError {
	return &ticketError{status: http.StatusBadRequest, code: "MISSING_OR_INVALID_PARAMETER", message: msg, data: data}
}

// fail is the one place ticket-API failures become HTTP:
// {errorCode, message, applicationName: "Customer", additionalApplicationErrorData?}.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var te *ticketError
	var rl *identity.RateLimitError
	var se *FieldsSyntaxError
	var be *api.BodyError
	tf := twofactor.FailureOf(err)
	switch {
	case api.Unavailable(err): // a storage failure is no verdict on the caller's token or credentials
		a.log.ErrorContext(r.Context(), "ticket API: storage unavailable", "err", err)
		api.SetRetryAfter(w, api.UnavailableRetryAfter)
		te = &ticketError{status: http.StatusServiceUnavailable, code: "SERVICE_UNAVAILABLE", message: "the service is temporarily unavailable; try again"}
	case errors.As(err, &te):
	case tf != nil:
		api.SetRetryAfter(w, tf.RetryAfter)
		te = ticketTwoFactorError(tf)
	case api.IsTooLarge(err):
		te = &ticketError{status: http.StatusRequestEntityTooLarge, code: "MISSING_OR_INVALID_PARAMETER", message: api.ErrTooLarge.Error()}
	case errors.As(err, &be):
		te = ticketBodyError(be)
	case errors.As(err, &se):
		te = badParam(se.Error(), nameValue{"position", strconv.Itoa(se.Pos)})
	case errors.As(err, &rl):
		api.SetRetryAfter(w, rl.RetryAfter)
		te = &ticketError{status: http.StatusTooManyRequests, code: "TOO_MANY_REQUESTS", message: "too many attempts; retry later"}
	case errors.Is(err, customer.ErrInvalidCredentials):
		te = &ticketError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", message: "invalid username or password"}
	case errors.Is(err, customer.ErrNotMember):
		te = &ticketError{status: http.StatusForbidden, code: "UNAUTHORIZED", message: "the customer does not belong to that account"}
	case errors.Is(err, customer.ErrLocked):
		te = &ticketError{status: http.StatusForbidden, code: "ACCOUNT_LOCKED", message: "the account is locked after too many failed attempts; try again later"}
	case errors.Is(err, customer.ErrInactive):
		te = &ticketError{status: http.StatusForbidden, code: "UNAUTHORIZED", message: "the account is not active"}
	case errors.Is(err, customer.ErrPasswordResetRequired):
		te = &ticketError{status: http.StatusForbidden, code: "PASSWORD_RESET_REQUIRED",
			message: "the password must be reset: a reset link was sent to the account's e-mail address"}
	case errors.Is(err, identity.ErrNotFound), errors.Is(err, customer.ErrNotFound):
		te = &ticketError{status: http.StatusNotFound, code: "ITEM_NOT_FOUND", message: "not found"}
	case errors.Is(err, fosite.ErrInvalidGrant), errors.Is(err, fosite.ErrInactiveToken), errors.Is(err, fosite.ErrNotFound),
		errors.Is(err, fosite.ErrInvalidRequest), errors.Is(err, fosite.ErrTokenExpired), errors.Is(err, oauth.ErrInvalidToken),
		errors.Is(err, customer.ErrNotCustomerToken),
		errors.Is(err, fosite.ErrUnauthorizedClient), errors.Is(err, fosite.ErrInvalidScope):
		te = &ticketError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", message: "invalid, expired or already used refresh token"}
	default:
		a.log.ErrorContext(r.Context(), "ticket API", "err", err)
		te = &ticketError{status: http.StatusInternalServerError, code: "INTERNAL_ERROR", message: "internal error"}
	}
	body := map[string]any{"errorCode": te.code, "message": te.message, "applicationName": "Customer"}
	if len(te.data) > 0 {
		body["additionalApplicationErrorData"] = te.data
	}
	api.WriteJSON(w, te.status, body)
}

// ticketBodyError words a refused body in the ticket API's shape.
func ticketBodyError(e *api.BodyError) *ticketError {
	switch e.Problem {
	case api.BadMediaType:
		return badParam("the body must be application/json")
	case api.Unreadable:
		return badParam("the body could not be read (too large?)")
	}
	return badParam(e.Error())
}

// ticketTwoFactorError is a second-factor failure in the ticket API's shape.
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
