package custodian

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// Handler returns Custodian's whole HTTP surface on its own router.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	s.Register(r)
	return r
}

// Register mounts Custodian's routes on a host program's router. Mount it at the root
// of a (sub)router whose external URL is Config.PublicURL.
func (s *Server) Register(r *mux.Router) {
	sub := r.NewRoute().Subrouter()
	sub.Use(s.recoverer, s.requestContext, s.metrics.middleware)
	sub.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet).Name("healthz")
	sub.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet).Name("readyz")
	sub.Handle("/metrics", s.metrics.handler()).Methods(http.MethodGet).Name("metrics")
	s.OAuth.Register(sub)
	s.tickets.Register(sub)
	s.login.Register(sub, s.requireAdmin)

	if s.cfg.AdminToken == "" {
		return // no credential, no admin surface
	}
	a := sub.PathPrefix("/admin").Subrouter()
	a.Use(api.Dialect(s.adminFail).Guard(s.cfg.MaxBodyBytes, s.log), s.requireAdmin)
	a.HandleFunc("/tenants", s.adminListTenants).Methods(http.MethodGet).Name("admin.tenants.list")
	a.HandleFunc("/tenants", s.adminCreateTenant).Methods(http.MethodPost).Name("admin.tenants.create")
	t := a.PathPrefix("/tenants/{tenant:" + identity.TenantNamePattern + "}").Subrouter()
	t.HandleFunc("", s.adminGetTenant).Methods(http.MethodGet).Name("admin.tenants.get")
	t.HandleFunc("/settings", s.adminUpdateSettings).Methods(http.MethodPatch).Name("admin.tenants.settings")
	t.HandleFunc("/keys/rotate", s.adminRotateKeys).Methods(http.MethodPost).Name("admin.keys.rotate")
	t.HandleFunc("/clients", s.adminListClients).Methods(http.MethodGet).Name("admin.clients.list")
	t.HandleFunc("/clients", s.adminCreateClient).Methods(http.MethodPost).Name("admin.clients.create")
	t.HandleFunc("/clients/{client}", s.adminGetClient).Methods(http.MethodGet).Name("admin.clients.get")
	t.HandleFunc("/clients/{client}", s.adminDeleteClient).Methods(http.MethodDelete).Name("admin.clients.delete")
	t.HandleFunc("/customers", s.adminCreateCustomer).Methods(http.MethodPost).Name("admin.customers.create")
	t.HandleFunc("/customers/{customer:[0-9]+}", s.adminGetCustomer).Methods(http.MethodGet).Name("admin.customers.get")
	t.HandleFunc("/customers/{customer:[0-9]+}", s.adminPatchCustomer).Methods(http.MethodPatch).Name("admin.customers.patch")
	t.HandleFunc("/customers/{customer:[0-9]+}/lock", s.adminLockCustomer).Methods(http.MethodPost, http.MethodDelete).Name("admin.customers.lock")
	t.HandleFunc("/customers/{customer:[0-9]+}/memberships", s.adminAddMembership).Methods(http.MethodPost).Name("admin.customers.memberships")
	t.HandleFunc("/events", s.adminListEvents).Methods(http.MethodGet).Name("admin.events.list")
	t.HandleFunc("/connectors", s.adminListConnectors).Methods(http.MethodGet).Name("admin.connectors.list")
	t.HandleFunc("/connectors", s.adminCreateConnector).Methods(http.MethodPost).Name("admin.connectors.create")
	t.HandleFunc("/connectors/{connector}", s.adminDeleteConnector).Methods(http.MethodDelete).Name("admin.connectors.delete")
}

func tenantVar(r *http.Request) string    { return mux.Vars(r)["tenant"] }
func clientVar(r *http.Request) string    { return mux.Vars(r)["client"] }
func connectorVar(r *http.Request) string { return mux.Vars(r)["connector"] }

// customerVar is the numeric customer id of the path (the route pattern admits digits only).
func customerVar(r *http.Request) int64 {
	id, _ := strconv.ParseInt(mux.Vars(r)["customer"], 10, 64)
	return id
}
