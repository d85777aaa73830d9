package tickets

// What every route of the ticket API starts with: the query checked, the responseFields
// selection parsed, the tenant of x-vol-tenant loaded and the calling application
// authenticated. handle does it once for every handler.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/api/wellformed"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// call is a ticket request past its preamble: the selection, the tenant and the calling
// application.
type call struct {
	ctx    context.Context // carries the tenant and, for the audit trail, the client
	tenant *identity.Tenant
	client *oauth.Client
	fields Fields
}

// handler is a ticket route after its preamble.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// handle adapts a ticket route: the preamble (start), then h; a failure of either is
// answered by the dialect's mapper (fail).
func (a *API) handle(h handler) http.Handler {
	return api.Dialect(a.fail).Handle(func(w http.ResponseWriter, r *http.Request) error {
		c, err := a.start(r)
		if err != nil {
			return err
		}
		return h(w, r, c)
	})
}

func (a *API) start(r *http.Request) (*call, error) {
	if err := wellformed.Query(r); err != nil {
		return nil, badParam(err.Error())
	}
	fields, err := ParseFields(r.URL.Query().Get("responseFields"))
	if err != nil {
		return nil, err
	}
	name := r.Header.Get("x-vol-tenant")
	if name == "" {
		return nil, badParam("the x-vol-tenant header is required")
	}
	t, err := a.oauth.GetTenant(r.Context(), name)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, &ticketError{status: http.StatusNotFound, code: "ITEM_NOT_FOUND", message: "unknown tenant"}
	}
	if err != nil {
		return nil, err
	}
	ctx := identity.WithTenant(r.Context(), t)
	client, err := a.application(ctx, r, t)
	if err != nil {
		return nil, err
	}
	// Every ticket call is server to server: a backend allowed to may name the shopper.
	if ctx, err = api.ForwardShopper(ctx, r, client.ForwardsShopperIP()); err != nil {
		return nil, badParam(err.Error(), nameValue{"header", api.ShopperIPHeader})
	}
	return &call{ctx: customer.WithClient(ctx, client.ID), tenant: t, client: client, fields: fields}, nil
}

var errNoApp = &ticketError{status: http.StatusUnauthorized, code: "UNAUTHORIZED",
	message: "the application must authenticate with a client_credentials token or client credentials"}

// application authenticates the calling application: a confidential client of the tenant.
func (a *API) application(ctx context.Context, r *http.Request, t *identity.Tenant) (*oauth.Client, error) {
	if id, secret, ok := r.BasicAuth(); ok {
		c, err := a.oauth.AuthenticateClient(ctx, t.Name, id, secret)
		if api.Unavailable(err) { // no verdict on the application
			return nil, err
		}
		if err != nil || c.Public {
			return nil, errNoApp
		}
		return c, nil
	}
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return nil, errNoApp
	}
	info, err := a.oauth.ValidateAccessToken(ctx, strings.TrimSpace(h[7:]))
	if err != nil && !errors.Is(err, oauth.ErrInvalidToken) {
		return nil, err // a storage failure: no verdict on the token
	}
	// Only an application token will do: client_credentials tokens have no subject
	// (opaque) or the client as subject (JWT); customer and anonymous tokens do not pass.
	if err != nil || info.Anonymous || (info.Subject != "" && info.Subject != info.ClientID) {
		return nil, errNoApp
	}
	c, err := a.oauth.GetClient(ctx, t.Name, info.ClientID)
	if api.Unavailable(err) {
		return nil, err
	}
	if err != nil || c.Public {
		return nil, errNoApp
	}
	return c, nil
}

// write answers v, cut down to the call's responseFields.
func (c *call) write(w http.ResponseWriter, v any) error {
	out, err := c.fields.Apply(v)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
