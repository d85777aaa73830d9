package custodian

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Handler returns Custodian's public surface on its own router: what shoppers,
// storefronts and OAuth clients call, and a liveness probe (/healthz). Serve it on the
// public listener.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	s.Register(r)
	s.unmatched(r)
	return r
}

// AdminHandler returns Custodian's operations and administration surface on its own
// router: /healthz, /readyz, /metrics and the admin API. Serve it on a listener only
// operators reach (the command's --admin-addr, loopback by default), never on the
// public one.
func (s *Server) AdminHandler() http.Handler {
	r := mux.NewRouter()
	s.RegisterAdmin(r)
	s.unmatched(r)
	return r
}

// unmatched answers the paths and methods no route of Custodian's own router has,
// through the middlewares of every route (gorilla/mux runs a router's middlewares only
// for a route that matched): they carry a request id (X-Request-Id) and are logged and
// counted like every other answer. A host program that mounts Custodian with Register
// or RegisterAdmin answers them itself.
func (s *Server) unmatched(r *mux.Router) {
	wrap := func(h http.Handler) http.Handler {
		mw := s.outer()
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
	r.NotFoundHandler = wrap(http.NotFoundHandler())
	r.MethodNotAllowedHandler = wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	}))
}

// outer are the middlewares of every answer of both surfaces, the first outermost:
// the drain's Connection: close, the last-resort recoverer, the request id and log
// line, the metrics.
func (s *Server) outer() []mux.MiddlewareFunc {
	return []mux.MiddlewareFunc{s.closeWhenDraining, s.recoverer, s.requestContext, s.metrics.middleware}
}

// Register mounts Custodian's public routes on a host program's router. Mount it at the
// root of a (sub)router whose external URL is Config.PublicURL. The public surface keeps
// /healthz, which answers a constant without touching the database, so a load balancer
// that can only probe the port it forwards to still has a liveness check; readiness,
// metrics and the admin API are RegisterAdmin's.
func (s *Server) Register(r *mux.Router) {
	sub := r.NewRoute().Subrouter()
	outer := s.outer()
	sub.Use(append(outer, s.deadline)...)
	sub.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet).Name("healthz")
	s.OAuth.Register(sub, outer...)
	s.tickets.Register(sub)
	s.login.Register(sub)
}

// RegisterAdmin mounts the operations and administration routes on a host program's
// router that only operators reach: /healthz, /readyz (database reachable), /metrics
// (Prometheus, no credential) and, with an admin token, /admin/… and the customer login
// API's admin status switch. It must not be the router of the public surface.
func (s *Server) RegisterAdmin(r *mux.Router) {
	sub := r.NewRoute().Subrouter()
	sub.Use(s.outer()...)
	sub.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet).Name("healthz")
	sub.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet).Name("readyz")
	sub.Handle("/metrics", s.metrics.handler()).Methods(http.MethodGet).Name("metrics")
	s.login.RegisterAdmin(sub, s.admin.Require)

	if s.cfg.AdminToken != "" { // no credential, no admin surface
		s.admin.Register(sub)
	}
}
