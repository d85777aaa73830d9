package login

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/twofactor"
)

// Error types of the customer login API (CONTRACT.md §3): every error it answers is
// {status, type, message, details?: [{field, type, message}]} with one of these types.
const (
	typeBadRequest      = "bad_request"
	typeUnauthorized    = "unauthorized"
	typeForbidden       = "forbidden"
	typeNotFound        = "resource_not_found"
	typeConflict        = "conflict_resource"
	typeTooManyRequests = "too_many_requests"
	typeInternal        = "internal_error"
	// typeUnavailable: a 503 for a storage failure (with Retry-After); the request may
	// be sent again as it is.
	typeUnavailable = "service_unavailable"
)

// loginError is a failure the login API's handlers raise themselves (a missing
// parameter, a wrong token, an unknown client). Message is what the caller reads;
// cause, when set, only goes to the log.
type loginError struct {
	status  int
	typ     string
	message string
	details []identity.FieldError
	cause   error
	// challenge, when set, is sent as WWW-Authenticate (RFC 6750 §3) with a 401 or 403.
	challenge string
}

func (e *loginError) Error() string {
	if e.cause != nil {
		return e.message + ": " + e.cause.Error()
	}
	return e.message
}

func (e *loginError) Unwrap() error { return e.cause }

// badRequest is a 400 with field-level details.
func badRequest(message string, details ...identity.FieldError) *loginError {
	return &loginError{status: http.StatusBadRequest, typ: typeBadRequest, message: message, details: details}
}

// missingParam is a 400 for a required query parameter or field that is absent.
func missingParam(name string) *loginError {
	return badRequest(name+" is required", identity.FieldError{Field: name, Type: "missing", Message: "is required"})
}

// tokenRequired is a 401 for a request without a usable bearer token.
func tokenRequired(message string, cause error) *loginError {
	return &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized, message: message, cause: cause,
		challenge: `Bearer error="invalid_token"`}
}

// loginErrorBody is the one error shape of the customer login API.
type loginErrorBody struct {
	Status  int                `json:"status"`
	Type    string             `json:"type"`
	Message string             `json:"message"`
	Details []loginErrorDetail `json:"details,omitempty"`
}

type loginErrorDetail struct {
	Field   string `json:"field"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// fail is the customer login API's single mapping from an error to a status and
// body. The caller reads a safe message; the log gets the cause.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := classifyLoginError(err)
	if tf := twofactor.FailureOf(err); tf != nil {
		api.SetRetryAfter(w, tf.RetryAfter)
	}
	var rl *identity.RateLimitError
	if errors.As(err, &rl) {
		api.SetRetryAfter(w, rl.RetryAfter)
	}
	if e.status == http.StatusServiceUnavailable {
		api.SetRetryAfter(w, api.UnavailableRetryAfter)
	}
	if (e.status == http.StatusUnauthorized || e.status == http.StatusForbidden) && e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	level := slog.LevelDebug
	if e.status >= 500 {
		level = slog.LevelError
	}
	a.log.LogAttrs(r.Context(), level, "customer login api", slog.String("method", r.Method), slog.String("route", routeOf(r)),
		slog.Int("status", e.status), slog.String("type", e.typ), slog.Any("err", err))
	body := loginErrorBody{Status: e.status, Type: e.typ, Message: e.message}
	for _, d := range e.details {
		body.Details = append(body.Details, loginErrorDetail(d))
	}
	api.WriteJSON(w, e.status, body)
}

// classifyLoginError turns domain errors into the login API's statuses and types.
// Credentials failures share one message, so an unknown e-mail and a wrong password
// look the same; a locked or inactive account is only reported after a correct
// password (the service decides that).
func classifyLoginError(err error) *loginError {
	// A storage failure is no verdict on the caller's token, client or credentials.
	if api.Unavailable(err) {
		return &loginError{status: http.StatusServiceUnavailable, typ: typeUnavailable, message: "the service is temporarily unavailable; try again"}
	}
	var le *loginError
	if errors.As(err, &le) {
		return le
	}
	if tf := twofactor.FailureOf(err); tf != nil {
		return loginTwoFactorError(tf)
	}
	var ve *identity.ValidationError
	if errors.As(err, &ve) {
		return badRequest("the request has invalid fields", ve.Fields...)
	}
	var be *api.BodyError
	if errors.As(err, &be) {
		return bodyError(be)
	}
	if api.IsTooLarge(err) {
		return &loginError{status: http.StatusRequestEntityTooLarge, typ: typeBadRequest, message: api.ErrTooLarge.Error()}
	}
	switch {
	case errors.Is(err, customer.ErrNotMember):
		return notMember()
	case errors.Is(err, customer.ErrLastSignIn):
		return &loginError{status: http.StatusConflict, typ: typeConflict, message: customer.ErrLastSignIn.Error()}
	case errors.Is(err, customer.ErrNoLink):
		return &loginError{status: http.StatusNotFound, typ: typeNotFound, message: customer.ErrNoLink.Error()}
	case errors.Is(err, oauth.ErrSubjectToken):
		return &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized, message: oauth.ErrSubjectToken.Error(), cause: err}
	case errors.Is(err, oauth.ErrExchangeNotAllowed):
		return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: oauth.ErrExchangeNotAllowed.Error()}
	case errors.Is(err, customer.ErrSocialNoAccount), errors.Is(err, customer.ErrSocialUnverifiedEmail), errors.Is(err, customer.ErrSocialLinkNeedsPassword):
		return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: err.Error()}
	case errors.Is(err, oauth.ErrForeignSession):
		return badRequest(oauth.ErrForeignSession.Error(),
			identity.FieldError{Field: "session-id", Type: "invalid", Message: "is not the session of the caller's anonymous token"})
	case errors.Is(err, customer.ErrRateLimited):
		return &loginError{status: http.StatusTooManyRequests, typ: typeTooManyRequests, message: "too many attempts; try again later"}
	case errors.Is(err, customer.ErrInvalidCredentials):
		return &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized, message: "the e-mail address or password is wrong"}
	case errors.Is(err, customer.ErrLocked):
		return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: "the account is locked; try again later"}
	case errors.Is(err, customer.ErrInactive):
		return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: "the account is not active"}
	case errors.Is(err, customer.ErrPasswordResetRequired):
		// The contract's types are closed: the detail is what a storefront tests for.
		return &loginError{status: http.StatusForbidden, typ: typeForbidden,
			message: "the password must be reset: a reset link was sent to the account's e-mail address",
			details: []identity.FieldError{{Field: "password", Type: "reset_required",
				Message: "was right, but was imported in a format too weak to keep; choose a new one with the reset link"}}}
	case errors.Is(err, customer.ErrInvalidToken):
		// A one-time token (opt-in link) that is unknown, used or expired: the
		// request is wrong, not the caller's credentials.
		return badRequest("invalid or expired token")
	case errors.Is(err, oauth.ErrInvalidToken):
		return tokenRequired("invalid or expired access token", nil)
	case errors.Is(err, customer.ErrStale):
		return &loginError{status: http.StatusConflict, typ: typeConflict, message: customer.ErrStale.Error()}
	case errors.Is(err, customer.ErrAddressNotFound):
		return &loginError{status: http.StatusNotFound, typ: typeNotFound, message: "address not found"}
	case errors.Is(err, customer.ErrNotFound):
		return &loginError{status: http.StatusNotFound, typ: typeNotFound, message: "customer not found"}
	case errors.Is(err, identity.ErrNotFound):
		return &loginError{status: http.StatusNotFound, typ: typeNotFound, message: "resource not found"}
	case errors.Is(err, customer.ErrConflict):
		return &loginError{status: http.StatusConflict, typ: typeConflict, message: "a customer with this e-mail address already exists"}
	case errors.Is(err, identity.ErrConflict):
		return &loginError{status: http.StatusConflict, typ: typeConflict, message: "the resource already exists"}
	case errors.Is(err, customer.ErrInvalid):
		// The domain's ErrInvalid messages are written for the caller.
		return badRequest(err.Error())
	}
	// fosite's errors (from the refresh grant) carry their HTTP status; anything it
	// rejects short of a server error is a refresh token that does not work.
	var rfc interface{ StatusCode() int }
	if errors.As(err, &rfc) && rfc.StatusCode() < 500 {
		return &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized, message: "invalid, expired or already used refresh token"}
	}
	return &loginError{status: http.StatusInternalServerError, typ: typeInternal, message: "internal error"}
}

// bodyError words a refused body in the login API's shape.
func bodyError(e *api.BodyError) *loginError {
	switch e.Problem {
	case api.BadMediaType:
		return &loginError{status: http.StatusUnsupportedMediaType, typ: typeBadRequest, message: e.Error()}
	case api.TooLarge:
		return &loginError{status: http.StatusRequestEntityTooLarge, typ: typeBadRequest, message: api.ErrTooLarge.Error()}
	case api.NotUTF8:
		return badRequest(e.Error())
	case api.Empty:
		return badRequest("the request body is empty")
	case api.Truncated:
		return badRequest("malformed JSON: the body ends early")
	case api.Syntax:
		return badRequest(fmt.Sprintf("malformed JSON at byte %d", e.Offset))
	case api.WrongType:
		field := e.Field
		if field == "" {
			field = "body"
		}
		return badRequest("the request has invalid fields", identity.FieldError{Field: field, Type: "invalid", Message: "must be " + e.Want})
	case api.UnknownField:
		return badRequest("the request has unknown fields", identity.FieldError{Field: e.Field, Type: "unknown", Message: "is not a known field"})
	case api.Trailing:
		return badRequest("malformed JSON: trailing data after the object")
	}
	return badRequest("malformed JSON body")
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
