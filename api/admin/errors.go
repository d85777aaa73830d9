package admin

import (
	"errors"
	"net/http"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// adminError is a failure the handlers raise themselves, with its status and type.
type adminError struct {
	status int
	typ    string
	msg    string
}

func (e *adminError) Error() string { return e.msg }

func badRequest(msg string) *adminError {
	return &adminError{status: http.StatusBadRequest, typ: "bad_request", msg: msg}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	api.WriteJSON(w, status, map[string]any{"status": status, "type": typ, "message": msg})
}

// fail is the one place admin failures are mapped to HTTP, in the customer login API's
// shape {status, type, message, details?}.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *identity.ValidationError
		be *api.BodyError
		ae *adminError
	)
	switch {
	case api.Unavailable(err):
		a.log.ErrorContext(r.Context(), "admin: storage unavailable", "route", routeName(r), "err", err)
		api.SetRetryAfter(w, api.UnavailableRetryAfter)
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "the service is temporarily unavailable; try again")
	case errors.As(err, &ae):
		writeError(w, ae.status, ae.typ, ae.msg)
	case errors.As(err, &ve):
		details := make([]map[string]string, 0, len(ve.Fields))
		for _, f := range ve.Fields {
			details = append(details, map[string]string{"field": f.Field, "type": f.Type, "message": f.Message})
		}
		api.WriteJSON(w, http.StatusBadRequest, map[string]any{"status": http.StatusBadRequest, "type": "bad_request",
			"message": "the request has invalid fields", "details": details})
	case api.IsTooLarge(err):
		writeError(w, http.StatusRequestEntityTooLarge, "bad_request", api.ErrTooLarge.Error())
	case errors.As(err, &be) && be.Problem == api.Trailing:
		writeError(w, http.StatusBadRequest, "bad_request", "malformed request body: trailing data")
	case errors.As(err, &be):
		writeError(w, http.StatusBadRequest, "bad_request", "malformed request body: "+be.Err.Error())
	case errors.Is(err, identity.ErrNotFound):
		writeError(w, http.StatusNotFound, "resource_not_found", err.Error())
	case errors.Is(err, identity.ErrConflict):
		writeError(w, http.StatusConflict, "conflict_resource", err.Error())
	case errors.Is(err, identity.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		a.log.ErrorContext(r.Context(), "admin", "route", routeName(r), "err", err)
		writeError(w, http.StatusInternalServerError, "internal_error", "internal error")
	}
}
