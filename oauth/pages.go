package oauth

// The hosted pages that complete the login flow: sign-up (with the opt-in confirmation
// page its mail links to), and password reset (the request page, and the new-password
// page its mail links to when the tenant sets no password.reset_url). Each page
// carries the authorization request the shopper came from (return, a path of this
// tenant's authorization endpoint) and sends them back to it; each can be switched off
// per tenant (pages.signup, pages.password_reset: a 404 page then).
//
// Decisions this file makes:
//
//   - The rules are customer.Service's, the same the login API calls: the password
//     policy, signup.optin, and the rate limits (sign-up and reset per IP, reset and
//     opt-in resend per address).
//   - No enumeration. A reset request answers the same page whether or not the address
//     has an account (the service queues the same job for both). A sign-up with an
//     address that has an account says so only when the tenant has no opt-in (as the
//     API's 409 does: the shopper would be signed in otherwise); with opt-in it answers
//     "check your inbox" like a new sign-up, and an account still waiting for
//     activation gets a new link.
//   - A mailed link shows a page with a button; only the button's post (CSRF-checked)
//     spends the single-use token, so a mail scanner that follows links spends nothing.
//   - A sign-up without opt-in signs the shopper in through the same sign-in rule as
//     the login page (a second factor when the tenant asks one) and goes back to the
//     authorization request. A confirmed address or a new password does not sign in:
//     the page links back to the request, whose login page asks for the password.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
)

// returnTo is raw when it is the path of this tenant's authorization endpoint with a
// query (the request a page returns to), and "" otherwise: a page never sends a
// shopper anywhere else.
func returnTo(tenant, raw string) string {
	if raw == "" || !strings.HasPrefix(raw, "/oauth2/"+tenant+"/auth?") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" ||
		u.Path != "/oauth2/"+tenant+"/auth" {
		return ""
	}
	return u.RequestURI()
}

// pageURL is the path of one of the tenant's hosted pages, carrying the request to
// return to and the language of the page that links to it (ui, "" when the request
// carries it).
func pageURL(tenant, path, ret, ui string) string {
	u := "/oauth2/" + tenant + path
	q := url.Values{}
	if ret != "" {
		q.Set("return", ret)
	}
	if ui != "" && ui != uiLocalesOf(ret) {
		q.Set("ui_locales", ui)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// uiLocalesOf is the ui_locales of an address ("" for none).
func uiLocalesOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Query().Get("ui_locales")
	}
	return ""
}

// pageLinks sets the login page's links to the hosted pages the tenant has on.
func pageLinks(t *identity.Tenant, view *page) {
	ret := returnTo(t.Name, view.Action)
	if t.Settings.PagesSignup {
		view.SignupURL = pageURL(t.Name, "/signup", ret, "")
	}
	if t.Settings.PagesPasswordReset {
		view.ResetURL = pageURL(t.Name, "/password/reset", ret, "")
	}
}

// hostedPage starts a hosted page: the tenant must have it on (a 404 page otherwise),
// and a post must carry the form's CSRF token. ok false means it answered.
func (p *Provider) hostedPage(w http.ResponseWriter, r *http.Request, on bool, title string) (*identity.Tenant, page, bool) {
	t := identity.TenantFromContext(r.Context())
	if !on {
		p.renderError(w, r, http.StatusNotFound, page{Title: "Page not found",
			Error: "This page is not available for this shop."})
		return t, page{}, false
	}
	ret := returnTo(t.Name, r.Form.Get("return"))
	view := page{Title: title, Tenant: t.Name, Return: ret, Action: hostedAction(r), LoginURL: ret,
		MinPassword: max(t.Settings.PasswordMinLength, customer.MinPasswordLength)}
	csrf, err := p.csrfToken(w, r, t.Name)
	if err != nil {
		p.renderError(w, r, http.StatusInternalServerError, page{Title: "Error", Error: "Please try again later."})
		return t, view, false
	}
	view.CSRF = csrf
	if r.Method == http.MethodPost && !p.checkCSRF(r, t.Name) {
		view.Error = "This form has expired. Please try again."
		return t, view, p.renderPage(w, r, http.StatusForbidden, view)
	}
	return t, view, true
}

// hostedAction is the address a hosted page's form posts to: its own path, with the
// ui_locales the page was opened with (a mailed link carries the mail's language), so
// that the answer to the post and the mails it causes keep the page's language.
func hostedAction(r *http.Request) string {
	if ui := ownUILocales(r); ui != "" {
		return r.URL.Path + "?" + url.Values{"ui_locales": {ui}}.Encode()
	}
	return r.URL.Path
}

// ownUILocales is the ui_locales parameter of the request itself ("" for none, or
// for one too long to carry on).
func ownUILocales(r *http.Request) string {
	if ui := r.Form.Get("ui_locales"); len(ui) <= maxUILocales {
		return ui
	}
	return ""
}

// renderPage renders the hosted page of the route; it returns false, so that a
// handler can answer and stop in one statement.
func (p *Provider) renderPage(w http.ResponseWriter, r *http.Request, status int, view page) bool {
	name := map[string]string{"oauth.signup": "signup.html", "oauth.signup.confirm": "signup_confirm.html",
		"oauth.password.reset": "password_reset.html", "oauth.password.new": "password_new.html"}[routeName(r)]
	p.render(w, r, status, name, view)
	return false
}

// pageFailure is what a hosted page says about a failure of the service that is no
// field's fault.
func (p *Provider) pageFailure(w http.ResponseWriter, r *http.Request, view page, err error) {
	var rl *identity.RateLimitError
	switch {
	case errors.As(err, &rl), errors.Is(err, identity.ErrRateLimited):
		if rl != nil {
			api.SetRetryAfter(w, rl.RetryAfter)
		}
		view.Error = "Too many attempts. Please wait a moment and try again."
		p.renderPage(w, r, http.StatusTooManyRequests, view)
	case errors.Is(err, customer.ErrInvalidToken):
		view.Error, view.Expired = "This link is no longer valid: it works once, for a limited time.", true
		p.renderPage(w, r, http.StatusBadRequest, view)
	default:
		p.log.ErrorContext(r.Context(), "hosted page", "route", routeName(r), "err", err)
		view.Error = "Something went wrong on our side. Please try again later."
		p.renderPage(w, r, http.StatusInternalServerError, view)
	}
}

// fieldErrors reads a validation failure into the page's fields (by the names of
// formFields); ok false when err is no validation failure.
func fieldErrors(err error, view *page) bool {
	var ve *identity.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	view.Invalid = map[string]string{}
	for _, f := range ve.Fields {
		name, known := formFields[f.Field]
		if !known {
			name = "form"
		}
		if _, seen := view.Invalid[name]; !seen {
			view.Invalid[name] = fieldText(name, f)
		}
	}
	return true
}

// fieldText is what the page says about a field the service refused: a text of the
// catalog (i18n), chosen by the field and the kind of failure, since the service's
// own messages are English fragments ("must have at least 8 characters").
func fieldText(name string, f identity.FieldError) string {
	msg := strings.ToLower(f.Message)
	switch {
	case f.Type == "missing":
		return "This field is required."
	case name == "email":
		return "Enter a valid e-mail address, such as name@example.com."
	case name == "password" && strings.Contains(msg, "at least"):
		return "This password is too short."
	case name == "password" && strings.Contains(msg, "at most"):
		return "This password is too long."
	case name == "password" && strings.Contains(msg, "common"):
		return "This password is one of the most common ones. Please choose another."
	case name == "password" && strings.Contains(msg, "e-mail"):
		return "The password must not be your e-mail address."
	case name == "password":
		return "This password cannot be used. Please choose another."
	}
	return "Please check this field."
}

// formFields maps the service's field names to the hosted forms' fields.
var formFields = map[string]string{
	"email": "email", "password": "password",
	"customerDetails.firstName": "first_name", "customerDetails.lastName": "last_name",
}

// signupPage is the hosted sign-up page: GET shows the form, POST creates the account.
func (p *Provider) signupPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant := identity.TenantFromContext(ctx)
	t, view, ok := p.hostedPage(w, r, tenant.Settings.PagesSignup, "Create account")
	if !ok {
		return
	}
	view.OptIn = t.Settings.SignupOptIn
	if t.Settings.PagesPasswordReset {
		view.ResetURL = pageURL(t.Name, "/password/reset", view.Return, ownUILocales(r))
	}
	if r.Method != http.MethodPost {
		p.renderPage(w, r, http.StatusOK, view)
		return
	}
	f := r.PostForm
	view.Email, view.FirstName, view.LastName = strings.TrimSpace(f.Get("email")), strings.TrimSpace(f.Get("first_name")), strings.TrimSpace(f.Get("last_name"))
	origin := &customer.HostedPage{Return: view.Return}
	_, err := p.auth.Signup(ctx, t, customer.SignupRequest{Email: view.Email, Password: f.Get("password"),
		Details: customer.SignupDetails{FirstName: view.FirstName, LastName: view.LastName}, Page: origin})
	switch {
	case err == nil:
	case fieldErrors(err, &view):
		p.renderPage(w, r, http.StatusBadRequest, view)
		return
	case errors.Is(err, identity.ErrConflict) && t.Settings.SignupOptIn:
		// The same answer as a new sign-up; an account still waiting gets a new link.
		if err := p.auth.ResendOptInFrom(ctx, t, view.Email, origin); err != nil {
			p.log.WarnContext(ctx, "sign-up page: resend opt-in to an existing address", "err", err)
		}
	case errors.Is(err, identity.ErrConflict):
		view.Error, view.Exists = "An account with this e-mail address already exists.", true
		p.renderPage(w, r, http.StatusConflict, view)
		return
	default:
		p.pageFailure(w, r, view, err)
		return
	}
	if t.Settings.SignupOptIn || view.Return == "" {
		view.Done = true
		p.renderPage(w, r, http.StatusOK, view)
		return
	}
	p.signInAfterSignup(w, r, t, view, f.Get("password"))
}

// signInAfterSignup signs a new (active) account in by the login page's rule and goes
// back to the authorization request: to its second-factor page when the tenant asks
// one.
func (p *Provider) signInAfterSignup(w http.ResponseWriter, r *http.Request, t *identity.Tenant, view page, password string) {
	ctx := r.Context()
	ret, _ := url.Parse(view.Return)
	clientID := ret.Query().Get("client_id")
	pr, err := p.auth.AuthenticatePassword(ctx, t.Name, customer.LoginAttempt{Email: view.Email, Password: password,
		ClientID: clientID, Fingerprint: p.deviceID(w, r, t.Name)})
	if err != nil {
		// The account exists: the shopper signs in on the login page.
		p.log.WarnContext(ctx, "sign-up page: sign in the new account", "err", err)
		view.Done = true
		p.renderPage(w, r, http.StatusOK, view)
		return
	}
	if pr.Challenge != nil {
		view.Action, view.ClientName = view.Return, clientID
		if c, err := p.store.GetTenantClient(ctx, t.Name, clientID); err == nil {
			view.ClientName = clientName(c)
		}
		view.ChallengeID, view.Methods = pr.Challenge.ID, pr.Challenge.Methods
		p.renderSecondFactor(w, r, http.StatusOK, view, "", "")
		return
	}
	if _, err := p.startBrowserSession(w, r, t, pr); err != nil {
		p.pageFailure(w, r, view, err)
		return
	}
	http.Redirect(w, r, view.Return, http.StatusSeeOther)
}

// signupConfirmPage is the opt-in mail's link: GET asks, POST activates the account.
func (p *Provider) signupConfirmPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant := identity.TenantFromContext(ctx)
	t, view, ok := p.hostedPage(w, r, tenant.Settings.PagesSignup, "Activate your account")
	if !ok {
		return
	}
	view.Token = r.Form.Get("token")
	if view.Token == "" {
		view.Error, view.Expired = "This link is incomplete. Please open the link from the e-mail again.", true
		p.renderPage(w, r, http.StatusBadRequest, view)
		return
	}
	if r.Method != http.MethodPost {
		p.renderPage(w, r, http.StatusOK, view)
		return
	}
	if _, err := p.auth.ConfirmOptIn(ctx, t, view.Token); err != nil {
		p.pageFailure(w, r, view, err)
		return
	}
	view.Done = true
	p.renderPage(w, r, http.StatusOK, view)
}

// passwordResetPage asks for the address to send a reset link to; the answer is the
// same whether or not it has an account.
func (p *Provider) passwordResetPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant := identity.TenantFromContext(ctx)
	t, view, ok := p.hostedPage(w, r, tenant.Settings.PagesPasswordReset, "Reset your password")
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		p.renderPage(w, r, http.StatusOK, view)
		return
	}
	view.Email = strings.TrimSpace(r.PostForm.Get("email"))
	if view.Email == "" {
		view.Invalid = map[string]string{"email": "is required"}
		p.renderPage(w, r, http.StatusBadRequest, view)
		return
	}
	if err := p.auth.RequestPasswordResetFrom(ctx, t, view.Email, "", &customer.HostedPage{Return: view.Return}); err != nil {
		p.pageFailure(w, r, view, err)
		return
	}
	view.Done = true
	p.renderPage(w, r, http.StatusOK, view)
}

// passwordNewPage is the reset mail's link: it sets the new password with the mailed
// token, which works once.
func (p *Provider) passwordNewPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant := identity.TenantFromContext(ctx)
	t, view, ok := p.hostedPage(w, r, tenant.Settings.PagesPasswordReset, "Choose a new password")
	if !ok {
		return
	}
	view.Token = r.Form.Get("token")
	view.ResetURL = pageURL(t.Name, "/password/reset", view.Return, ownUILocales(r))
	if view.Token == "" {
		view.Error, view.Expired = "This link is incomplete. Please open the link from the e-mail again.", true
		p.renderPage(w, r, http.StatusBadRequest, view)
		return
	}
	if r.Method != http.MethodPost {
		p.renderPage(w, r, http.StatusOK, view)
		return
	}
	err := p.auth.ResetPassword(ctx, t, view.Token, r.PostForm.Get("password"))
	switch {
	case err == nil:
		view.Done = true
		p.renderPage(w, r, http.StatusOK, view)
	case fieldErrors(err, &view):
		p.renderPage(w, r, http.StatusBadRequest, view)
	default:
		p.pageFailure(w, r, view, err)
	}
}
