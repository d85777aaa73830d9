package oauth

import (
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// The browser flow lives in oauth as one piece: login → second factor → consent →
// redirect here (with social sign-in in social.go), the browser's session in
// browser.go, its forms' CSRF tokens in csrf.go, and logout in logout.go.

const (
	csrfCookie    = "custodian_csrf"
	sessionCookie = "custodian_session"
	// deviceCookie identifies this browser to the second-factor policy: it is the
	// fingerprint of sign-ins at the login pages. It carries no session and lives
	// 400 days (the longest browsers keep a cookie).
	deviceCookie    = "custodian_device"
	deviceCookieAge = 400 * 24 * time.Hour
)

type page struct {
	Title      string
	Tenant     string
	ClientName string
	Action     string
	CSRF       string
	Email      string
	Error      string
	// ErrorArgs are the arguments of Error's text (a time.Duration is written for
	// people).
	ErrorArgs []any
	// FieldError says that Error is about what the shopper typed into the form's
	// fields (wrong credentials, a wrong or expired code): the page marks the fields
	// invalid and ties the message to them. Other errors concern the whole form.
	FieldError bool
	Scopes     []string // what the consent page asks for, in words
	Done       bool
	Notice     string

	// Connectors are the upstream sign-in options of the login page.
	Connectors []connectorLink
	// LinkToken carries an upstream identity that signing in with the password links.
	LinkToken string

	// The second-factor page.
	ChallengeID string
	Methods     []string
	Method      string
	CanResend   bool

	// The form_post page: the fields it posts and its script.
	Fields []formField
	Script template.JS

	// Set by render (pages.go): the page's language and the tenant's branding.
	Lang  string
	Brand brandView
	tr    *i18n.Printer
	// CodeTTL is how long an e-mailed code works (the second-factor page).
	CodeTTL time.Duration

	// The hosted sign-up and password-reset pages (pages.go) and the login page's
	// links to them.
	Return    string // the authorization request the page returns to ("" for none)
	LoginURL  string // back to the login page of that request ("" for none)
	SignupURL string // "Create account" ("" when the tenant has it off)
	ResetURL  string // "Forgot password?" ("" when the tenant has it off)
	Token     string // the mailed token the form carries
	FirstName string
	LastName  string
	// Invalid maps a form field (email, password, first_name, last_name, form) to what
	// is wrong with it.
	Invalid     map[string]string
	OptIn       bool // the tenant activates new accounts by an e-mailed link
	MinPassword int  // the tenant's shortest password
	Exists      bool // the sign-up's address has an account already
	Expired     bool // the mailed link no longer works

	// Error pages (errorpage.go): the OAuth error code the page explains, the request
	// id to quote, and the way back.
	Code      string
	RequestID string
	BackURL   string
	BackName  string
	// SignedInAs is the consent page's shopper (their e-mail address).
	SignedInAs string
}

// MethodList is Methods as the form carries it.
func (p page) MethodList() string { return strings.Join(p.Methods, ",") }

// pageCSP is the Content-Security-Policy of every page: inline styles, nothing else.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"

// SetPageHeaders sets the headers of every HTML page Custodian serves: no caching, no
// framing, no sniffing, no referrer, and a CSP that allows inline styles only.
func SetPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", pageCSP)
}

// formStep is what a form of the browser flow posted to the authorization endpoint:
// a password or second factor that started a session, or the shopper's consent.
type formStep struct {
	session   *BrowserSession // started by this post
	social    *SocialTokens   // a social sign-in's upstream tokens, after its second factor
	consented bool
}

// formStep acts on a post of the login, second-factor or consent page. done reports
// that it answered the request itself (a page, or the authorization error).
func (p *Provider) formStep(w http.ResponseWriter, r *http.Request, az *authorization, bs *BrowserSession, view *page) (step formStep, done bool) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	client := az.client
	if !p.checkCSRF(r, t.Name) {
		p.renderLogin(w, r, http.StatusForbidden, *view, "This form has expired. Please try again.")
		return step, true
	}
	switch r.PostForm.Get("step") {
	case "password", "2fa":
		var pr *customer.Principal
		var err error
		if r.PostForm.Get("step") == "password" {
			view.Email = r.PostForm.Get("email")
			pr, err = p.auth.AuthenticatePassword(ctx, t.Name, customer.LoginAttempt{Email: r.PostForm.Get("email"),
				Password: r.PostForm.Get("password"), ClientID: client.ID, Fingerprint: p.deviceID(w, r, t.Name)})
		} else {
			pr, err = p.auth.VerifySecondFactor(ctx, t.Name, customer.SecondFactor{ChallengeID: r.PostForm.Get("challenge_id"),
				ClientID: client.ID, Method: r.PostForm.Get("method"), Code: r.PostForm.Get("code"),
				RememberDevice: r.PostForm.Get("remember_device") == "on"})
		}
		if err != nil {
			view.LinkToken = r.PostForm.Get("link_token")
			p.loginFailed(w, r, *view, err)
			return step, true
		}
		if lt := r.PostForm.Get("link_token"); lt != "" && r.PostForm.Get("step") == "password" {
			if err := p.linkAfterPassword(ctx, t, lt, pr); err != nil {
				p.log.WarnContext(ctx, "link upstream identity", "err", err)
			}
		}
		if pr.Challenge != nil {
			view.ChallengeID, view.Methods = pr.Challenge.ID, pr.Challenge.Methods
			p.renderSecondFactor(w, r, http.StatusOK, *view, "", "")
			return step, true
		}
		if step.session, err = p.startBrowserSession(w, r, t, pr); err != nil {
			p.writeAuthorizeError(w, r, az.ar, fosite.ErrServerError.WithWrap(err))
			return step, true
		}
		step.social = p.openPending(t.Name, pr.Handoff)
		return step, false
	case "2fa_resend":
		if _, err := p.auth.ResendSecondFactor(ctx, t.Name, r.PostForm.Get("challenge_id"), client.ID); err != nil {
			p.loginFailed(w, r, *view, err)
			return step, true
		}
		p.renderSecondFactor(w, r, http.StatusOK, *view, "", "A new code is on its way.")
		return step, true
	case "switch":
		// "Not you?": whoever is signed in here signs out, and the request asks again.
		if bs != nil {
			p.signOut(w, r, t.Name, client.ID)
		}
		view.Email = ""
		p.renderLogin(w, r, http.StatusOK, *view, "")
		return step, true
	case "consent":
		if bs == nil {
			p.renderLogin(w, r, http.StatusOK, *view, "")
			return step, true
		}
		if r.PostForm.Get("consent") != "allow" {
			p.writeAuthorizeError(w, r, az.ar, fosite.ErrAccessDenied.WithHint("The customer denied the request."))
			return step, true
		}
		step.consented = true
		return step, false
	}
	p.renderLogin(w, r, http.StatusBadRequest, *view, "The form was incomplete. Please try again.")
	return step, true
}

// authorize is the authorization endpoint: it validates the whole request
// (newAuthorization), signs the shopper in (or reuses the browser session), asks
// third-party consent, and sends the code back.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	az, err := p.newAuthorization(ctx, r)
	if err != nil {
		p.writeAuthorizeError(w, r, az.ar, err)
		return
	}
	ar, client, prompts := az.ar, az.client, az.prompts
	view := page{Title: "Sign in", Tenant: t.Name, ClientName: clientName(client), Action: r.URL.RequestURI()}
	if hint := r.URL.Query().Get("idp_hint"); hint != "" && r.Method == http.MethodGet && !slices.Contains(prompts, "none") {
		p.startUpstream(w, r, t, hint)
		return
	}

	bs := p.browserSession(r, t.Name)
	var social *SocialTokens // a social sign-in's upstream tokens, after its second factor
	freshLogin := false
	consented := false
	if r.Method == http.MethodPost {
		step, done := p.formStep(w, r, az, bs, &view)
		if done {
			return
		}
		if step.session != nil {
			bs, social, freshLogin = step.session, step.social, true
		}
		consented = step.consented
	}

	if az.mustLogin(bs, freshLogin, consented, p.now()) {
		if slices.Contains(prompts, "none") {
			p.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		p.renderLogin(w, r, http.StatusOK, view, "")
		return
	}
	if az.namesOther(bs) { // signed in just now, as someone else
		p.writeAuthorizeError(w, r, ar, errHintNamesOther)
		return
	}

	if !consented && !client.FirstParty {
		c, err := p.store.GetConsent(ctx, t.Name, bs.CustomerID, client.ID)
		covered := err == nil && !slices.Contains(prompts, "consent") && coversScopes(c.Scopes, ar.GetRequestedScopes())
		if !covered {
			if slices.Contains(prompts, "none") {
				p.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired)
				return
			}
			csrf, err := p.csrfToken(w, r, t.Name)
			if err != nil {
				p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
				return
			}
			view.Title = "Allow access"
			view.CSRF = csrf
			if acc, err := p.auth.Get(ctx, t.Name, bs.CustomerID); err == nil {
				view.SignedInAs = acc.Email
			} else {
				p.log.WarnContext(ctx, "consent page: read the signed-in customer", "err", err)
			}
			view.Scopes = describeScopes(ar.GetRequestedScopes())
			// The shopper has just signed in: the consent post must not ask again.
			view.Action = withoutPrompt(r.URL, "login")
			p.render(w, r, http.StatusOK, "consent.html", view)
			return
		}
	}
	if consented {
		if err := p.store.SaveConsent(ctx, &Consent{Tenant: t.Name, CustomerID: bs.CustomerID, ClientID: client.ID,
			Scopes: ar.GetRequestedScopes(), CreatedAt: p.now()}); err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	p.finishAuthorize(w, r, az, bs, social)
}

// connectorLink is a "Continue with …" button of the login page: a GET form to the
// authorization endpoint with the request's parameters and idp_hint.
type connectorLink struct {
	Name   string
	Action string      // the authorization endpoint's path
	Fields []formField // the request's query parameters and idp_hint, sorted
}

func (p *Provider) renderLogin(w http.ResponseWriter, r *http.Request, status int, view page, msg string) {
	if cs, err := p.store.ListConnectors(r.Context(), view.Tenant); err == nil {
		base, _ := url.Parse(view.Action)
		for _, c := range cs {
			if base == nil {
				break
			}
			q := base.Query()
			q.Set("idp_hint", c.ID)
			link := connectorLink{Name: c.DisplayName(), Action: base.EscapedPath()}
			keys := slices.Sorted(maps.Keys(q))
			for _, k := range keys {
				for _, v := range q[k] {
					link.Fields = append(link.Fields, formField{Name: k, Value: v})
				}
			}
			view.Connectors = append(view.Connectors, link)
		}
	}
	csrf, err := p.csrfToken(w, r, view.Tenant)
	if err != nil {
		p.renderError(w, r, http.StatusInternalServerError, page{Error: "Please try again later."})
		return
	}
	view.Title = "Sign in"
	view.CSRF = csrf
	pageLinks(identity.TenantFromContext(r.Context()), &view)
	view.Error, view.FieldError = msg, view.FieldError && msg != ""
	p.render(w, r, status, "login.html", view)
}

// deviceID returns this browser's device cookie, setting one when it has none.
func (p *Provider) deviceID(w http.ResponseWriter, r *http.Request, tenant string) string {
	if c, err := r.Cookie(deviceCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	v, err := p.randomToken(32)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: v, Path: "/oauth2/" + tenant + "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(deviceCookieAge / time.Second)})
	return v
}

// renderSecondFactor shows the second-factor form of an open challenge; the challenge
// id and its methods travel in the (CSRF-protected) form.
func (p *Provider) renderSecondFactor(w http.ResponseWriter, r *http.Request, status int, view page, msg, notice string) {
	csrf, err := p.csrfToken(w, r, view.Tenant)
	if err != nil {
		p.renderError(w, r, http.StatusInternalServerError, page{Error: "Please try again later."})
		return
	}
	if view.ChallengeID == "" {
		view.ChallengeID = r.PostForm.Get("challenge_id")
	}
	if len(view.Methods) == 0 {
		for _, m := range strings.Split(r.PostForm.Get("methods"), ",") {
			if m == twofactor.MethodEmail || m == twofactor.MethodTOTP || m == twofactor.MethodRecovery {
				view.Methods = append(view.Methods, m)
			}
		}
	}
	if len(view.Methods) == 0 {
		view.Methods = []string{twofactor.MethodEmail}
	}
	view.Method = r.PostForm.Get("method")
	if !slices.Contains(view.Methods, view.Method) {
		view.Method = view.Methods[0]
	}
	view.CanResend = slices.Contains(view.Methods, twofactor.MethodEmail)
	view.Title, view.CSRF, view.Error, view.Notice = "Verify it's you", csrf, msg, notice
	view.CodeTTL = twofactor.CodeTTL
	view.FieldError = view.FieldError && msg != ""
	p.render(w, r, status, "twofactor.html", view)
}

// loginFailed answers a failed password or second-factor step: on the second-factor
// page while its challenge can still be answered, on the login page otherwise.
func (p *Provider) loginFailed(w http.ResponseWriter, r *http.Request, view page, err error) {
	status, msg, args := loginPageError(err)
	view.ErrorArgs = args
	if status >= http.StatusInternalServerError {
		p.log.ErrorContext(r.Context(), "sign in", "err", err)
	}
	var rl *identity.RateLimitError
	if errors.As(err, &rl) {
		api.SetRetryAfter(w, rl.RetryAfter)
	} else if api.Unavailable(err) { // the database, or no password-hashing slot (identity.ErrBusy)
		api.SetRetryAfter(w, api.UnavailableRetryAfter)
	}
	var wrong *twofactor.WrongCodeError
	var cool *twofactor.CooldownError
	view.FieldError = errors.Is(err, identity.ErrInvalidCredentials) || errors.As(err, &wrong) || errors.Is(err, twofactor.ErrCodeExpired)
	switch {
	case errors.As(err, &wrong), errors.As(err, &cool), errors.Is(err, twofactor.ErrCodeExpired),
		errors.Is(err, twofactor.ErrMethod), errors.Is(err, twofactor.ErrNoAttempts) && strings.Contains(r.PostForm.Get("methods"), twofactor.MethodEmail):
		p.renderSecondFactor(w, r, status, view, msg, "")
	default:
		p.renderLogin(w, r, status, view, msg)
	}
}

// loginPageError turns an Authenticator failure into what the login page says. Unknown
// e-mail and wrong password read the same.
func loginPageError(err error) (int, string, []any) {
	var wrong *twofactor.WrongCodeError
	var cool *twofactor.CooldownError
	switch {
	case errors.As(err, &wrong) && wrong.Replayed:
		return http.StatusUnauthorized, "This code was already used. Wait for the next one.", nil
	case errors.As(err, &wrong):
		return http.StatusUnauthorized, "The code is wrong. %d tries left.", []any{wrong.Remaining}
	case errors.Is(err, twofactor.ErrCodeExpired):
		return http.StatusUnauthorized, "The code has expired. Send a new one.", nil
	case errors.Is(err, twofactor.ErrNoAttempts):
		return http.StatusUnauthorized, "Too many wrong codes. Send a new code, or sign in again.", nil
	case errors.Is(err, twofactor.ErrChallenge), errors.Is(err, twofactor.ErrTooManyCodes):
		return http.StatusUnauthorized, "This sign-in has expired. Please sign in again.", nil
	case errors.Is(err, twofactor.ErrMethod):
		return http.StatusBadRequest, "This method is not available for your account.", nil
	case errors.As(err, &cool):
		return http.StatusTooManyRequests, "A code was sent moments ago. Wait %s before asking for another.", []any{cool.RetryAfter.Round(time.Second)}
	}
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials):
		return http.StatusUnauthorized, "The e-mail address or password is wrong.", nil
	case errors.Is(err, identity.ErrAccountLocked):
		return http.StatusForbidden, "This account is locked after too many failed attempts. Please try again later.", nil
	case errors.Is(err, identity.ErrAccountInactive):
		return http.StatusForbidden, "This account is not active yet. Please use the link in your e-mail.", nil
	case errors.Is(err, identity.ErrPasswordResetRequired):
		return http.StatusForbidden, "Your password must be reset before you can sign in. We have sent a link to choose a new one to your e-mail address.", nil
	case errors.Is(err, identity.ErrRateLimited):
		return http.StatusTooManyRequests, "Too many attempts. Please wait a moment and try again.", nil
	}
	if errors.Is(err, identity.ErrUnavailable) {
		return http.StatusServiceUnavailable, "Signing in is temporarily unavailable. Please try again in a moment.", nil
	}
	return http.StatusInternalServerError, "Signing in failed. Please try again later.", nil
}

// finishAuthorize issues the code; upstream tokens of a social sign-in (social, may be
// nil) wait, sealed, for the code's exchange (socialLogin).
func (p *Provider) finishAuthorize(w http.ResponseWriter, r *http.Request, az *authorization, bs *BrowserSession, social *SocialTokens) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	ar := az.ar
	sub := strconv.FormatInt(bs.CustomerID, 10)
	if az.namesOther(bs) {
		p.writeAuthorizeError(w, r, ar, errHintNamesOther)
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	extra := map[string]any{"sid": bs.SessionID}
	if p.claims != nil {
		claims, err := p.claims.Claims(ctx, t.Name, bs.CustomerID, ar.GetGrantedScopes())
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
		for k, v := range claims {
			extra[k] = v
		}
	}
	sess := NewSession()
	sess.Tenant = t.Name
	sess.Subject = sub
	sess.SessionID = bs.SessionID
	sess.AMR = bs.AMR
	sess.DeviceID = bs.DeviceID
	if c, ok := ar.GetClient().(*Client); !ok || !c.FirstParty {
		sess.ThirdParty = true
	}
	now := p.now().UTC()
	sess.Claims = &jwt.IDTokenClaims{
		Subject:                             sub,
		AuthTime:                            bs.AuthTime,
		RequestedAt:                         now.Truncate(time.Second),
		AuthenticationMethodsReferences:     bs.AMR,
		AuthenticationContextClassReference: acrFor(bs.AMR),
		Extra:                               extra,
	}
	if sess.Claims.RequestedAt.Before(bs.AuthTime) {
		sess.Claims.RequestedAt = bs.AuthTime
	}
	resp, err := p.fosite.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.writeAuthorizeError(w, r, ar, err)
		return
	}
	if social != nil {
		sealed, err := p.sealHandoff(t.Name, ar.GetID(), social)
		if err == nil {
			err = p.store.PutSocialHandoff(ctx, t.Name, ar.GetID(), sealed, now.Add(time.Duration(t.Settings.CodeTTL)))
		}
		if err != nil {
			p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
			return
		}
	}
	p.writeAuthorizeResponse(w, r, ar, resp)
}

func clientName(c *Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func coversScopes(granted, requested []string) bool {
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
}

// withoutPrompt returns the request URI with one prompt value removed.
func withoutPrompt(u *url.URL, drop string) string {
	q := u.Query()
	var keep []string
	for _, v := range strings.Fields(q.Get("prompt")) {
		if v != drop {
			keep = append(keep, v)
		}
	}
	if len(keep) == 0 {
		q.Del("prompt")
	} else {
		q.Set("prompt", strings.Join(keep, " "))
	}
	c := *u
	c.RawQuery = q.Encode()
	return c.RequestURI()
}
