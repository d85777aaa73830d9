package login

// The "this was not me" link of a new-device mail: a small HTML page that asks, and a
// CSRF-protected form post that acts. The pages answer their own errors as pages.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"

	"github.com/custodian-id/custodian/customer"
)

// notMeAsk is the link of a new-device mail: GET /customer/{tenant}/security/not-me/{token}.
// It only asks: a mail scanner that opens the link changes nothing and leaves the token
// unused. The page's form posts back to the same address (notMe).
func (a *API) notMeAsk(w http.ResponseWriter, r *http.Request) {
	c, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		a.notice(w, r, http.StatusNotFound, "Link not valid", "This link is not valid.", "")
		return
	}
	t, ctx := c.tenant, c.ctx
	r = r.WithContext(ctx)
	if !a.notMeUsable(ctx, w, r, a.svc.CheckNotMe(ctx, t, pathVar(r, "token"))) {
		return
	}
	// The CSRF cookie is scoped to the links' directory, wherever a host mounts them.
	csrf, err := a.oauth.FormCSRF(w, r, t.Name, path.Dir(r.URL.Path)+"/")
	if err != nil {
		a.notMeUsable(ctx, w, r, err)
		return
	}
	a.oauth.RenderNotMe(w, r, r.URL.RequestURI(), csrf)
}

// notMe acts on the confirmed link: every session, token and trusted device of the
// account ends. POST /customer/{tenant}/security/not-me/{token} (form, csrf_token).
func (a *API) notMe(w http.ResponseWriter, r *http.Request) {
	c, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		a.notice(w, r, http.StatusNotFound, "Link not valid", "This link is not valid.", "")
		return
	}
	t, ctx := c.tenant, c.ctx
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, loginMaxBody)
	if err := r.ParseForm(); err != nil {
		a.notice(w, r, http.StatusBadRequest, "Please try again", "The form could not be read. Please open the link in the e-mail again.", "")
		return
	}
	if !a.oauth.CheckFormCSRF(r, t.Name) {
		a.notice(w, r, http.StatusForbidden, "Please try again", "This form has expired. Please open the link in the e-mail again.", "")
		return
	}
	if !a.notMeUsable(ctx, w, r, a.svc.NotMe(ctx, t, pathVar(r, "token"))) {
		return
	}
	a.notice(w, r, http.StatusOK, "Your account is safe again", "",
		"Every session of your account has been signed out and every trusted device forgotten. Please sign in again and change your password.")
}

// notMeUsable answers the page of a failed not-me step and reports whether err is nil.
func (a *API) notMeUsable(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, customer.ErrInvalidToken):
		a.notice(w, r, http.StatusBadRequest, "Link not valid", "This link has expired or was already used.", "")
	default:
		a.log.ErrorContext(ctx, "not-me link", "err", fmt.Errorf("not me: %w", err))
		a.notice(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again later.", "")
	}
	return false
}

// notice answers a small HTML page in the shopper's language under the tenant's
// branding (when the request's context has the tenant); the texts are catalog keys.
func (a *API) notice(w http.ResponseWriter, r *http.Request, status int, title, errMsg, msg string) {
	a.oauth.RenderNotice(w, r, status, title, errMsg, msg)
}
