package custodian

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/api/wellformed"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// The admin surface: tenants, clients, keys, customers and the audit trail, under a
// bearer admin credential. Errors use the customer API's shape
// {status, type, message, details?}.

func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		// No configured admin token means no admin access at all, never "empty matches empty".
		if !ok || s.cfg.AdminToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="custodian-admin"`)
			writeAdminError(w, http.StatusUnauthorized, "unauthorized", "a valid admin token is required")
			return
		}
		if err := wellformed.Query(r); err != nil {
			writeAdminError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeAdminError(w http.ResponseWriter, status int, typ, msg string) {
	api.WriteJSON(w, status, map[string]any{"status": status, "type": typ, "message": msg})
}

// adminFail is the one place admin failures are mapped to HTTP.
func (s *Server) adminFail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *identity.ValidationError
	if errors.As(err, &ve) {
		details := make([]map[string]string, 0, len(ve.Fields))
		for _, f := range ve.Fields {
			details = append(details, map[string]string{"field": f.Field, "type": f.Type, "message": f.Message})
		}
		api.WriteJSON(w, http.StatusBadRequest, map[string]any{"status": http.StatusBadRequest, "type": "bad_request",
			"message": "the request has invalid fields", "details": details})
		return
	}
	var be *api.BodyError
	switch {
	case api.IsTooLarge(err):
		writeAdminError(w, http.StatusRequestEntityTooLarge, "bad_request", api.ErrTooLarge.Error())
	case errors.As(err, &be) && be.Problem == api.Trailing:
		writeAdminError(w, http.StatusBadRequest, "bad_request", "malformed request body: trailing data")
	case errors.As(err, &be):
		writeAdminError(w, http.StatusBadRequest, "bad_request", "malformed request body: "+be.Err.Error())
	case errors.Is(err, identity.ErrNotFound), errors.Is(err, customer.ErrNotFound):
		writeAdminError(w, http.StatusNotFound, "resource_not_found", err.Error())
	case errors.Is(err, identity.ErrConflict), errors.Is(err, customer.ErrConflict):
		writeAdminError(w, http.StatusConflict, "conflict_resource", err.Error())
	case errors.Is(err, identity.ErrInvalid), errors.Is(err, customer.ErrInvalid):
		writeAdminError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		s.log.ErrorContext(r.Context(), "admin", "route", routeName(r), "err", err)
		writeAdminError(w, http.StatusInternalServerError, "internal_error", "internal error")
	}
}

// adminBody is how the admin API reads a JSON body: any Content-Type, no unknown fields.
var adminBody = api.Decoder{AnyContentType: true}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return adminBody.Decode(w, r, v)
}

type tenantView struct {
	Name      string            `json:"name"`
	Issuer    string            `json:"issuer"`
	Settings  map[string]string `json:"settings"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

func (s *Server) viewTenant(t *identity.Tenant) tenantView {
	settings := map[string]string{}
	for _, kv := range identity.SettingKeys() {
		v, _ := t.Settings.Get(kv[0])
		settings[kv[0]] = v
	}
	return tenantView{Name: t.Name, Issuer: s.OAuth.Issuer(t.Name), Settings: settings, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func (s *Server) adminListTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := s.OAuth.ListTenants(r.Context())
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	out := make([]tenantView, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.viewTenant(t))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) adminCreateTenant(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string            `json:"name"`
		Settings map[string]string `json:"settings"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	// Check the settings before creating anything, so a bad one creates nothing.
	scratch := identity.DefaultSettings()
	var bad []error
	for k, v := range in.Settings {
		if err := scratch.Set(k, v); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) == 0 {
		if err := scratch.Validate(); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		s.adminFail(w, r, errors.Join(bad...))
		return
	}
	t, err := s.OAuth.CreateTenant(r.Context(), in.Name)
	if err == nil && len(in.Settings) > 0 {
		t, err = s.OAuth.UpdateTenantSettings(r.Context(), in.Name, in.Settings)
	}
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, s.viewTenant(t))
}

func (s *Server) adminGetTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.OAuth.GetTenant(r.Context(), tenantVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, s.viewTenant(t))
}

func (s *Server) adminUpdateSettings(w http.ResponseWriter, r *http.Request) {
	var set map[string]string
	if err := decodeJSON(w, r, &set); err != nil {
		s.adminFail(w, r, err)
		return
	}
	t, err := s.OAuth.UpdateTenantSettings(r.Context(), tenantVar(r), set)
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, s.viewTenant(t))
}

func (s *Server) adminRotateKeys(w http.ResponseWriter, r *http.Request) {
	if err := s.OAuth.RotateKeys(r.Context(), tenantVar(r)); err != nil {
		s.adminFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
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

func (s *Server) adminCreateClient(w http.ResponseWriter, r *http.Request) {
	var in clientView
	if err := decodeJSON(w, r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	c := &oauth.Client{Tenant: tenantVar(r), ID: in.ID, Name: in.Name, Public: in.Public, FirstParty: in.FirstParty,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, GrantTypes: in.GrantTypes,
		Scopes: in.Scopes, Audience: in.Audience, Behaviors: in.Behaviors}
	secret, err := s.OAuth.CreateClient(r.Context(), c, in.Secret)
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	out := viewClient(c)
	out.Secret = secret
	api.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) adminListClients(w http.ResponseWriter, r *http.Request) {
	cs, err := s.store.ListClients(r.Context(), tenantVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	out := make([]clientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, viewClient(c))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) adminGetClient(w http.ResponseWriter, r *http.Request) {
	c, err := s.OAuth.GetClient(r.Context(), tenantVar(r), clientVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, viewClient(c))
}

func (s *Server) adminDeleteClient(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteClient(r.Context(), tenantVar(r), clientVar(r)); err != nil {
		s.adminFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminCreateCustomer(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	if _, err := s.OAuth.GetTenant(r.Context(), tenantVar(r)); err != nil {
		s.adminFail(w, r, err)
		return
	}
	a, err := s.Customers.CreateAccount(r.Context(), tenantVar(r), customer.NewAccount{
		Email: in.Email, Password: in.Password, FirstName: in.FirstName, LastName: in.LastName, Active: true, CreatedBy: "admin"})
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"id": a.ID, "emailAddress": a.Email, "isActive": a.Active})
}

func (s *Server) adminListEvents(w http.ResponseWriter, r *http.Request) {
	var cust *int64
	if v := r.URL.Query().Get("customerId"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, "bad_request", "customerId must be a number")
			return
		}
		cust = &id
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	evs, err := s.store.ListEvents(r.Context(), tenantVar(r), cust, limit)
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, nonNil(evs))
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

func (s *Server) writeCustomer(w http.ResponseWriter, r *http.Request, t *identity.Tenant, id int64) {
	a, err := s.Customers.Account(r.Context(), t.Name, id)
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	v := customerView{ID: a.ID, EmailAddress: a.Email, FirstName: a.FirstName, LastName: a.LastName, IsActive: a.Active,
		OnHold: a.OnHold, AccountType: a.AccountType(t.Settings), LoginState: customer.LoginStateOf(a, t.Settings.LockoutThreshold, s.cfg.Now()),
		Memberships: []membershipView{}, Attributes: a.Attributes, Notes: a.Notes, Segments: a.Segments,
		CommerceSummary: a.CommerceSummary, Version: a.Version}
	for _, m := range a.Memberships {
		v.Memberships = append(v.Memberships, membershipView{AccountID: m.AccountID, Name: m.Name, ContactAssignmentID: m.ContactAssignmentID})
	}
	api.WriteJSON(w, http.StatusOK, v)
}

func (s *Server) adminTenant(w http.ResponseWriter, r *http.Request) *identity.Tenant {
	t, err := s.OAuth.GetTenant(r.Context(), tenantVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return nil
	}
	return t
}

func (s *Server) adminGetCustomer(w http.ResponseWriter, r *http.Request) {
	if t := s.adminTenant(w, r); t != nil {
		s.writeCustomer(w, r, t, customerVar(r))
	}
}

// adminPatchCustomer sets the admin-owned fields and the account status.
func (s *Server) adminPatchCustomer(w http.ResponseWriter, r *http.Request) {
	t := s.adminTenant(w, r)
	if t == nil {
		return
	}
	var in struct {
		Attributes      json.RawMessage `json:"attributes"`
		Notes           json.RawMessage `json:"notes"`
		Segments        json.RawMessage `json:"segments"`
		CommerceSummary json.RawMessage `json:"commerceSummary"`
		Active          *bool           `json:"isActive"`
		OnHold          *bool           `json:"onHold"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	id := customerVar(r)
	if _, err := s.Customers.UpdateExternalFields(r.Context(), t.Name, id, customer.ExternalFields{
		Attributes: in.Attributes, Notes: in.Notes, Segments: in.Segments, CommerceSummary: in.CommerceSummary}); err != nil {
		s.adminFail(w, r, err)
		return
	}
	if in.Active != nil || in.OnHold != nil {
		if _, err := s.Customers.SetStatus(r.Context(), t.Name, id, in.Active, in.OnHold); err != nil {
			s.adminFail(w, r, err)
			return
		}
	}
	s.writeCustomer(w, r, t, id)
}

// adminLockCustomer locks (POST) or unlocks (DELETE) an account.
func (s *Server) adminLockCustomer(w http.ResponseWriter, r *http.Request) {
	t := s.adminTenant(w, r)
	if t == nil {
		return
	}
	if err := s.Customers.SetLock(r.Context(), t, customerVar(r), r.Method == http.MethodPost); err != nil {
		s.adminFail(w, r, err)
		return
	}
	s.writeCustomer(w, r, t, customerVar(r))
}

func (s *Server) adminAddMembership(w http.ResponseWriter, r *http.Request) {
	t := s.adminTenant(w, r)
	if t == nil {
		return
	}
	var in membershipView
	if err := decodeJSON(w, r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	id := customerVar(r)
	if _, err := s.Customers.Account(r.Context(), t.Name, id); err != nil {
		s.adminFail(w, r, err)
		return
	}
	if err := s.Customers.AddMembership(r.Context(), t.Name, id, customer.Membership{AccountID: in.AccountID, Name: in.Name,
		ContactAssignmentID: in.ContactAssignmentID}); err != nil {
		s.adminFail(w, r, err)
		return
	}
	s.writeCustomer(w, r, t, id)
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

func (s *Server) viewConnector(c *oauth.Connector) connectorView {
	return connectorView{ID: c.ID, Name: c.Name, Issuer: c.Issuer, ClientID: c.ClientID, Scopes: nonNil(c.Scopes),
		RedirectURI: s.OAuth.Issuer(c.Tenant) + "/connectors/" + c.ID + "/callback", CreatedAt: c.CreatedAt}
}

func (s *Server) adminListConnectors(w http.ResponseWriter, r *http.Request) {
	cs, err := s.OAuth.Connectors(r.Context(), tenantVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	out := make([]connectorView, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.viewConnector(c))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) adminCreateConnector(w http.ResponseWriter, r *http.Request) {
	var in connectorView
	if err := decodeJSON(w, r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	c := &oauth.Connector{Tenant: tenantVar(r), ID: in.ID, Name: in.Name, Issuer: in.Issuer, ClientID: in.ClientID,
		ClientSecret: in.ClientSecret, Scopes: in.Scopes}
	if err := s.OAuth.CreateConnector(r.Context(), c); err != nil {
		s.adminFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, s.viewConnector(c))
}

func (s *Server) adminDeleteConnector(w http.ResponseWriter, r *http.Request) {
	if err := s.OAuth.DeleteConnector(r.Context(), tenantVar(r), connectorVar(r)); err != nil {
		s.adminFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
