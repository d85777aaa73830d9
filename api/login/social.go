package login

// Social login in the customer login API: the code exchange of socialLogin, and the
// shopper's linked providers.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// socialLoginView is the login response plus the upstream's tokens.
type socialLoginView struct {
	loginTokenView
	SocialAccessToken string `json:"social_access_token,omitempty"`
	SocialIDToken     string `json:"social_id_token,omitempty"`
}

// socialLogin exchanges a code that /oauth2/{tenant}/auth issued to the storefront's
// public client: POST /customer/{tenant}/socialLogin?code=&redirect_uri=&code_verifier=.
// The client is named by client_id or by the storefront's anonymous Bearer token. With
// that token the customer's tokens join its shopper session (the cart); a session-id
// header may only repeat that session: a caller cannot choose a session it does not
// own. Without the token the tokens keep the sign-in's own session.
func (a *API) socialLogin(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	v := &identity.Validator{}
	for _, name := range []string{"code", "redirect_uri", "code_verifier"} {
		v.Required(name, q.Get(name))
	}
	if err := v.Err(); err != nil {
		return err
	}
	clientID := q.Get("client_id")
	var cart *oauth.AccessInfo
	if loginBearer(r) != "" {
		var err error
		if cart, err = a.anonymousCaller(c.ctx, r); err != nil {
			return err
		}
		if clientID == "" {
			clientID = cart.ClientID
		}
	}
	client, err := a.storefrontClient(c.ctx, c.tenant.Name, clientID)
	if err != nil {
		return err
	}
	if err := ownSession(r.Header.Get("session-id"), cart, client.ID); err != nil {
		return err
	}
	ts, social, err := a.oauth.ExchangeCode(c.ctx, client, q.Get("code"), q.Get("redirect_uri"), q.Get("code_verifier"), cart)
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.CodeField < 500 {
		return &loginError{status: http.StatusBadRequest, typ: typeBadRequest, cause: err,
			message: "the code is unknown, expired or already used, or redirect_uri / code_verifier do not match it"}
	}
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(ts.Subject, 10, 64)
	if err != nil {
		a.revokeQuietly(c.ctx, ts.AccessToken)
		return badRequest("the code was not issued to a customer")
	}
	acc, err := a.svc.Account(c.ctx, c.tenant.Name, id)
	if err == nil && (!acc.Active || acc.OnHold) {
		err = customer.ErrInactive
	}
	if err != nil {
		a.revokeQuietly(c.ctx, ts.AccessToken)
		return err
	}
	view, err := a.loginView(c.ctx, c.tenant, acc, ts, "")
	if err != nil {
		a.revokeQuietly(c.ctx, ts.AccessToken)
		return err
	}
	out := socialLoginView{loginTokenView: view}
	if social != nil {
		out.SocialAccessToken, out.SocialIDToken = social.AccessToken, social.IDToken
	}
	return reply(w, http.StatusOK, out)
}

// ownSession is the rule for a shopper session a caller names: the session-id header
// must be the session of the caller's anonymous token (cart), and that token must be of
// the client the customer's tokens go to. An absent header names nothing.
func ownSession(header string, cart *oauth.AccessInfo, clientID string) error {
	header = strings.TrimSpace(header)
	if cart != nil && cart.ClientID != clientID {
		return badRequest("the anonymous token in Authorization is of another client than client_id",
			identity.FieldError{Field: "client_id", Type: "invalid", Message: "must be the client of the anonymous token"})
	}
	if header == "" {
		return nil
	}
	if cart == nil || header != cart.SessionID {
		return badRequest("session-id must be the sessionId of the anonymous token in Authorization",
			identity.FieldError{Field: "session-id", Type: "invalid", Message: "is not the session of the caller's anonymous token"})
	}
	return nil
}

// meUnlink removes the link to a provider while another way to sign in remains:
// DELETE /customer/{tenant}/me/accounts/{providerId}.
func (a *API) meUnlink(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.svc.Unlink(c.ctx, c.tenant.Name, c.id, pathVar(r, "providerId")); err != nil {
		return err
	}
	return noContent(w)
}

// exchangeAuthToken turns an upstream JWT (an ID token of one of the tenant's
// connectors) into the customer's tokens (RFC 8693 semantics), called with the
// storefront's anonymous token: POST /customer/{tenant}/exchangeauthtoken?subjectAccessToken=.
func (a *API) exchangeAuthToken(w http.ResponseWriter, r *http.Request, c *call) error {
	subject := r.URL.Query().Get("subjectAccessToken")
	if subject == "" {
		return missingParam("subjectAccessToken")
	}
	client, err := a.tokenClient(c.ctx, c.tenant.Name, c.anon.ClientID)
	if err != nil {
		return err
	}
	pr, err := a.oauth.ExchangeSubjectToken(c.ctx, client, subject)
	if err != nil {
		return err
	}
	acc, err := a.svc.Account(c.ctx, c.tenant.Name, pr.CustomerID)
	if err != nil {
		return err
	}
	return a.writeCustomerTokens(w, c, client, &customer.SignedIn{Account: acc, AMR: pr.AMR}, c.anon.SessionID, "")
}
