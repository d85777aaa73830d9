package tickets

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/custodian-id/custodian/api"
)

// Register mounts every route of the ticket API (CONTRACT.md §2).
func (a *API) Register(r *mux.Router) {
	t := r.PathPrefix("/api/commerce/customer/authtickets").Subrouter()
	t.Use(api.Dialect(a.ticketFail).Guard(a.maxBody, a.log))
	t.HandleFunc("/anonymousshopper", a.ticketAnonymous).Methods(http.MethodGet).Name("tickets.anonymous")
	t.HandleFunc("", a.ticketCreate).Methods(http.MethodPost).Name("tickets.create")
	t.HandleFunc("/refresh", a.ticketRefresh).Methods(http.MethodPut).Name("tickets.refresh")
	t.HandleFunc("/2fa/verify", a.ticketVerify).Methods(http.MethodPost).Name("tickets.2fa.verify")
	t.HandleFunc("/2fa/resend", a.ticketResend).Methods(http.MethodPost).Name("tickets.2fa.resend")
}
