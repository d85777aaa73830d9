package custodian

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian/customer"
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
		next.ServeHTTP(w, r)
	})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAdminError(w http.ResponseWriter, status int, typ, msg string) {
	writeAdminJSON(w, status, map[string]any{"status": status, "type": typ, "message": msg})
}

// adminFail is the one place admin failures are mapped to HTTP.
func (s *Server) adminFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, oauth.ErrNotFound), errors.Is(err, customer.ErrNotFound):
		writeAdminError(w, http.StatusNotFound, "resource_not_found", err.Error())
	case errors.Is(err, oauth.ErrConflict), errors.Is(err, customer.ErrConflict):
		writeAdminError(w, http.StatusConflict, "conflict_resource", err.Error())
	case errors.Is(err, oauth.ErrInvalid), errors.Is(err, customer.ErrInvalid), errors.Is(err, errBadBody):
		writeAdminError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		s.log.ErrorContext(r.Context(), "admin", "route", routeName(r), "err", err)
		writeAdminError(w, http.StatusInternalServerError, "internal_error", "internal error")
	}
}

var errBadBody = errors.New("malformed request body")

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadBody, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", errBadBody)
	}
	return nil
}

type tenantView struct {
	Name      string            `json:"name"`
	Issuer    string            `json:"issuer"`
	Settings  map[string]string `json:"settings"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

func (s *Server) viewTenant(t *oauth.Tenant) tenantView {
	settings := map[string]string{}
	for _, kv := range oauth.SettingKeys() {
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
	writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) adminCreateTenant(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string            `json:"name"`
		Settings map[string]string `json:"settings"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.adminFail(w, r, err)
		return
	}
	// Check the settings before creating anything, so a bad one creates nothing.
	scratch := oauth.DefaultSettings()
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
	writeAdminJSON(w, http.StatusCreated, s.viewTenant(t))
}

func (s *Server) adminGetTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.OAuth.GetTenant(r.Context(), tenantVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.viewTenant(t))
}

func (s *Server) adminUpdateSettings(w http.ResponseWriter, r *http.Request) {
	var set map[string]string
	if err := decodeJSON(r, &set); err != nil {
		s.adminFail(w, r, err)
		return
	}
	t, err := s.OAuth.UpdateTenantSettings(r.Context(), tenantVar(r), set)
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.viewTenant(t))
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
	if err := decodeJSON(r, &in); err != nil {
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
	writeAdminJSON(w, http.StatusCreated, out)
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
	writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) adminGetClient(w http.ResponseWriter, r *http.Request) {
	c, err := s.OAuth.GetClient(r.Context(), tenantVar(r), clientVar(r))
	if err != nil {
		s.adminFail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, viewClient(c))
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
	if err := decodeJSON(r, &in); err != nil {
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
	writeAdminJSON(w, http.StatusCreated, map[string]any{"id": a.ID, "emailAddress": a.Email, "isActive": a.Active})
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
	writeAdminJSON(w, http.StatusOK, nonNil(evs))
}
