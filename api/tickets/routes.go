package tickets

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
)

// Register mounts every route of the ticket API (CONTRACT.md §2).
func (a *API) Register(r *mux.Router) {
	t := r.PathPrefix("/api/commerce/customer/authtickets").Subrouter()
	t.Use(api.Dialect(a.fail).Guard(a.maxBody, a.log))
	t.Handle("/anonymousshopper", a.handle(a.anonymous)).Methods(http.MethodGet).Name("tickets.anonymous")
	t.Handle("", a.handle(a.create)).Methods(http.MethodPost).Name("tickets.create")
	t.Handle("/refresh", a.handle(a.refresh)).Methods(http.MethodPut).Name("tickets.refresh")
	t.Handle("/2fa/verify", a.handle(a.verify)).Methods(http.MethodPost).Name("tickets.2fa.verify")
	t.Handle("/2fa/resend", a.handle(a.resend)).Methods(http.MethodPost).Name("tickets.2fa.resend")
}
