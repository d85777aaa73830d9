package login

// What the routes of the customer login API start with, done once by the adapters of
// routes.go: the query checked and the tenant loaded (handle, handleQuery), the
// storefront's anonymous token (handleAnon), or a signed-in customer whose token passes
// the route's rule (handleMe). A failure of the preamble or the handler is answered by
// the dialect's one mapper (fail).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/api/wellformed"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// call is a request past its preamble.
type call struct {
	ctx    context.Context // carries the tenant (and, for a customer, the client for the audit trail)
	tenant *identity.Tenant
	anon   *oauth.AccessInfo // handleAnon: the storefront's anonymous token
	id     int64             // handleMe: the signed-in customer
	acc    *customer.Account // handleMe: the customer's account as the preamble read it (no lists)
	token  *oauth.AccessInfo // handleMe: the customer's token, which passed the route's rule
}

// handler is a route of the login API after its preamble.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

func (a *API) adapt(start func(*http.Request) (*call, error), h handler) http.Handler {
	return api.Dialect(a.fail).Handle(func(w http.ResponseWriter, r *http.Request) error {
		c, err := start(r)
		if err != nil {
			return err
		}
		return h(w, r, c)
	})
}

// handle serves a route of the tenant named by the path ({tenant}).
func (a *API) handle(h handler) http.Handler {
	return a.adapt(func(r *http.Request) (*call, error) { return a.loginTenant(r, pathVar(r, "tenant")) }, h)
}

// handleQuery serves a route of the tenant named by ?tenant= (the anonymous tokens).
func (a *API) handleQuery(h handler) http.Handler {
	return a.adapt(func(r *http.Request) (*call, error) { return a.loginTenant(r, r.URL.Query().Get("tenant")) }, h)
}

// handleAnon serves a route the storefront calls with its anonymous token.
func (a *API) handleAnon(h handler) http.Handler {
	return a.adapt(func(r *http.Request) (*call, error) {
		c, err := a.loginTenant(r, pathVar(r, "tenant"))
		if err != nil {
			return nil, err
		}
		if c.anon, err = a.anonymousCaller(c.ctx, r); err != nil {
			return nil, err
		}
		if err := a.forwardShopper(c, r, c.anon.ClientID); err != nil {
			return nil, err
		}
		return c, nil
	}, h)
}

// handleMe serves a self-service route: a signed-in customer, by their access token,
// which must pass the route's rule (meRules), of an account that is still there and
// active.
func (a *API) handleMe(h handler) http.Handler {
	return a.adapt(a.meCaller, h)
}

func (a *API) meCaller(r *http.Request) (*call, error) {
	c, err := a.loginTenant(r, pathVar(r, "tenant"))
	if err != nil {
		return nil, err
	}
	info, err := a.bearerInfo(c.ctx, r)
	if err != nil {
		return nil, err
	}
	id, perr := strconv.ParseInt(info.Subject, 10, 64)
	if info.Anonymous || perr != nil {
		return nil, tokenRequired("this call needs a customer's access token", nil)
	}
	if err := a.authorizeMe(c.ctx, r, info); err != nil {
		return nil, err
	}
	acc, err := a.svc.Get(c.ctx, c.tenant.Name, id)
	if errors.Is(err, customer.ErrNotFound) {
		return nil, tokenRequired("the customer no longer exists", nil)
	}
	if err != nil {
		return nil, err
	}
	if !acc.Active || acc.OnHold {
		return nil, tokenRequired("the customer is not active", nil)
	}
	c.ctx, c.id, c.token, c.acc = customer.WithClient(c.ctx, info.ClientID), id, info, acc
	if err := a.forwardShopper(c, r, info.ClientID); err != nil {
		return nil, err
	}
	return c, nil
}

// forwardShopper believes the X-Shopper-IP of a server-to-server call: the token's
// client is confidential and holds oauth.BehaviorForwardShopperIP. Anyone else's
// header is ignored; the client is only read when the header is there.
func (a *API) forwardShopper(c *call, r *http.Request, clientID string) error {
	if _, ok := r.Header[http.CanonicalHeaderKey(api.ShopperIPHeader)]; !ok {
		return nil
	}
	cl, err := a.oauth.GetClient(c.ctx, c.tenant.Name, clientID)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("load client: %w", err)
	}
	ctx, err := api.ForwardShopper(c.ctx, r, err == nil && cl.ForwardsShopperIP())
	if err != nil {
		return badRequest(err.Error(), identity.FieldError{Field: api.ShopperIPHeader, Type: "invalid", Message: "must be one IPv4 or IPv6 address"})
	}
	c.ctx = ctx
	return nil
}

// loginMaxBody bounds the JSON bodies of the login API.
const loginMaxBody = 64 << 10

// checked is a request body that says which of its fields are required and how long
// they may be.
type checked interface {
	check(v *identity.Validator)
}

// decode reads a JSON body of one of the media types (default application/json) into
// v with the one strict decoder, at most loginMaxBody bytes, and checks its fields when
// it is a checked body: every invalid field is reported at once.
func decode(w http.ResponseWriter, r *http.Request, v any, mediaTypes ...string) error {
	if err := (api.Decoder{MediaTypes: mediaTypes, MaxBytes: loginMaxBody}).Decode(w, r, v); err != nil {
		return err
	}
	c, ok := v.(checked)
	if !ok {
		return nil
	}
	var val identity.Validator
	c.check(&val)
	return val.Err()
}

// reply answers v as JSON that no cache may keep (it may carry tokens).
func reply(w http.ResponseWriter, status int, v any) error {
	api.WriteJSON(w, status, v)
	return nil
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	api.NoContent(w)
	return nil
}

// loginTenant loads the tenant a request names and returns a call carrying it. Every
// route of the login API starts here, so its query is checked here.
func (a *API) loginTenant(r *http.Request, name string) (*call, error) {
	if err := wellformed.Query(r); err != nil {
		return nil, badRequest(err.Error())
	}
	if name == "" {
		return nil, missingParam("tenant")
	}
	unknown := &loginError{status: http.StatusNotFound, typ: typeNotFound, message: "unknown tenant"}
	if !identity.ValidTenantName(name) {
		return nil, unknown
	}
	t, err := a.oauth.GetTenant(r.Context(), name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, unknown
	}
	if err != nil {
		return nil, fmt.Errorf("load tenant %q: %w", name, err)
	}
	return &call{ctx: identity.WithTenant(r.Context(), t), tenant: t}, nil
}

// loginBearer returns the request's bearer token, or "".
func loginBearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// bearerInfo validates the request's bearer access token.
func (a *API) bearerInfo(ctx context.Context, r *http.Request) (*oauth.AccessInfo, error) {
	tok := loginBearer(r)
	if tok == "" {
		return nil, tokenRequired("an access token is required (Authorization: Bearer)", nil)
	}
	info, err := a.oauth.ValidateAccessToken(ctx, tok)
	if errors.Is(err, oauth.ErrInvalidToken) {
		return nil, tokenRequired("invalid or expired access token", err)
	}
	if err != nil {
		return nil, fmt.Errorf("validate access token: %w", err)
	}
	return info, nil
}

// anonymousCaller requires the storefront's anonymous token.
func (a *API) anonymousCaller(ctx context.Context, r *http.Request) (*oauth.AccessInfo, error) {
	info, err := a.bearerInfo(ctx, r)
	if err != nil {
		return nil, err
	}
	if !info.Anonymous {
		return nil, tokenRequired("this call needs the storefront's anonymous access token", nil)
	}
	return info, nil
}

// tokenClient returns the client a valid token was issued to.
func (a *API) tokenClient(ctx context.Context, tenant, id string) (*oauth.Client, error) {
	c, err := a.oauth.GetClient(ctx, tenant, id)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, tokenRequired("the token's client no longer exists", err)
	}
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	return c, nil
}

// storefrontClient returns a public client named by client_id. Public clients have no
// secret to show, so naming one is all a storefront can do; confidential clients
// authenticate (refreshauthtoken) or use the token endpoint.
func (a *API) storefrontClient(ctx context.Context, tenant, id string) (*oauth.Client, error) {
	if id == "" {
		return nil, missingParam("client_id")
	}
	c, err := a.oauth.GetClient(ctx, tenant, id)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized, message: "unknown client", cause: err}
	}
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	if !c.Public {
		return nil, &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized,
			message: "the client is confidential and must authenticate with its credentials"}
	}
	return c, nil
}

// refreshingClient finds the client of a refresh: HTTP Basic credentials of any
// client, else a public client named by client_id or by the Bearer token it holds.
// fosite then checks that the refresh token was issued to it.
func (a *API) refreshingClient(ctx context.Context, r *http.Request, tenant string) (*oauth.Client, error) {
	if id, secret, ok := r.BasicAuth(); ok {
		c, err := a.oauth.AuthenticateClient(ctx, tenant, id, secret)
		if errors.Is(err, identity.ErrNotFound) || errors.Is(err, identity.ErrInvalidCredentials) {
			return nil, &loginError{status: http.StatusUnauthorized, typ: typeUnauthorized, message: "client authentication failed",
				cause: err, challenge: `Basic realm="custodian"`}
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate client: %w", err)
		}
		return c, nil
	}
	id := r.URL.Query().Get("client_id")
	if id == "" && loginBearer(r) != "" {
		info, err := a.bearerInfo(ctx, r)
		if err != nil {
			return nil, err
		}
		id = info.ClientID
	}
	if id == "" {
		return nil, badRequest("name the client: client_id, a Bearer token of the client or its HTTP Basic credentials",
			identity.FieldError{Field: "client_id", Type: "missing", Message: "is required"})
	}
	return a.storefrontClient(ctx, tenant, id)
}
