package admin

// The handlers of the admin API: tenants, clients, keys, connectors, customers and the
// audit trail, each through a service (oauth.Provider's administration, customer.Service).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// body is how the admin API reads a JSON body: any Content-Type, no unknown fields.
var body = api.Decoder{AnyContentType: true}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	api.NoContent(w)
	return nil
}

// reply answers v as JSON.
func reply(w http.ResponseWriter, status int, v any) error {
	api.WriteJSON(w, status, v)
	return nil
}

type tenantView struct {
	Name      string            `json:"name"`
	Issuer    string            `json:"issuer"`
	Settings  map[string]string `json:"settings"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

func (a *API) viewTenant(t *identity.Tenant) tenantView {
	settings := map[string]string{}
	for _, kv := range identity.SettingKeys() {
		v, _ := t.Settings.Get(kv[0])
		settings[kv[0]] = v
	}
	return tenantView{Name: t.Name, Issuer: a.oauth.Issuer(t.Name), Settings: settings, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.oauth.ListTenants(r.Context())
	if err != nil {
		return err
	}
	out := make([]tenantView, 0, len(ts))
	for _, t := range ts {
		out = append(out, a.viewTenant(t))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name     string            `json:"name"`
		Settings map[string]string `json:"settings"`
	}
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	t, err := a.oauth.CreateTenantWithSettings(r.Context(), in.Name, in.Settings)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, a.viewTenant(t))
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := a.oauth.GetTenant(r.Context(), tenantVar(r))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, a.viewTenant(t))
}

func (a *API) updateSettings(w http.ResponseWriter, r *http.Request) error {
	var set map[string]string
	if err := body.Decode(w, r, &set); err != nil {
		return err
	}
	t, err := a.oauth.UpdateTenantSettings(r.Context(), tenantVar(r), set)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, a.viewTenant(t))
}

func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	if err := a.oauth.RotateKeys(r.Context(), tenantVar(r)); err != nil {
		return err
	}
	return noContent(w)
}

type clientView struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name,omitempty"`
	Public                 bool     `json:"public"`
	FirstParty             bool     `json:"firstParty"`
	RedirectURIs           []string `json:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	GrantTypes             []string `json:"grantTypes"`
	Scopes                 []string `json:"scopes"`
	Audience               []string `json:"audience"`
	Behaviors              []string `json:"behaviors"`
	Secret                 string   `json:"secret,omitempty"` // only in the create response
}

func viewClient(c *oauth.Client) clientView {
	return clientView{ID: c.ID, Name: c.Name, Public: c.Public, FirstParty: c.FirstParty, RedirectURIs: nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs), GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes),
		Audience: nonNil(c.Audience), Behaviors: nonNil(c.Behaviors)}
}

// nonNil keeps empty lists as [] in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) error {
	var in clientView
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	c := &oauth.Client{Tenant: tenantVar(r), ID: in.ID, Name: in.Name, Public: in.Public, FirstParty: in.FirstParty,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, GrantTypes: in.GrantTypes,
		Scopes: in.Scopes, Audience: in.Audience, Behaviors: in.Behaviors}
	secret, err := a.oauth.CreateClient(r.Context(), c, in.Secret)
	if err != nil {
		return err
	}
	out := viewClient(c)
	out.Secret = secret
	return reply(w, http.StatusCreated, out)
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.oauth.ListClients(r.Context(), tenantVar(r))
	if err != nil {
		return err
	}
	out := make([]clientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, viewClient(c))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.oauth.GetClient(r.Context(), tenantVar(r), clientVar(r))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, viewClient(c))
}

// rotateClientSecret gives a confidential client a new secret, answered this once.
func (a *API) rotateClientSecret(w http.ResponseWriter, r *http.Request) error {
	secret, err := a.oauth.RotateClientSecret(r.Context(), tenantVar(r), clientVar(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return reply(w, http.StatusOK, map[string]string{"id": clientVar(r), "secret": secret})
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) error {
	if err := a.oauth.DeleteClient(r.Context(), tenantVar(r), clientVar(r)); err != nil {
		return err
	}
	return noContent(w)
}

func (a *API) createCustomer(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	if _, err := a.oauth.GetTenant(r.Context(), tenantVar(r)); err != nil {
		return err
	}
	acc, err := a.svc.CreateAccount(r.Context(), tenantVar(r), customer.NewAccount{
		Email: in.Email, Password: in.Password, FirstName: in.FirstName, LastName: in.LastName, Active: true, CreatedBy: "admin"})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, map[string]any{"id": acc.ID, "emailAddress": acc.Email, "isActive": acc.Active})
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	var cust *int64
	if v := r.URL.Query().Get("customerId"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badRequest("customerId must be a number")
		}
		cust = &id
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	evs, err := a.svc.Events(r.Context(), tenantVar(r), cust, limit)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, nonNil(evs))
}

// customerView is the admin view of an account: profile summary, sign-in state,
// memberships and the fields other systems own.
type customerView struct {
	ID              int64               `json:"id"`
	EmailAddress    string              `json:"emailAddress"`
	FirstName       string              `json:"firstName"`
	LastName        string              `json:"lastName"`
	IsActive        bool                `json:"isActive"`
	OnHold          bool                `json:"onHold"`
	AccountType     string              `json:"accountType"`
	LoginState      customer.LoginState `json:"loginState"`
	Memberships     []membershipView    `json:"memberships"`
	Attributes      json.RawMessage     `json:"attributes"`
	Notes           json.RawMessage     `json:"notes"`
	Segments        json.RawMessage     `json:"segments"`
	CommerceSummary json.RawMessage     `json:"commerceSummary"`
	Version         int                 `json:"version"`
}

type membershipView struct {
	AccountID           string `json:"accountId"`
	Name                string `json:"name,omitempty"`
	ContactAssignmentID string `json:"contactAssignmentId,omitempty"`
}

// writeCustomer answers the admin view of a customer.
func (a *API) writeCustomer(w http.ResponseWriter, r *http.Request, t *identity.Tenant, id int64) error {
	acc, err := a.svc.Account(r.Context(), t.Name, id)
	if err != nil {
		return err
	}
	v, err := a.viewCustomer(r.Context(), t, acc)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, v)
}

// viewCustomer is the admin view of an account loaded with its memberships.
func (a *API) viewCustomer(ctx context.Context, t *identity.Tenant, acc *customer.Account) (customerView, error) {
	state, err := a.svc.LoginStateOf(ctx, t, acc)
	if err != nil {
		return customerView{}, err
	}
	v := customerView{ID: acc.ID, EmailAddress: acc.Email, FirstName: acc.FirstName, LastName: acc.LastName, IsActive: acc.Active,
		OnHold: acc.OnHold, AccountType: acc.AccountType(t.Settings), LoginState: state,
		Memberships: []membershipView{}, Attributes: acc.Attributes, Notes: acc.Notes, Segments: acc.Segments,
		CommerceSummary: acc.CommerceSummary, Version: acc.Version}
	for _, m := range acc.Memberships {
		v.Memberships = append(v.Memberships, membershipView{AccountID: m.AccountID, Name: m.Name, ContactAssignmentID: m.ContactAssignmentID})
	}
	return v, nil
}

// findCustomers searches a tenant's customers: GET …/customers?email=E answers the
// list of accounts with that address (by its canonical key: none or one), so a search
// that finds nothing is an empty list, not a 404.
func (a *API) findCustomers(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error {
	q := r.URL.Query()
	email := q.Get("email")
	if email == "" || len(q) != 1 || len(q["email"]) != 1 {
		return badRequest("give exactly one search parameter: email")
	}
	acc, err := a.svc.FindByEmail(r.Context(), t.Name, email)
	if errors.Is(err, identity.ErrNotFound) {
		return reply(w, http.StatusOK, []customerView{})
	}
	if err != nil {
		return err
	}
	v, err := a.viewCustomer(r.Context(), t, acc)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, []customerView{v})
}

// setPassword sets a customer's password: PUT …/customers/{id}/password {password}.
// The tenant's policy applies; every token and session of the customer ends.
func (a *API) setPassword(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	if err := a.svc.SetPassword(r.Context(), t, customerVar(r), in.Password); err != nil {
		return err
	}
	return noContent(w)
}

// tenantHandler is an admin route of one tenant's customers, after the tenant is loaded.
type tenantHandler func(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error

// withTenant loads the tenant of the path for h.
func (a *API) withTenant(h tenantHandler) api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := a.oauth.GetTenant(r.Context(), tenantVar(r))
		if err != nil {
			return err
		}
		return h(w, r, t)
	}
}

func (a *API) getCustomer(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error {
	return a.writeCustomer(w, r, t, customerVar(r))
}

// patchCustomer sets the admin-owned fields and the account status.
func (a *API) patchCustomer(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error {
	var in struct {
		Attributes      json.RawMessage `json:"attributes"`
		Notes           json.RawMessage `json:"notes"`
		Segments        json.RawMessage `json:"segments"`
		CommerceSummary json.RawMessage `json:"commerceSummary"`
		Active          *bool           `json:"isActive"`
		OnHold          *bool           `json:"onHold"`
	}
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	id := customerVar(r)
	if _, err := a.svc.UpdateExternalFields(r.Context(), t.Name, id, customer.ExternalFields{
		Attributes: in.Attributes, Notes: in.Notes, Segments: in.Segments, CommerceSummary: in.CommerceSummary}); err != nil {
		return err
	}
	if in.Active != nil || in.OnHold != nil {
		if _, err := a.svc.SetStatus(r.Context(), t.Name, id, in.Active, in.OnHold); err != nil {
			return err
		}
	}
	return a.writeCustomer(w, r, t, id)
}

// lockCustomer locks (POST) or unlocks (DELETE) an account.
func (a *API) lockCustomer(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error {
	if err := a.svc.SetLock(r.Context(), t, customerVar(r), r.Method == http.MethodPost); err != nil {
		return err
	}
	return a.writeCustomer(w, r, t, customerVar(r))
}

func (a *API) addMembership(w http.ResponseWriter, r *http.Request, t *identity.Tenant) error {
	var in membershipView
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	id := customerVar(r)
	if _, err := a.svc.Account(r.Context(), t.Name, id); err != nil {
		return err
	}
	if err := a.svc.AddMembership(r.Context(), t.Name, id, customer.Membership{AccountID: in.AccountID, Name: in.Name,
		ContactAssignmentID: in.ContactAssignmentID}); err != nil {
		return err
	}
	return a.writeCustomer(w, r, t, id)
}

// connectorView is an upstream provider as the admin surface shows it; the client
// secret is write-only.
type connectorView struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"clientId"`
	ClientSecret string    `json:"clientSecret,omitempty"`
	Scopes       []string  `json:"scopes"`
	RedirectURI  string    `json:"redirectUri"`
	CreatedAt    time.Time `json:"createdAt"`
}

func (a *API) viewConnector(c *oauth.Connector) connectorView {
	return connectorView{ID: c.ID, Name: c.Name, Issuer: c.Issuer, ClientID: c.ClientID, Scopes: nonNil(c.Scopes),
		RedirectURI: a.oauth.Issuer(c.Tenant) + "/connectors/" + c.ID + "/callback", CreatedAt: c.CreatedAt}
}

func (a *API) listConnectors(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.oauth.Connectors(r.Context(), tenantVar(r))
	if err != nil {
		return err
	}
	out := make([]connectorView, 0, len(cs))
	for _, c := range cs {
		out = append(out, a.viewConnector(c))
	}
	return reply(w, http.StatusOK, out)
}

func (a *API) createConnector(w http.ResponseWriter, r *http.Request) error {
	var in connectorView
	if err := body.Decode(w, r, &in); err != nil {
		return err
	}
	c := &oauth.Connector{Tenant: tenantVar(r), ID: in.ID, Name: in.Name, Issuer: in.Issuer, ClientID: in.ClientID,
		ClientSecret: in.ClientSecret, Scopes: in.Scopes}
	if err := a.oauth.CreateConnector(r.Context(), c); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, a.viewConnector(c))
}

func (a *API) deleteConnector(w http.ResponseWriter, r *http.Request) error {
	if err := a.oauth.DeleteConnector(r.Context(), tenantVar(r), connectorVar(r)); err != nil {
		return err
	}
	return noContent(w)
}
