package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/custodian-id/custodian/identity"
)

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

// logoutRequest is an RP-initiated logout request whose parameters were checked.
type logoutRequest struct {
	hint     *idTokenHint // nil without an id_token_hint
	clientID string       // the hint's audience, or client_id
	redirect string       // a registered post_logout_redirect_uri, or ""
}

// readLogout checks a logout request's id_token_hint, client_id and
// post_logout_redirect_uri. A refusal is nil with the status and message of the error
// page.
func (p *Provider) readLogout(r *http.Request, t *identity.Tenant) (*logoutRequest, int, string) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return nil, http.StatusBadRequest, "The sign-out request is malformed."
	}
	var hint *idTokenHint
	if raw := r.Form.Get("id_token_hint"); raw != "" {
		h, err := p.parseIDTokenHint(ctx, t, raw)
		if errors.Is(err, errHintNotIDToken) {
			return nil, http.StatusBadRequest, "The id_token_hint is not valid."
		}
		if err != nil {
			p.log.ErrorContext(ctx, "logout: read id_token_hint", "err", err)
			return nil, http.StatusServiceUnavailable, "Please try again later."
		}
		hint = h
	}
	clientID := r.Form.Get("client_id")
	if hint != nil {
		if clientID != "" && !slices.Contains(hint.Audience, clientID) {
			return nil, http.StatusBadRequest, "client_id does not match the id_token_hint."
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
			return nil, http.StatusBadRequest, "post_logout_redirect_uri is not registered for this client."
		}
	}
	return &logoutRequest{hint: hint, clientID: clientID, redirect: redirect}, 0, ""
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
	lr, status, msg := p.readLogout(r, t)
	if lr == nil {
		p.renderError(w, r, status, page{Error: msg})
		return
	}
	hint, clientID, redirect := lr.hint, lr.clientID, lr.redirect
	bs := p.browserSession(r, t.Name)
	hintIsBrowser := hint != nil && bs != nil && hint.Subject == strconv.FormatInt(bs.CustomerID, 10)
	view := page{Title: "Sign out", Tenant: t.Name, Action: r.URL.RequestURI()}
	if !hintIsBrowser {
		if r.Method != http.MethodPost {
			csrf, err := p.csrfToken(w, r, t.Name)
			if err != nil {
				p.renderError(w, r, http.StatusInternalServerError, page{Error: "Please try again later."})
				return
			}
			view.CSRF = csrf
			p.render(w, r, http.StatusOK, "logout.html", view)
			return
		}
		if !p.checkCSRF(r, t.Name) {
			p.renderError(w, r, http.StatusForbidden, page{Error: "This form has expired. Please try again."})
			return
		}
	}
	ended := p.endBrowserSession(w, r, t.Name)
	p.revokeEnded(ctx, ended, hint, hintIsBrowser)
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
	if clientID != "" {
		// The way back: the client's site, when Custodian knows a safe address of it.
		if c, err := p.store.GetTenantClient(ctx, t.Name, clientID); err == nil {
			view.backTo(c)
		}
	}
	p.render(w, r, http.StatusOK, "logout.html", view)
}

// signOut ends this browser's session, revokes the tokens of its shopper session and
// records the logout ("Not you?" on the consent page).
func (p *Provider) signOut(w http.ResponseWriter, r *http.Request, tenant, clientID string) {
	ended := p.endBrowserSession(w, r, tenant)
	p.revokeEnded(r.Context(), ended, nil, false)
	p.recordEvent(r.Context(), identity.EventLogout, ended, clientID)
}

// revokeEnded revokes the tokens of an ended browser session and, by the rule of
// logout, of the hint's session.
func (p *Provider) revokeEnded(ctx context.Context, ended *BrowserSession, hint *idTokenHint, hintIsBrowser bool) {
	t := identity.TenantFromContext(ctx)
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
