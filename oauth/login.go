package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// The browser flow lives here as one piece: login → consent → redirect, and logout.

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

// render writes an HTML page with headers that keep it out of caches and frames.
func (p *Provider) render(w http.ResponseWriter, status int, name string, data page) {
	SetPageHeaders(w.Header())
	w.WriteHeader(status)
	if err := p.tmpl.ExecuteTemplate(w, name, data); err != nil {
		p.log.Error("render page", "page", name, "err", err)
	}
}

func (p *Provider) randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// csrfToken returns the form token of the login pages for this browser.
func (p *Provider) csrfToken(w http.ResponseWriter, r *http.Request, tenant string) (string, error) {
	return p.FormCSRF(w, r, tenant, "/oauth2/"+tenant+"/")
}

// FormCSRF returns the form token for this browser of a page under path, setting the
// CSRF cookie (scoped to path) when the browser has none. The token is an HMAC of the
// cookie (double-submit, signed), so a cross-site page can neither read nor forge it.
// Every HTML form Custodian serves uses it; CheckFormCSRF checks the post.
func (p *Provider) FormCSRF(w http.ResponseWriter, r *http.Request, tenant, path string) (string, error) {
	var v string
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		v = c.Value
	} else {
		nv, err := p.randomToken(32)
		if err != nil {
			return "", err
		}
		v = nv
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: path,
			HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode})
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	return p.csrfFor(v, tenant), nil
}

func (p *Provider) csrfFor(cookie, tenant string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(tenant + "|" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Provider) checkCSRF(r *http.Request, tenant string) bool { return p.CheckFormCSRF(r, tenant) }

// CheckFormCSRF reports whether a parsed form post carries the csrf_token of
// FormCSRF for the browser's cookie.
func (p *Provider) CheckFormCSRF(r *http.Request, tenant string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	want := p.csrfFor(c.Value, tenant)
	return hmac.Equal([]byte(want), []byte(r.PostForm.Get("csrf_token")))
}

func hashCookie(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// browserSession returns the shopper signed in at this tenant in this browser, or nil.
func (p *Provider) browserSession(r *http.Request, tenant string) *BrowserSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	bs, err := p.store.GetBrowserSession(r.Context(), tenant, hashCookie(c.Value))
	if err != nil {
		if !errors.Is(err, identity.ErrNotFound) {
			p.log.ErrorContext(r.Context(), "load browser session", "err", err)
		}
		return nil
	}
	return bs
}

func (p *Provider) startBrowserSession(w http.ResponseWriter, r *http.Request, t *identity.Tenant, pr *customer.Principal) (*BrowserSession, error) {
	v, err := p.randomToken(32)
	if err != nil {
		return nil, err
	}
	now := p.now().UTC()
	bs := &BrowserSession{
		IDHash:     hashCookie(v),
		Tenant:     t.Name,
		CustomerID: pr.CustomerID,
		SessionID:  uuid.NewString(),
		AMR:        pr.AMR,
		DeviceID:   pr.DeviceID,
		AuthTime:   now.Truncate(time.Second),
		ExpiresAt:  now.Add(time.Duration(t.Settings.SessionTTL)),
		CreatedAt:  now,
	}
	// A sign-in replaces whatever session this browser had (session fixation).
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = p.store.DeleteBrowserSession(r.Context(), t.Name, hashCookie(old.Value))
	}
	if err := p.store.CreateBrowserSession(r.Context(), bs); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/oauth2/" + t.Name + "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, Expires: bs.ExpiresAt})
	return bs, nil
}

func (p *Provider) endBrowserSession(w http.ResponseWriter, r *http.Request, tenant string) *BrowserSession {
	bs := p.browserSession(r, tenant)
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = p.store.DeleteBrowserSession(r.Context(), tenant, hashCookie(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/oauth2/" + tenant + "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return bs
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
		if !p.checkCSRF(r, t.Name) {
			p.renderLogin(w, r, http.StatusForbidden, view, "This form has expired. Please try again.")
			return
		}
		switch r.PostForm.Get("step") {
		case "password", "2fa":
			var pr *customer.Principal
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
				p.loginFailed(w, r, view, err)
				return
			}
			if lt := r.PostForm.Get("link_token"); lt != "" && r.PostForm.Get("step") == "password" {
				if err := p.linkAfterPassword(ctx, t, lt, pr); err != nil {
					p.log.WarnContext(ctx, "link upstream identity", "err", err)
				}
			}
			if pr.Challenge != nil {
				view.ChallengeID, view.Methods = pr.Challenge.ID, pr.Challenge.Methods
				p.renderSecondFactor(w, r, http.StatusOK, view, "", "")
				return
			}
			if bs, err = p.startBrowserSession(w, r, t, pr); err != nil {
				p.writeAuthorizeError(w, r, ar, fosite.ErrServerError.WithWrap(err))
				return
			}
			social = p.openPending(t.Name, pr.Handoff)
			freshLogin = true
		case "2fa_resend":
			if _, err := p.auth.ResendSecondFactor(ctx, t.Name, r.PostForm.Get("challenge_id"), client.ID); err != nil {
				p.loginFailed(w, r, view, err)
				return
			}
			p.renderSecondFactor(w, r, http.StatusOK, view, "", "A new code is on its way.")
			return
		case "consent":
			if bs == nil {
				p.renderLogin(w, r, http.StatusOK, view, "")
				return
			}
			if r.PostForm.Get("consent") != "allow" {
				p.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The customer denied the request."))
				return
			}
			consented = true
		default:
			p.renderLogin(w, r, http.StatusBadRequest, view, "The form was incomplete. Please try again.")
			return
		}
	}

	mustLogin := bs == nil
	if !freshLogin && bs != nil {
		if slices.Contains(prompts, "login") && !consented {
			mustLogin = true
		}
		if az.maxAge >= 0 && p.now().After(bs.AuthTime.Add(time.Duration(az.maxAge)*time.Second)) {
			mustLogin = true
		}
		// The client expects another shopper than the one signed in here.
		if az.namesOther(bs) {
			mustLogin = true
		}
	}
	if mustLogin {
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
			view.Scopes = describeScopes(ar.GetRequestedScopes())
			// The shopper has just signed in: the consent post must not ask again.
			view.Action = withoutPrompt(r.URL, "login")
			p.render(w, http.StatusOK, "consent.html", view)
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

// connectorLink is a "Continue with …" link of the login page.
type connectorLink struct {
	Name string
	URL  string
}

func (p *Provider) renderLogin(w http.ResponseWriter, r *http.Request, status int, view page, msg string) {
	if cs, err := p.store.ListConnectors(r.Context(), view.Tenant); err == nil {
		base, _ := url.Parse(view.Action)
		for _, c := range cs {
			if base == nil {
				break
			}
			u := *base
			q := u.Query()
			q.Set("idp_hint", c.ID)
			u.RawQuery = q.Encode()
			view.Connectors = append(view.Connectors, connectorLink{Name: c.DisplayName(), URL: u.RequestURI()})
		}
	}
	csrf, err := p.csrfToken(w, r, view.Tenant)
	if err != nil {
		p.render(w, http.StatusInternalServerError, "error.html", page{Title: "Error", Error: "Please try again later."})
		return
	}
	view.Title = "Sign in"
	view.CSRF = csrf
	view.Error = msg
	p.render(w, status, "login.html", view)
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
		p.render(w, http.StatusInternalServerError, "error.html", page{Title: "Error", Error: "Please try again later."})
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
	p.render(w, status, "twofactor.html", view)
}

// loginFailed answers a failed password or second-factor step: on the second-factor
// page while its challenge can still be answered, on the login page otherwise.
func (p *Provider) loginFailed(w http.ResponseWriter, r *http.Request, view page, err error) {
	status, msg := loginPageError(err)
	if status == http.StatusInternalServerError {
		p.log.ErrorContext(r.Context(), "sign in", "err", err)
	}
	var wrong *twofactor.WrongCodeError
	var cool *twofactor.CooldownError
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
func loginPageError(err error) (int, string) {
	var wrong *twofactor.WrongCodeError
	var cool *twofactor.CooldownError
	switch {
	case errors.As(err, &wrong) && wrong.Replayed:
		return http.StatusUnauthorized, "This code was already used. Wait for the next one."
	case errors.As(err, &wrong):
		return http.StatusUnauthorized, fmt.Sprintf("The code is wrong. %d tries left.", wrong.Remaining)
	case errors.Is(err, twofactor.ErrCodeExpired):
		return http.StatusUnauthorized, "The code has expired. Send a new one."
	case errors.Is(err, twofactor.ErrNoAttempts):
		return http.StatusUnauthorized, "Too many wrong codes. Send a new code, or sign in again."
	case errors.Is(err, twofactor.ErrChallenge), errors.Is(err, twofactor.ErrTooManyCodes):
		return http.StatusUnauthorized, "This sign-in has expired. Please sign in again."
	case errors.Is(err, twofactor.ErrMethod):
		return http.StatusBadRequest, "This method is not available for your account."
	case errors.As(err, &cool):
		return http.StatusTooManyRequests, fmt.Sprintf("A code was sent moments ago. Wait %s before asking for another.", cool.RetryAfter.Round(time.Second))
	}
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials):
		return http.StatusUnauthorized, "The e-mail address or password is wrong."
	case errors.Is(err, identity.ErrAccountLocked):
		return http.StatusForbidden, "This account is locked after too many failed attempts. Please try again later."
	case errors.Is(err, identity.ErrAccountInactive):
		return http.StatusForbidden, "This account is not active yet. Please use the link in your e-mail."
	case errors.Is(err, identity.ErrRateLimited):
		return http.StatusTooManyRequests, "Too many attempts. Please wait a moment and try again."
	}
	return http.StatusInternalServerError, "Signing in failed. Please try again later."
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

// idTokenHint is what logout reads from an id_token_hint. Tenant and ClientID are
// claims of Custodian's other JWTs (access tokens, the saas_token), never of an ID
// token: their presence marks a token that is not one.
type idTokenHint struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	SID      string   `json:"sid"`
	Tenant   string   `json:"tenant"`
	ClientID string   `json:"client_id"`
}

// audience reads the aud claim in either of its JSON forms.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = []string{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// errHintNotIDToken: an id_token_hint that is not an ID token of the tenant.
var errHintNotIDToken = errors.New("the id_token_hint is not an ID token of this tenant")

// parseIDTokenHint accepts only an ID token of the tenant as a logout hint: signed
// with one of its keys, issued by it, typed JWT (not an at+jwt access token), for one
// of its clients, with a subject, and without the claims of Custodian's other JWTs. An
// expired ID token is still a hint (RP-Initiated Logout §2). A storage failure is not
// errHintNotIDToken.
func (p *Provider) parseIDTokenHint(ctx context.Context, t *identity.Tenant, raw string) (*idTokenHint, error) {
	var h idTokenHint
	hdr, err := p.keys.Verify(ctx, t.Name, raw, &h)
	if errors.Is(err, identity.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", errHintNotIDToken, err)
	}
	if err != nil {
		return nil, err
	}
	typ, _ := hdr.ExtraHeaders["typ"].(string)
	if !strings.EqualFold(typ, "JWT") || h.Issuer != p.Issuer(t.Name) || h.Subject == "" || len(h.Audience) == 0 ||
		h.Tenant != "" || h.ClientID != "" {
		return nil, errHintNotIDToken
	}
	if _, err := p.store.GetTenantClient(ctx, t.Name, h.Audience[0]); errors.Is(err, identity.ErrNotFound) {
		return nil, fmt.Errorf("%w: no client %q", errHintNotIDToken, h.Audience[0])
	} else if err != nil {
		return nil, err
	}
	return &h, nil
}

// logout implements OpenID Connect RP-Initiated Logout. It ends this browser's
// session at once only when an id_token_hint names the customer signed in here; in
// every other case it asks first (a CSRF-protected confirmation), so a cross-site
// link cannot sign anyone out. The tokens of the ended session are revoked, and so
// are those of the hint's session (its sid) unless another customer is signed in in
// this browser: the hint is then about someone else, not a reason to end their
// session from here.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, "error.html", page{Title: "Error", Error: "The sign-out request is malformed."})
		return
	}
	var hint *idTokenHint
	if raw := r.Form.Get("id_token_hint"); raw != "" {
		h, err := p.parseIDTokenHint(ctx, t, raw)
		if errors.Is(err, errHintNotIDToken) {
			p.render(w, http.StatusBadRequest, "error.html", page{Title: "Error", Error: "The id_token_hint is not valid."})
			return
		}
		if err != nil {
			p.log.ErrorContext(ctx, "logout: read id_token_hint", "err", err)
			p.render(w, http.StatusServiceUnavailable, "error.html", page{Title: "Error", Error: "Please try again later."})
			return
		}
		hint = h
	}
	clientID := r.Form.Get("client_id")
	if hint != nil {
		if clientID != "" && !slices.Contains(hint.Audience, clientID) {
			p.render(w, http.StatusBadRequest, "error.html", page{Title: "Error", Error: "client_id does not match the id_token_hint."})
			return
		}
		clientID = hint.Audience[0]
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if redirect != "" {
		ok := false
		if clientID != "" {
			if c, err := p.store.GetTenantClient(ctx, t.Name, clientID); err == nil {
				ok = slices.Contains(c.PostLogoutRedirectURIs, redirect)
			}
		}
		if !ok {
			p.render(w, http.StatusBadRequest, "error.html", page{Title: "Error", Error: "post_logout_redirect_uri is not registered for this client."})
			return
		}
	}
	bs := p.browserSession(r, t.Name)
	hintIsBrowser := hint != nil && bs != nil && hint.Subject == strconv.FormatInt(bs.CustomerID, 10)
	view := page{Title: "Sign out", Tenant: t.Name, Action: r.URL.RequestURI()}
	if !hintIsBrowser {
		if r.Method != http.MethodPost {
			csrf, err := p.csrfToken(w, r, t.Name)
			if err != nil {
				p.render(w, http.StatusInternalServerError, "error.html", page{Title: "Error", Error: "Please try again later."})
				return
			}
			view.CSRF = csrf
			p.render(w, http.StatusOK, "logout.html", view)
			return
		}
		if !p.checkCSRF(r, t.Name) {
			p.render(w, http.StatusForbidden, "error.html", page{Title: "Error", Error: "This form has expired. Please try again."})
			return
		}
	}
	ended := p.endBrowserSession(w, r, t.Name)
	sids := []string{}
	if ended != nil {
		sids = append(sids, ended.SessionID)
	}
	// The hint's session ends too when it is this browser's customer's, or when no
	// one is signed in here (the shopper confirmed, holding the RP's ID token).
	if hint != nil && hint.SID != "" && (ended == nil || hintIsBrowser) && !slices.Contains(sids, hint.SID) {
		sids = append(sids, hint.SID)
	}
	for _, sid := range sids {
		if err := p.store.RevokeSession(ctx, t.Name, sid); err != nil {
			p.log.ErrorContext(ctx, "revoke session on logout", "err", err)
		}
	}
	p.recordEvent(ctx, identity.EventLogout, ended, clientID)
	if redirect != "" {
		u, _ := url.Parse(redirect)
		if st := r.Form.Get("state"); st != "" {
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
		}
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	view.Done = true
	p.render(w, http.StatusOK, "logout.html", view)
}

func (p *Provider) recordEvent(ctx context.Context, kind string, bs *BrowserSession, clientID string) {
	t := identity.TenantFromContext(ctx)
	meta := identity.RequestMetaFromContext(ctx)
	e := &identity.SecurityEvent{Tenant: t.Name, Kind: kind, ClientID: clientID, IP: meta.IP, UserAgent: meta.UserAgent, CreatedAt: p.now()}
	if bs != nil {
		id := bs.CustomerID
		e.CustomerID = &id
		e.Subject = strconv.FormatInt(id, 10)
		e.Detail = map[string]any{"session_id": bs.SessionID}
	}
	if err := p.store.RecordEvent(ctx, e); err != nil {
		p.log.ErrorContext(ctx, "record security event", "kind", kind, "err", err)
	}
}
