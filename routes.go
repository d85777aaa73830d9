package custodian

import (
	"net/http"

	"github.com/gorilla/mux"
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
	s.login.Register(sub, s.admin.Require)

	if s.cfg.AdminToken != "" { // no credential, no admin surface
		s.admin.Register(sub)
	}
}
