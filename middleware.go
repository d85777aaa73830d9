package custodian

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage"
)

type requestIDKey struct{}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// deadline bounds a public request's work by Config.RequestTimeout: every query of the
// request shares it, so a database that blocks (a lock, a slow or frozen server)
// answers 503 within it rather than holding the request. The admin surface has none:
// an import may rightly take long.
func (s *Server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requestContext gives every request a request id (the caller's X-Request-Id when it
// is sane), records the client's address (clientaddr.go: behind trusted proxies, the
// forwarded one) and user agent for rate limits, lockout, devices and the audit trail,
// and logs the request when it ends.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ip := proxies(s.cfg.TrustedProxies).clientAddr(r)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = identity.WithRequestMeta(ctx, identity.RequestMeta{IP: ip, UserAgent: r.UserAgent(), RequestID: id})
		// The language the caller asks for (Accept-Language): the mails a request causes
		// are written in it when the customer has no language of their own. The hosted
		// pages refine it with ui_locales and the tenant's default (oauth).
		if tag, ok := i18n.ParseAcceptLanguage(r.Header.Get("Accept-Language")); ok {
			ctx = i18n.WithLocale(ctx, tag)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r.WithContext(ctx))
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(ctx, level, "request", "method", r.Method, "route", routeName(r), "status", sw.status,
			"duration", time.Since(start), "ip", ip)
	})
}

// recoverer is the last resort for a panic outside the dialects (the operations routes
// and the middleware here): every dialect's guard answers its own panics in its own
// shape (api.Dialect.Guard).
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "value", v, "stack", string(debug.Stack()))
				api.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if n := rt.GetName(); n != "" {
			return n
		}
		if t, err := rt.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

// requestIDHandler adds the request id of the context to every log line.
type requestIDHandler struct{ inner slog.Handler }

func (h requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.inner.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{inner: h.inner.WithAttrs(a)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{inner: h.inner.WithGroup(name)}
}

// metrics are the Prometheus series of one Server, on its own registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custodian_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "custodian_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custodian_tokens_issued_total", Help: "Access tokens issued by grant type.",
		}, []string{"grant"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.tokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) tokenIssued(grant string) { m.tokens.WithLabelValues(grant).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		route := routeName(r)
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		m.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

// cacheCollector exports the Store's cache counters (storage.CacheStat) at /metrics.
type cacheCollector struct {
	store                            *storage.Store
	hits, misses, invalidations, len *prometheus.Desc
}

func newCacheCollector(store *storage.Store) *cacheCollector {
	label := []string{"cache"}
	return &cacheCollector{store: store,
		hits: prometheus.NewDesc("custodian_cache_hits_total",
			"Reads of tenants, clients and signing keys served from the node's cache.", label, nil),
		misses: prometheus.NewDesc("custodian_cache_misses_total",
			"Reads of tenants, clients and signing keys that went to the database.", label, nil),
		invalidations: prometheus.NewDesc("custodian_cache_invalidations_total",
			"Entries dropped (or whole caches emptied) because a change was made or notified.", label, nil),
		len: prometheus.NewDesc("custodian_cache_entries", "Entries held by the node's cache.", label, nil),
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
	ch <- c.invalidations
	ch <- c.len
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.store.CacheStats() {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(st.Hits), st.Name)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(st.Misses), st.Name)
		ch <- prometheus.MustNewConstMetric(c.invalidations, prometheus.CounterValue, float64(st.Invalidations), st.Name)
		ch <- prometheus.MustNewConstMetric(c.len, prometheus.GaugeValue, float64(st.Entries), st.Name)
	}
}
