package admin

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// Register mounts every route of the admin API under /admin (CONTRACT.md §4).
func (a *API) Register(r *mux.Router) {
	// The bulk import and export stream bodies of any size: registered first, with the
	// admin credential and the guard's panic handling but without the body limit.
	bulk := func(h api.Handler) http.Handler {
		return api.Dialect(a.fail).Guard(0, a.log)(a.Require(api.Dialect(a.fail).Handle(h)))
	}
	customers := "/admin/tenants/{tenant:" + identity.TenantPattern + "}/customers"
	r.Handle(customers+"/import", bulk(a.importCustomers)).Methods(http.MethodPost).Name("admin.customers.import")
	r.Handle(customers+"/export", bulk(a.exportCustomers)).Methods(http.MethodGet).Name("admin.customers.export")

	adm := r.PathPrefix("/admin").Subrouter()
	adm.Use(api.Dialect(a.fail).Guard(a.maxBody, a.log), a.Require)
	h := api.Dialect(a.fail).Handle
	adm.Handle("/tenants", h(a.listTenants)).Methods(http.MethodGet).Name("admin.tenants.list")
	adm.Handle("/tenants", h(a.createTenant)).Methods(http.MethodPost).Name("admin.tenants.create")
	t := adm.PathPrefix("/tenants/{tenant:" + identity.TenantPattern + "}").Subrouter()
	t.Handle("", h(a.getTenant)).Methods(http.MethodGet).Name("admin.tenants.get")
	t.Handle("/settings", h(a.updateSettings)).Methods(http.MethodPatch).Name("admin.tenants.settings")
	t.Handle("/keys/rotate", h(a.rotateKeys)).Methods(http.MethodPost).Name("admin.keys.rotate")
	t.Handle("/clients", h(a.listClients)).Methods(http.MethodGet).Name("admin.clients.list")
	t.Handle("/clients", h(a.createClient)).Methods(http.MethodPost).Name("admin.clients.create")
	t.Handle("/clients/{client}", h(a.getClient)).Methods(http.MethodGet).Name("admin.clients.get")
	t.Handle("/clients/{client}", h(a.deleteClient)).Methods(http.MethodDelete).Name("admin.clients.delete")
	t.Handle("/clients/{client}/secret", h(a.rotateClientSecret)).Methods(http.MethodPost).Name("admin.clients.secret")
	t.Handle("/customers", h(a.withTenant(a.findCustomers))).Methods(http.MethodGet).Name("admin.customers.find")
	t.Handle("/customers", h(a.createCustomer)).Methods(http.MethodPost).Name("admin.customers.create")
	t.Handle("/customers/{customer:[0-9]+}", h(a.withTenant(a.getCustomer))).Methods(http.MethodGet).Name("admin.customers.get")
	t.Handle("/customers/{customer:[0-9]+}", h(a.withTenant(a.patchCustomer))).Methods(http.MethodPatch).Name("admin.customers.patch")
	t.Handle("/customers/{customer:[0-9]+}/password", h(a.withTenant(a.setPassword))).Methods(http.MethodPut).Name("admin.customers.password")
	t.Handle("/customers/{customer:[0-9]+}/lock", h(a.withTenant(a.lockCustomer))).Methods(http.MethodPost, http.MethodDelete).Name("admin.customers.lock")
	t.Handle("/customers/{customer:[0-9]+}/memberships", h(a.withTenant(a.addMembership))).Methods(http.MethodPost).Name("admin.customers.memberships")
	t.Handle("/events", h(a.listEvents)).Methods(http.MethodGet).Name("admin.events.list")
	t.Handle("/connectors", h(a.listConnectors)).Methods(http.MethodGet).Name("admin.connectors.list")
	t.Handle("/connectors", h(a.createConnector)).Methods(http.MethodPost).Name("admin.connectors.create")
	t.Handle("/connectors/{connector}", h(a.deleteConnector)).Methods(http.MethodDelete).Name("admin.connectors.delete")
}

func tenantVar(r *http.Request) string    { return mux.Vars(r)["tenant"] }
func clientVar(r *http.Request) string    { return mux.Vars(r)["client"] }
func connectorVar(r *http.Request) string { return mux.Vars(r)["connector"] }

// customerVar is the numeric customer id of the path (the route pattern admits digits only).
func customerVar(r *http.Request) int64 {
	id, _ := strconv.ParseInt(mux.Vars(r)["customer"], 10, 64)
	return id
}

// routeName is the name of the matched route ("" outside the router).
func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		return rt.GetName()
	}
	return ""
}
