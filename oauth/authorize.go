package oauth

// The authorization request, before and after the pages of login.go: it is validated
// whole before any page is shown, and its answer (a code or an error) reaches the client
// in the response mode the client asked for.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// authorization is an authorization request that passed every check.
type authorization struct {
	ar      fosite.AuthorizeRequester // set even when the request failed, for the error's delivery
	client  *Client
	prompts []string
	maxAge  int64 // seconds; -1 when the request has no max_age
	// hintSubject is the subject of the request's id_token_hint ("" without one): the
	// shopper the client expects.
	hintSubject string
}

// newAuthorization parses and validates an authorization request: first fosite's own
// checks (client, registered redirect URI, response type and mode, scopes, audience,
// state), then checkAuthorization. A request that fails is answered before any page
// (login, consent, second factor, upstream provider) is shown; one that passes cannot
// fail later for anything it says.
func (p *Provider) newAuthorization(ctx context.Context, r *http.Request) (*authorization, error) {
	ar, err := p.fosite.NewAuthorizeRequest(ctx, r)
	az := &authorization{ar: ar, maxAge: -1}
	if err != nil {
		return az, err
	}
	c, ok := ar.GetClient().(*Client)
	if !ok {
		return az, fosite.ErrServerError.WithDebugf("unexpected client type %T", ar.GetClient())
	}
	az.client = c
	if err := p.checkAuthorization(ctx, az); err != nil {
		return az, err
	}
	return az, nil
}

// namesOther reports whether the request's id_token_hint names another customer than the
// one signed in with bs.
func (az *authorization) namesOther(bs *BrowserSession) bool {
	return az.hintSubject != "" && az.hintSubject != strconv.FormatInt(bs.CustomerID, 10)
}

// mustLogin reports whether the shopper has to sign in (again) before the request goes
// on: nobody is signed in in this browser, or a session that did not start with this
// request is older than max_age, is asked to sign in again (prompt=login, unless this
// is the consent post that follows that sign-in), or is another shopper than the
// client names (login_hint, id_token_hint).
func (az *authorization) mustLogin(bs *BrowserSession, fresh, consented bool, now time.Time) bool {
	switch {
	case bs == nil:
		return true
	case fresh:
		return false
	case slices.Contains(az.prompts, "login") && !consented:
		return true
	case az.maxAge >= 0 && now.After(bs.AuthTime.Add(time.Duration(az.maxAge)*time.Second)):
		return true
	}
	// The client expects another shopper than the one signed in here.
	return az.namesOther(bs)
}

// errHintNamesOther: the shopper signed in as someone else than the client expects.
var errHintNamesOther = fosite.ErrLoginRequired.WithHint("The signed-in customer is not the one the id_token_hint names.")

// pkceChallenge is an S256 code challenge: the unpadded base64url SHA-256 of the
// verifier (RFC 7636 §4.2), always 43 characters.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// checkAuthorization makes, before the shopper signs in, every check fosite would
// otherwise make only when it issues the code or exchanges it (the authorization code
// grant for the tenant and the client, the response type, the redirect URI's scheme,
// PKCE, the nonce's length, prompt, max_age and id_token_hint), so that no shopper signs
// in, consents or answers a second factor for a request that then fails.
func (p *Provider) checkAuthorization(ctx context.Context, az *authorization) error {
	t := identity.TenantFromContext(ctx)
	ar, c := az.ar, az.client
	form := ar.GetRequestForm()
	switch {
	case !t.Settings.GrantAllowed(identity.GrantAuthorizationCode):
		return fosite.ErrUnauthorizedClient.WithHint("The authorization code grant is not enabled for this tenant.")
	case !c.GetGrantTypes().Has(identity.GrantAuthorizationCode):
		return fosite.ErrUnauthorizedClient.WithHint("The client is not allowed to use the authorization code grant.")
	case !ar.GetResponseTypes().ExactOne("code"):
		return fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	case !secureRedirect(ctx, ar.GetRedirectURI()):
		return fosite.ErrInvalidRequest.WithHint("The redirect URI must use https, http on a loopback host, or a private-use scheme (com.example.app:/cb).")
	case ar.GetResponseMode() == fosite.ResponseModeFormPost && !formPostable(ar.GetRedirectURI()):
		return fosite.ErrInvalidRequest.WithHint("response_mode=form_post needs an https redirect URI (http on a loopback host).")
	}
	if err := checkPKCE(c, form); err != nil {
		return err
	}
	if n, min := form.Get("nonce"), p.fconf.GetMinParameterEntropy(ctx); n != "" && len(n) < min {
		return fosite.ErrInvalidRequest.WithHintf("The nonce must be at least %d characters long.", min)
	}
	az.prompts = fosite.RemoveEmpty(strings.Split(form.Get("prompt"), " "))
	for _, v := range az.prompts {
		if !slices.Contains(p.fconf.GetAllowedPrompts(ctx), v) {
			return fosite.ErrInvalidRequest.WithHintf("prompt=%q is not supported: use none, login or consent.", v)
		}
	}
	if slices.Contains(az.prompts, "none") && len(az.prompts) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other values.")
	}
	if raw := form.Get("max_age"); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v < 0 {
			return fosite.ErrInvalidRequest.WithHint("max_age must be a whole number of seconds, 0 or more.")
		}
		az.maxAge = v
	}
	if raw := form.Get("id_token_hint"); raw != "" {
		sub, err := p.idTokenHintSubject(ctx, t, raw)
		if errors.Is(err, errHintNotIDToken) {
			return fosite.ErrInvalidRequest.WithHint("The id_token_hint is not an ID token of this tenant.").WithWrap(err)
		}
		if err != nil {
			return fosite.ErrTemporarilyUnavailable.WithHint("The id_token_hint could not be checked; try again.").WithWrap(err)
		}
		az.hintSubject = sub
		// Custodian enforces the hint itself (authorize, finishAuthorize). fosite would
		// decode it again with the current key only, and refuse a hint signed before a
		// key rotation after the shopper has signed in.
		form.Del("id_token_hint")
	}
	return nil
}

// checkPKCE requires S256 PKCE from public clients and refuses the plain method from
// everyone, and a challenge no S256 verifier can match.
func checkPKCE(c *Client, form url.Values) error {
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && c.Public:
		return fosite.ErrInvalidRequest.WithHint("Public clients must use PKCE with code_challenge_method=S256.")
	case challenge != "" && method != "S256":
		return fosite.ErrInvalidRequest.WithHint("Only code_challenge_method=S256 is supported.")
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		return fosite.ErrInvalidRequest.WithHint("The code_challenge must be the base64url SHA-256 of the code verifier (43 characters).")
	}
	return nil
}

// formPostable reports whether a browser can post a form to the redirect URI.
func formPostable(u *url.URL) bool {
	return u != nil && (u.Scheme == "https" || u.Scheme == "http" && identity.IsLoopbackHost(u.Hostname()))
}

// idTokenHintSubject returns the subject of an ID token this tenant issued, by the
// same rule as the logout hint (parseIDTokenHint): signed with one of its live keys (so
// a rotation does not void it), issued by it, typed JWT, for one of its clients. An
// expired ID token is still a good hint (OpenID Connect Core §3.1.2.1).
func (p *Provider) idTokenHintSubject(ctx context.Context, t *identity.Tenant, raw string) (string, error) {
	h, err := p.parseIDTokenHint(ctx, t, raw)
	if err != nil {
		return "", err
	}
	return h.Subject, nil
}

// registeredAuthorizeErrors are the error codes an authorization endpoint may answer
// (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6). fosite also has codes of its own
// (invalid_state, insufficient_entropy, unsupported_response_mode, …) that clients do
// not know.
var registeredAuthorizeErrors = []string{
	"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
	"invalid_scope", "server_error", "temporarily_unavailable",
	"interaction_required", "login_required", "account_selection_required", "consent_required",
	"invalid_request_uri", "invalid_request_object", "request_not_supported",
	"request_uri_not_supported", "registration_not_supported",
}

// authorizeError is err as the authorization endpoint answers it: a registered code,
// keeping fosite's description (fosite's own codes become invalid_request, or
// server_error when they are the server's fault).
func authorizeError(err error) *fosite.RFC6749Error {
	if api.Unavailable(err) { // a storage failure is no verdict on the request
		return fosite.ErrTemporarilyUnavailable.WithHint("Try again in a moment.").WithWrap(err)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if slices.Contains(registeredAuthorizeErrors, rfc.ErrorField) {
		return rfc
	}
	out := *rfc
	out.ErrorField, out.CodeField = "invalid_request", http.StatusBadRequest
	if rfc.CodeField >= http.StatusInternalServerError {
		out.ErrorField, out.CodeField = "server_error", http.StatusInternalServerError
	}
	return &out
}

// responseMode is how an answer to the request reaches the client: as asked when
// Custodian can answer that way, in the query otherwise (an unsupported response mode,
// or form_post to a redirect URI a browser cannot post to).
func responseMode(ar fosite.AuthorizeRequester) fosite.ResponseModeType {
	switch m := ar.GetResponseMode(); {
	case m == fosite.ResponseModeFormPost && formPostable(ar.GetRedirectURI()):
		return m
	default:
		return fosite.ResponseModeQuery
	}
}

// writeAuthorizeError is the one place authorization errors are answered: to the client
// (redirect or form post) when the redirect URI is one the client registered, and
// otherwise on a page: never to an unregistered URI. The code is always a registered
// one.
func (p *Provider) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := authorizeError(err)
	if rfc.CodeField >= http.StatusInternalServerError {
		p.log.ErrorContext(r.Context(), "authorize", "err", err, "debug", rfc.DebugField)
	}
	if ar == nil || !ar.IsRedirectURIValid() {
		view := page{Code: rfc.ErrorField, Error: rfc.GetDescription()}
		if ar != nil {
			if c, ok := ar.GetClient().(*Client); ok {
				view.backTo(c)
			}
		}
		p.renderError(w, r, http.StatusBadRequest, view)
		return
	}
	switch responseMode(ar) {
	case fosite.ResponseModeFormPost:
		v := rfc.WithExposeDebug(false).ToValues()
		v.Set("state", ar.GetState())
		p.formPost(w, r, ar, v, rfc.GetDescription())
	default:
		if req, ok := ar.(*fosite.AuthorizeRequest); ok {
			req.ResponseMode = fosite.ResponseModeQuery
		}
		p.fosite.WriteAuthorizeError(r.Context(), w, ar, rfc)
	}
}

// writeAuthorizeResponse sends the code to the client in the request's response mode.
func (p *Provider) writeAuthorizeResponse(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, resp fosite.AuthorizeResponder) {
	if responseMode(ar) == fosite.ResponseModeFormPost {
		p.formPost(w, r, ar, resp.GetParameters(), "")
		return
	}
	p.fosite.WriteAuthorizeResponse(r.Context(), w, ar, resp)
}

// autoSubmit is the only script of Custodian's pages: it submits the form_post page's
// form. The page's Content-Security-Policy allows this exact script by its hash, and
// the form has a Continue button for browsers without JavaScript.
const autoSubmit = `document.forms[0].submit();`

// autoSubmitSource is the CSP source expression of autoSubmit.
var autoSubmitSource = func() string {
	sum := sha256.Sum256([]byte(autoSubmit))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// formField is a hidden field of the form_post page.
type formField struct{ Name, Value string }

// formPost answers in the OAuth 2.0 Form Post Response Mode: a page whose form posts the
// parameters to the redirect URI, submitted by autoSubmit. The page keeps the strict CSP
// of every page (no inline script but autoSubmit, by hash). It sets no form-action:
// browsers apply form-action to the redirects that follow a form's submission too, and a
// client's callback usually redirects on, often to another origin; the form's target is
// the registered redirect URI and its fields are escaped, so there is nothing for
// form-action to narrow.
func (p *Provider) formPost(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, params url.Values, errMsg string) {
	view := page{Title: "Continue", Action: ar.GetRedirectURI().String(), Error: errMsg, Script: template.JS(autoSubmit)}
	if c, ok := ar.GetClient().(*Client); ok {
		view.ClientName = clientName(c)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range params[k] {
			view.Fields = append(view.Fields, formField{Name: k, Value: v})
		}
	}
	p.localize(r, &view)
	SetPageHeaders(w.Header())
	w.Header().Set("Content-Security-Policy", pageCSPFor(identity.TenantFromContext(r.Context()))+"; script-src "+autoSubmitSource)
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := p.tmpl.ExecuteTemplate(w, "form_post.html", view); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", "form_post.html", "err", err)
	}
}
