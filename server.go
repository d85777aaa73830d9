package custodian

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodian-id/custodian/api/admin"
	"github.com/custodian-id/custodian/api/login"
	"github.com/custodian-id/custodian/api/tickets"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/templates"
	"github.com/custodian-id/custodian/twofactor"
)

// Server is a running Custodian: its database, its services and its HTTP surface.
type Server struct {
	OAuth     *oauth.Provider
	Customers *customer.Service

	tickets *tickets.API
	login   *login.API
	admin   *admin.API
	outbox  *notify.Outbox
	store   *storage.Store
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	ready   readiness
	// draining: Drain was called; /readyz says not ready and responses close their
	// connections.
	draining atomic.Bool
}

// The customer service is what the login pages and the password grant sign in through.
var (
	_ oauth.Authenticator = (*customer.Service)(nil)
	_ oauth.ClaimsSource  = (*customer.Service)(nil)
)

// New opens the database (running pending migrations) and builds every service. This
// is the one place Custodian is wired together.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	log := slog.New(requestIDHandler{inner: discardIfNil(cfg.Logger).Handler()})

	if cfg.DatabaseWait == 0 {
		cfg.DatabaseWait = time.Minute
	}
	store, err := storage.Open(ctx, cfg.DatabaseURL, storage.Options{
		ConnectWait:          max(cfg.DatabaseWait, 0),
		MaxConns:             cfg.DatabaseMaxConns,
		Now:                  cfg.Now,
		Logger:               log,
		RefreshGracePeriod:   cfg.RefreshGracePeriod,
		RefreshGraceMaxForks: cfg.RefreshGraceMaxForks,
		CacheTTL:             cfg.CacheTTL,
	})
	if err != nil {
		return nil, err
	}
	srv, err := wire(ctx, cfg, store, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	return srv, nil
}

// wire builds every service and API dialect over the store, then seals what a release
// before sealing stored in plaintext.
func wire(ctx context.Context, cfg Config, store *storage.Store, log *slog.Logger) (*Server, error) {
	tmpl, err := templates.Parse()
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	m.reg.MustRegister(newCacheCollector(store))
	webhookSecrets, err := identity.NewWebhookSecrets([]byte(cfg.Secret))
	if err != nil {
		return nil, err
	}
	settingSecrets, err := identity.NewSettingSecrets([]byte(cfg.Secret))
	if err != nil {
		return nil, err
	}
	outbox, err := newOutbox(cfg, store, webhookSecrets, log)
	if err != nil {
		return nil, err
	}
	tfc, err := customer.TwoFactorConfig(store, []byte(cfg.Secret))
	if err != nil {
		return nil, err
	}
	customers, err := customer.NewService(customer.Config{Store: store, Tenants: store, Tokens: store, Guard: store, Events: store, Outbox: outbox,
		Hashing:   customer.NewHashLimiter(customer.HashLimits{Concurrent: cfg.PasswordHashConcurrency, Wait: cfg.PasswordHashWait}),
		TwoFactor: tfc, WebhookSecrets: webhookSecrets, SettingSecrets: settingSecrets, PublicURL: cfg.publicURL(), Now: cfg.Now, Rand: cfg.Rand, Logger: log})
	if err != nil {
		return nil, err
	}
	provider, err := oauth.NewProvider(oauth.Config{
		PublicURL:      cfg.publicURL(),
		Secret:         []byte(cfg.Secret),
		Store:          store,
		Authenticator:  customers,
		Claims:         customers,
		Templates:      tmpl,
		Logger:         log,
		Now:            cfg.Now,
		Rand:           cfg.Rand,
		SecureCookies:  cfg.SecureCookies,
		OnTokenIssued:  m.tokenIssued,
		WebhookSecrets: webhookSecrets,
		Egress:         cfg.egress(),
		MaxBodyBytes:   cfg.MaxBodyBytes,
	})
	if err != nil {
		return nil, err
	}
	// Secrets stored in plaintext by a release before sealing are sealed now.
	if n, err := provider.SealSecrets(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		log.InfoContext(ctx, "sealed plaintext secret settings", "tenants", n)
	}
	if n, err := store.SealOutboxSecrets(ctx, webhookSecrets.Seal); err != nil {
		return nil, err
	} else if n > 0 {
		log.InfoContext(ctx, "sealed plaintext webhook secrets of queued messages", "messages", n)
	}
	// A node whose secret does not open the stored keys would start and fail every
	// token request: refuse to run.
	if err := provider.CheckSecrets(ctx); err != nil {
		return nil, err
	}
	if err := customers.CheckSecrets(ctx); err != nil {
		var unopened *twofactor.UnopenedSecretError
		if errors.As(err, &unopened) {
			return nil, &oauth.WrongSecretError{What: fmt.Sprintf("the authenticator-app (TOTP) secret of customer %d of tenant %q",
				unopened.CustomerID, unopened.Tenant), Err: err}
		}
		return nil, err
	}
	return &Server{OAuth: provider, Customers: customers, outbox: outbox, store: store, cfg: cfg, log: log, metrics: m,
		tickets: tickets.New(tickets.Config{Customers: customers, OAuth: provider, Logger: log, Now: cfg.Now, MaxBodyBytes: cfg.MaxBodyBytes}),
		login: login.New(login.Config{Customers: customers, OAuth: provider, Logger: log, Now: cfg.Now,
			MaxBodyBytes: cfg.MaxBodyBytes}),
		admin: admin.New(admin.Config{OAuth: provider, Customers: customers, Token: string(cfg.AdminToken), Logger: log, Now: cfg.Now,
			MaxBodyBytes: cfg.MaxBodyBytes}),
	}, nil
}

// newOutbox delivers mail through SMTP when configured and to the log otherwise.
func newOutbox(cfg Config, store *storage.Store, secrets *identity.WebhookSecrets, log *slog.Logger) (*notify.Outbox, error) {
	var mail notify.Sender = notify.LogSender{Log: log}
	if cfg.SMTPURL != "" {
		smtp, err := notify.NewSMTPSender(string(cfg.SMTPURL), cfg.MailFrom)
		if err != nil {
			return nil, err
		}
		mail = smtp
	}
	return notify.New(notify.Config{Store: store, Mail: mail, Webhook: notify.WebhookSender{Now: cfg.Now, OpenSecret: secrets.Open,
		Client: cfg.egress().Client(10 * time.Second)}, Now: cfg.Now, Logger: log}), nil
}

// warnMailToLog says loudly, when the outbox worker starts without SMTP, that mail goes
// to the log with everything in it: whoever reads the log can use a reset token or a
// second-factor code before the customer does.
func (s *Server) warnMailToLog(ctx context.Context) {
	if s.cfg.SMTPURL != "" {
		return
	}
	s.log.WarnContext(ctx, "MAIL IS NOT SENT: no SMTP server is configured (CUSTODIAN_SMTP_URL), so every message is "+
		"written to this log instead, with its secrets: password reset tokens, sign-up opt-in links, e-mail change "+
		"tokens and second-factor codes. Anyone who can read this log can take over accounts. Set CUSTODIAN_SMTP_URL "+
		"(or a tenant webhook) for anything but local development", "mail", "log")
}

// DeliverNotifications delivers the notifications that are due now; the worker of
// RunMaintenance calls it every few seconds, tests call it to flush the outbox.
func (s *Server) DeliverNotifications(ctx context.Context) (int, error) {
	return s.outbox.DeliverDue(ctx)
}

func discardIfNil(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Close releases the database.
func (s *Server) Close() error { return s.store.Close() }

// Store exposes the database to the command (migrations) and tests.
func (s *Server) Store() *storage.Store { return s.store }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyTimeout bounds /readyz: it answers within it whatever the database does.
const readyTimeout = time.Second

// readiness shares one check in flight among concurrent probes, so a database that
// does not answer holds one goroutine, not one per probe.
type readiness struct {
	mu      sync.Mutex
	running chan struct{} // closed when the check in flight ends
	result  error
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"draining"}` + "\n"))
		return
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	done := s.ready.start(s.readyCheck)
	var err error
	select {
	case <-done:
		s.ready.mu.Lock()
		err = s.ready.result
		s.ready.mu.Unlock()
	case <-timer.C:
		err = fmt.Errorf("database: %w: no answer within %s", identity.ErrUnavailable, readyTimeout)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "readiness check", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		body := `{"status":"unavailable","database":"unreachable"}`
		if errors.Is(err, oauth.ErrWrongSecret) {
			body = `{"status":"unavailable","database":"` + string(s.store.Dialect()) + `","signing":"the signing keys do not open with the configured secret"}`
		}
		_, _ = w.Write([]byte(body + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok","database":"` + string(s.store.Dialect()) + `","signing":"ok"}` + "\n"))
}

// Drain tells the node's surroundings that it is going away, before its host shuts
// its HTTP servers down: from now on /readyz answers 503 {"status":"draining"}, so a
// load balancer stops sending new requests here, and every response carries
// "Connection: close", so keep-alive clients (and proxies) open their next connection
// elsewhere instead of reusing one that is about to close. Requests keep being served
// normally; Drain stops nothing. The command (serve) calls it on SIGTERM, waits the
// drain delay, then calls http.Server.Shutdown. It cannot be undone.
func (s *Server) Drain() {
	if !s.draining.Swap(true) {
		s.log.Info("draining: /readyz now says not ready and responses close their connections")
	}
}

// closeWhenDraining adds "Connection: close" to every response once the node drains:
// net/http then closes the connection after the response, and the client opens its
// next one to a node that is not going away.
func (s *Server) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// start runs check unless a check is in flight, and returns the channel closed when
// the one in flight ends.
func (rd *readiness) start(check func(context.Context) error) <-chan struct{} {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.running != nil {
		return rd.running
	}
	done := make(chan struct{})
	rd.running = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		err := check(ctx)
		rd.mu.Lock()
		rd.result, rd.running = err, nil
		rd.mu.Unlock()
		close(done)
	}()
	return done
}

// readyCheck: the database answers, and this node can sign (its current keys open).
func (s *Server) readyCheck(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	return s.OAuth.CanSign(ctx)
}

// RunMaintenance runs the background work of a node until ctx ends: the notification
// outbox every two seconds, and the retention sweep (storage.Sweep with
// Config.Retention) right at start and then every interval, so a node restarted often
// still sweeps. Any number of nodes may run it at once.
func (s *Server) RunMaintenance(ctx context.Context, every time.Duration) {
	s.warnMailToLog(ctx)
	// The outbox stops cleanly (a send in progress completes, claimed messages are
	// released); RunMaintenance returns only once it has.
	var outbox sync.WaitGroup
	outbox.Go(func() { s.outbox.Run(ctx, 2*time.Second) })
	defer outbox.Wait()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes the rows past their retention (Config.Retention) in bounded batches
// and logs what went; a failure is logged and retried at the next sweep.
func (s *Server) Sweep(ctx context.Context) {
	n, err := s.store.Sweep(ctx, s.cfg.Now().UTC(), s.cfg.Retention, 0)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.ErrorContext(ctx, "retention sweep", "err", err)
	}
	var attrs []any
	for table, count := range n {
		if count > 0 {
			attrs = append(attrs, table, count)
		}
	}
	if len(attrs) > 0 {
		s.log.InfoContext(ctx, "retention sweep deleted rows", attrs...)
	}
}
