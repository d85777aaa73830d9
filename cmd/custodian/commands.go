package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad command line or configuration
)

// cli is one invocation: its context, environment and output streams.
type cli struct {
	ctx context.Context
	// hurry ends on a second SIGINT or SIGTERM: serve skips the rest of its drain delay.
	// Nil: never.
	hurry  context.Context
	env    func(string) string
	stdin  io.Reader // customer import --file -, customer set-password
	stdout io.Writer
	stderr io.Writer
}

// command is a (sub)command: it runs, or it groups subcommands, or both (`migrate`
// runs; `migrate status` is its subcommand).
type command struct {
	name    string
	summary string
	run     func(c *cli, name string, args []string) int
	sub     []command
}

var commands = []command{
	{name: "serve", summary: "run the HTTP server", run: (*cli).serve},
	{name: "healthcheck", summary: "check that the server's admin listener answers /healthz (for container health checks)", run: (*cli).healthcheck},
	{name: "version", summary: "print the version, commit and Go version of this binary", run: (*cli).version},
	{name: "migrate", summary: "apply pending database migrations", run: (*cli).migrate, sub: []command{
		{name: "status", summary: "list the migrations: applied or pending, and the database's version vs the binary's", run: (*cli).migrateStatus},
	}},
	{name: "tenant", summary: "manage tenants", sub: []command{
		{name: "create", summary: "create a tenant with default settings and signing keys", run: (*cli).tenantCreate},
		{name: "update", summary: "change a tenant's settings", run: (*cli).tenantUpdate},
		{name: "show", summary: "print a tenant's issuer and settings", run: (*cli).tenantShow},
		{name: "list", summary: "list the tenants", run: (*cli).tenantList},
	}},
	{name: "client", summary: "manage OAuth clients", sub: []command{
		{name: "create", summary: "register an OAuth client of a tenant", run: (*cli).clientCreate},
		{name: "list", summary: "list a tenant's clients", run: (*cli).clientList},
		{name: "show", summary: "print a client's registration", run: (*cli).clientShow},
		{name: "delete", summary: "delete a client and end its tokens", run: (*cli).clientDelete},
		{name: "rotate-secret", summary: "give a confidential client a new secret (printed once)", run: (*cli).clientRotateSecret},
	}},
	{name: "customer", summary: "manage customer accounts", sub: []command{
		{name: "create", summary: "create an active customer account", run: (*cli).customerCreate},
		{name: "find", summary: "find a customer by e-mail address", run: (*cli).customerFind},
		{name: "set-password", summary: "set a customer's password (read from stdin or a prompt) and end their sessions", run: (*cli).customerSetPassword},
		{name: "unlock", summary: "unlock a customer locked by failed sign-ins", run: (*cli).customerUnlock},
		{name: "import", summary: "import customers from JSON Lines, with their password hashes (CONTRACT.md §6)", run: (*cli).customerImport},
		{name: "export", summary: "export a tenant's customers as JSON Lines, hashes as stored", run: (*cli).customerExport},
	}},
	{name: "connector", summary: "manage upstream (social) sign-in providers", sub: []command{
		{name: "add", summary: "add an upstream OpenID Connect provider to a tenant", run: (*cli).connectorAdd},
		{name: "list", summary: "list a tenant's upstream providers", run: (*cli).connectorList},
		{name: "remove", summary: "remove an upstream provider", run: (*cli).connectorRemove},
	}},
	{name: "keys", summary: "manage signing keys", sub: []command{
		{name: "rotate", summary: "rotate a tenant's signing keys (next becomes current)", run: (*cli).keysRotate},
	}},
}

// run is the whole command: it parses args (without the program name), runs the
// subcommand and returns the exit status.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, env, strings.NewReader(""), stdout, stderr)
}

// runIO is run with a standard input (`customer import --file -` reads it).
func runIO(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runSignalled(ctx, nil, args, env, stdin, stdout, stderr)
}

// runSignalled is runIO with the context of a second signal (signals).
func runSignalled(ctx, hurry context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{ctx: ctx, hurry: hurry, env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	return c.dispatch("custodian", commands, args)
}

func (c *cli) dispatch(prefix string, cmds []command, args []string) int {
	if len(args) == 0 {
		printCommands(c.stderr, prefix, cmds)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if args[0] == "help" && len(args) > 1 {
			return c.dispatch(prefix, cmds, slices.Concat(args[1:], []string{"--help"}))
		}
		printCommands(c.stdout, prefix, cmds)
		return exitOK
	}
	for _, cmd := range cmds {
		if cmd.name != args[0] {
			continue
		}
		name := prefix + " " + cmd.name
		if cmd.sub != nil && (cmd.run == nil || len(args) > 1 && hasCommand(cmd.sub, args[1])) {
			return c.dispatch(name, cmd.sub, args[1:])
		}
		return cmd.run(c, name, args[1:])
	}
	fmt.Fprintf(c.stderr, "%s: unknown command %q\n\n", prefix, args[0])
	printCommands(c.stderr, prefix, cmds)
	return exitUsage
}

func hasCommand(cmds []command, name string) bool {
	return slices.ContainsFunc(cmds, func(c command) bool { return c.name == name })
}

func printCommands(w io.Writer, prefix string, cmds []command) {
	fmt.Fprintf(w, "Usage: %s COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n", prefix)
	var walk func(p string, cs []command)
	walk = func(p string, cs []command) {
		for _, cmd := range cs {
			if cmd.run != nil {
				fmt.Fprintf(w, "  %-18s %s\n", strings.TrimSpace(p+" "+cmd.name), cmd.summary)
			}
			if cmd.sub != nil {
				walk(strings.TrimSpace(p+" "+cmd.name), cmd.sub)
			}
		}
	}
	walk("", cmds)
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for the flags of a command.\n", prefix)
	if prefix == "custodian" {
		fmt.Fprint(w, `
Configuration: defaults, then the config file, then the environment, then flags.
  CUSTODIAN_CONFIG        YAML config file (or --config FILE): one key per configuration
                          flag, e.g. public_url for --public-url; secrets stay in the
                          environment
  CUSTODIAN_DATABASE_URL  postgres://… or sqlite:PATH (default sqlite:custodian.db)
  CUSTODIAN_ADDR          public listen address (default 127.0.0.1:8080)
  CUSTODIAN_ADMIN_ADDR    admin listen address: /healthz, /readyz, /metrics, /admin/…
                          (default 127.0.0.1:8081; keep it off the public network)
  CUSTODIAN_PUBLIC_URL    external base URL (default http://{addr})
  CUSTODIAN_SECRET        server secret, at least 32 bytes; required with PostgreSQL
                          (with SQLite it is kept in a file beside the database)
  CUSTODIAN_ADMIN_TOKEN   bearer credential of /admin/… (unset: admin API off)
  CUSTODIAN_SMTP_URL      smtp://[user:pass@]host:port or smtps://… (unset: mail to the log)
  CUSTODIAN_MAIL_FROM     sender of outgoing mail
  CUSTODIAN_LOG_FORMAT    text or json (default text)
  CUSTODIAN_LOG_LEVEL     debug, info, warn or error (default info)
`)
	}
}

// flagSet returns the flag set of a command, with its usage text.
func (c *cli) flagSet(name, synopsis, summary string, more func(w io.Writer)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s %s\n\n%s.\n\nFlags:\n", name, synopsis, summary)
		printFlags(w, fs)
		if more != nil {
			fmt.Fprintln(w)
			more(w)
		}
	}
	return fs
}

// parse parses a command's arguments. Flags may come before, between and after the
// positional arguments (`tenant create NAME --database URL`); after "--" everything
// is positional. It wants exactly the named positional arguments. ok is false when
// the command must end with status code: after --help or a usage error.
func (c *cli) parse(fs *flag.FlagSet, args []string, positional ...string) (pos []string, code int, ok bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(c.stdout)
			fs.Usage()
			return nil, exitOK, false
		}
		if err != nil {
			return nil, c.usageError(fs, err), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < len(positional):
		return nil, c.usageError(fs, fmt.Errorf("missing %s", strings.Join(positional[len(pos):], " "))), false
	case len(pos) > len(positional):
		return nil, c.usageError(fs, fmt.Errorf("unexpected argument %q", pos[len(positional)])), false
	}
	return pos, exitOK, true
}

// printFlags is flag.PrintDefaults with the double dashes the documentation uses.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		head := "--" + f.Name
		if arg != "" {
			head += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s\n        %s\n", head, usage)
	})
}

func (c *cli) usageError(fs *flag.FlagSet, err error) int {
	fmt.Fprintf(c.stderr, "%s: %v\n\n", fs.Name(), err)
	fs.SetOutput(c.stderr)
	fs.Usage()
	return exitUsage
}

// fail reports err as `custodian: …` and returns status code.
func (c *cli) fail(code int, err error) int {
	fmt.Fprintf(c.stderr, "custodian: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	return code
}

// failDomain reports an error of the library: invalid input is a usage error, the
// rest (a missing tenant, a duplicate, the database) a runtime failure.
func (c *cli) failDomain(err error) int {
	if errors.Is(err, identity.ErrInvalid) || errors.Is(err, customer.ErrInvalid) {
		return c.fail(exitUsage, err)
	}
	return c.fail(exitFailure, err)
}

func (c *cli) configError(err error) int {
	fmt.Fprintln(c.stderr, "custodian: invalid configuration:")
	for _, e := range flatten(err) {
		fmt.Fprintf(c.stderr, "  - %s\n", strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
	return exitUsage
}

// required reports the flags among names that were not given.
func required(fs *flag.FlagSet, names ...string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var missing []string
	for _, n := range names {
		if !given[n] {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// config resolves and validates the configuration of a command that opens a Server,
// and provides the server secret.
func (c *cli) config(fs *flag.FlagSet, o *options, listens bool) (custodian.Config, *slog.Logger, int, bool) {
	fileErr := resolve(fs, o, c.env)
	log := o.logger(c.stderr)
	cfg := o.libraryConfig(log)
	if err := errors.Join(fileErr, o.validate(cfg, listens)); err != nil {
		return cfg, log, c.configError(err), false
	}
	if err := serverSecret(&cfg, log); err != nil {
		return cfg, log, c.fail(exitFailure, err), false
	}
	return cfg, log, exitOK, true
}

// parseOpen parses a command's arguments (no positional ones), checks the flags it
// requires and opens the server: the preamble of every command that works on the
// database.
func (c *cli) parseOpen(fs *flag.FlagSet, o *options, args []string, need ...string) (*custodian.Server, int, bool) {
	if _, code, ok := c.parse(fs, args); !ok {
		return nil, code, false
	}
	if err := required(fs, need...); err != nil {
		return nil, c.usageError(fs, err), false
	}
	return c.open(fs, o)
}

// open builds the Server an administrative command works through.
func (c *cli) open(fs *flag.FlagSet, o *options) (*custodian.Server, int, bool) {
	cfg, _, code, ok := c.config(fs, o, false)
	if !ok {
		return nil, code, false
	}
	// A command reads each row once and exits: no cache, and no LISTEN connection.
	cfg.CacheTTL = -1
	srv, err := custodian.New(c.ctx, cfg)
	if err != nil {
		return nil, c.fail(exitFailure, err), false
	}
	return srv, exitOK, true
}

// Timeouts of the HTTP server.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 15 * time.Second
	maintenanceEvery  = 10 * time.Minute
)

func (c *cli) serve(name string, args []string) int {
	fs := c.flagSet(name, "[--config FILE] [--addr 127.0.0.1:8080] [--admin-addr 127.0.0.1:8081] [--database URL] [--public-url URL]\n"+
		"        [--allow-private-urls] [--trusted-proxies CIDRS] [--shutdown-delay 5s] [--cache-ttl 1s] [--demo]",
		"Serves Custodian until SIGINT or SIGTERM: the public surface (OAuth, the ticket and login APIs, the\n"+
			"hosted pages, /healthz) on --addr, and operations and administration (/healthz, /readyz, /metrics,\n"+
			"/admin/…) on --admin-addr, which must stay off the public network. On the signal it drains: /readyz\n"+
			"says not ready and responses close their connections for --shutdown-delay (a second signal cuts it\n"+
			"short), then the listeners close, requests in flight finish (up to 15 s), the outbox worker stops\n"+
			"and the database closes", nil)
	o := defaultOptions()
	configFlags(fs, &o, "addr", "admin-addr", "database", "public-url", "allow-private-urls", "mail-from", "trusted-proxies", "shutdown-delay", "db-max-conns", "cache-ttl")
	demo := fs.Bool("demo", false, "on a database without tenants, create a demo tenant, clients and shopper, and print how to try them")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg, log, code, ok := c.config(fs, &o, true)
	if !ok {
		return code
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return c.fail(exitFailure, err)
	}
	defer ln.Close()
	adminLn, err := net.Listen("tcp", o.AdminAddr)
	if err != nil {
		return c.fail(exitFailure, fmt.Errorf("admin listener: %w", err))
	}
	defer adminLn.Close()
	url := "http://" + ln.Addr().String()
	adminURL := "http://" + adminLn.Addr().String()
	if o.PublicURL == "" {
		cfg.PublicURL = publicURLFor(ln.Addr().String()) // the real port when --addr had port 0
	}

	srv, err := custodian.New(c.ctx, cfg)
	if err != nil {
		return c.fail(exitFailure, err)
	}
	defer srv.Close()
	if *demo {
		d, err := seedDemo(c.ctx, srv, log)
		if err != nil {
			return c.fail(exitFailure, err)
		}
		if o.LogFormat == "json" {
			d.Log(c.ctx, log, cfg.PublicURL) // a record with fields, not text among the JSON
		} else {
			if err := d.Print(c.stdout, cfg.PublicURL); err != nil {
				return c.fail(exitFailure, err)
			}
			fmt.Fprintln(c.stdout)
		}
	}

	public, admin := c.httpServer(srv.Handler(), log), c.httpServer(srv.AdminHandler(), log)
	maint, stopMaint := context.WithCancel(c.ctx)
	defer stopMaint()
	var wg sync.WaitGroup
	wg.Go(func() { srv.RunMaintenance(maint, maintenanceEvery) })
	served := make(chan error, 2)
	go func() { served <- public.Serve(ln) }()
	go func() { served <- admin.Serve(adminLn) }()

	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "admin_addr", adminLn.Addr().String())
	fmt.Fprintf(c.stdout, "Custodian is listening on %s (public URL %s)\n", url, cfg.PublicURL)
	fmt.Fprintf(c.stdout, "Operations and administration on %s (/healthz, /readyz, /metrics, /admin/…)\n", adminURL)

	select {
	case err := <-served:
		stopMaint()
		wg.Wait()
		return c.fail(exitFailure, fmt.Errorf("serve: %w", err))
	case <-c.ctx.Done():
	}
	// Drain: load balancers see /readyz go not ready and keep-alive clients are told to
	// reconnect (elsewhere) while this node still serves; then the listeners close.
	delay := o.shutdownDelay()
	srv.Drain()
	log.Info("draining", "delay", delay)
	c.wait(delay)
	log.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), shutdownTimeout)
	defer cancel()
	var shutdown sync.WaitGroup
	errs := make([]error, 2)
	for i, hs := range []*http.Server{public, admin} {
		shutdown.Go(func() { errs[i] = hs.Shutdown(sctx) })
	}
	shutdown.Wait()
	stopMaint()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c.fail(exitFailure, fmt.Errorf("shutdown: %w", err))
	}
	for range 2 {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return c.fail(exitFailure, fmt.Errorf("serve: %w", err))
		}
	}
	log.Info("stopped")
	return exitOK
}

// wait waits d, or less when a second signal comes (c.hurry).
func (c *cli) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var hurry <-chan struct{}
	if c.hurry != nil {
		hurry = c.hurry.Done()
	}
	select {
	case <-t.C:
	case <-hurry:
	}
}

// httpServer is the HTTP server of one listener, with the command's timeouts.
func (c *cli) httpServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (c *cli) migrate(name string, args []string) int {
	fs := c.flagSet(name, "[--database URL]",
		"Applies pending database migrations (serve and the other commands also do at start).\n"+
			"'"+name+" status' lists them without applying any", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	log, code, ok := c.databaseConfig(fs, &o)
	if !ok {
		return code
	}
	st, err := storage.Open(c.ctx, o.Database, storage.Options{Logger: log})
	if err != nil {
		return c.fail(exitFailure, err)
	}
	defer st.Close()
	v, err := st.MigrationVersion(c.ctx)
	if err != nil {
		return c.fail(exitFailure, err)
	}
	fmt.Fprintf(c.stdout, "database schema is at version %d\n", v)
	return exitOK
}

// databaseConfig resolves and checks the configuration of a command that works on the
// database directly: it needs neither the secret nor a public URL, so only the database
// URL and the logging options are checked.
func (c *cli) databaseConfig(fs *flag.FlagSet, o *options) (*slog.Logger, int, bool) {
	errs := []error{resolve(fs, o, c.env)}
	errs = append(errs, o.problems(false, false)...)
	if _, _, err := storage.ParseURL(o.Database); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, c.configError(err), false
	}
	return o.logger(c.stderr), exitOK, true
}

func (c *cli) tenantCreate(name string, args []string) int {
	fs := c.flagSet(name, "NAME [--database URL]",
		"Creates a tenant with the default settings and its first signing keys; NAME matches "+identity.TenantPattern, nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	pos, code, ok := c.parse(fs, args, "NAME")
	if !ok {
		return code
	}
	if !identity.ValidTenantName(pos[0]) {
		return c.usageError(fs, fmt.Errorf("tenant name %q must match %s", pos[0], identity.TenantPattern))
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	t, err := srv.OAuth.CreateTenant(c.ctx, pos[0])
	if err != nil {
		return c.failDomain(err)
	}
	fmt.Fprintf(c.stdout, "created tenant %s\nissuer=%s\n", t.Name, srv.OAuth.Issuer(t.Name))
	return exitOK
}

func (c *cli) tenantUpdate(name string, args []string) int {
	fs := c.flagSet(name, "NAME --set KEY=VALUE... [--database URL]",
		"Changes a tenant's settings; either every --set applies or none does", printSettingKeys)
	o := defaultOptions()
	configFlags(fs, &o, "database", "allow-private-urls")
	var sets stringList
	fs.Var(&sets, "set", "`KEY=VALUE` of a setting (repeatable)")
	pos, code, ok := c.parse(fs, args, "NAME")
	if !ok {
		return code
	}
	set := map[string]string{}
	for _, kv := range sets {
		k, v, found := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		switch {
		case !found || k == "":
			return c.usageError(fs, fmt.Errorf("--set %q: want KEY=VALUE", kv))
		case hasKey(set, k):
			return c.usageError(fs, fmt.Errorf("--set: %s given twice", k))
		}
		set[k] = v
	}
	if len(set) == 0 {
		return c.usageError(fs, errors.New("nothing to change: give at least one --set KEY=VALUE"))
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	t, err := srv.OAuth.UpdateTenantSettings(c.ctx, pos[0], set)
	if err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", pos[0], err))
	}
	fmt.Fprintf(c.stdout, "updated tenant %s\n", t.Name)
	for _, k := range maps(set) {
		v, _ := t.Settings.Get(k)
		fmt.Fprintf(c.stdout, "%s=%s\n", k, v)
	}
	return exitOK
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// maps returns the sorted keys of m.
func maps(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func printSettingKeys(w io.Writer) {
	fmt.Fprintln(w, "Settings (tenant show NAME prints the current values):")
	for _, kv := range identity.SettingKeys() {
		fmt.Fprintf(w, "  %-26s %s\n", kv[0], kv[1])
	}
}

func (c *cli) tenantShow(name string, args []string) int {
	fs := c.flagSet(name, "NAME [--database URL]",
		"Prints a tenant's issuer and every setting as KEY=VALUE, sorted by key", printSettingKeys)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	pos, code, ok := c.parse(fs, args, "NAME")
	if !ok {
		return code
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	t, err := srv.OAuth.GetTenant(c.ctx, pos[0])
	if err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", pos[0], err))
	}
	fmt.Fprintf(c.stdout, "issuer=%s\n", srv.OAuth.Issuer(t.Name))
	for _, kv := range identity.SettingKeys() {
		v, _ := t.Settings.Get(kv[0])
		fmt.Fprintf(c.stdout, "%s=%s\n", kv[0], v)
	}
	return exitOK
}

func (c *cli) clientCreate(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --id ID (--secret S | --public) [--redirect-uri URI]...\n"+
		"        [--post-logout-redirect-uri URI]... [--grant-type G]... [--scope S]... [--behavior B]...\n"+
		"        [--first-party] [--name NAME] [--database URL]",
		"Registers an OAuth client. A confidential client's secret is printed once (only its hash is kept);\n"+
			"without --secret one is generated, which is better than a secret in the shell history", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	var (
		cl                                                         oauth.Client
		secret                                                     string
		redirects, postLogout, grants, scopes, behaviors, audience stringList
	)
	fs.StringVar(&cl.Tenant, "tenant", "", "`tenant` of the client (required)")
	fs.StringVar(&cl.ID, "id", "", "client `id` (required)")
	fs.StringVar(&cl.Name, "name", "", "display `name`")
	fs.StringVar(&secret, "secret", "", fmt.Sprintf("client `secret`, at least %d characters (default: generated)", oauth.MinSecretLength))
	fs.BoolVar(&cl.Public, "public", false, "a public client (browser or native app) without a secret")
	fs.BoolVar(&cl.FirstParty, "first-party", false, "a first-party client: no consent page; may use the password grant")
	fs.Var(&redirects, "redirect-uri", "redirect `URI` (repeatable)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "post-logout redirect `URI` (repeatable)")
	fs.Var(&grants, "grant-type", "grant `type` (repeatable; default authorization_code, refresh_token and, for confidential clients,\n        client_credentials; authorization_code needs a --redirect-uri)")
	fs.Var(&scopes, "scope", "allowed `scope`s, space-separated or repeated (default openid profile email offline_access)")
	fs.Var(&behaviors, "behavior", "named `permission`, e.g. "+oauth.BehaviorConfigureTokenDurations+" (repeatable)")
	fs.Var(&audience, "audience", "allowed `audience` (repeatable)")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := required(fs, "tenant", "id"); err != nil {
		return c.usageError(fs, err)
	}
	switch {
	case cl.Public && secret != "":
		return c.usageError(fs, errors.New("--secret and --public exclude each other"))
	case secret != "" && len(secret) < oauth.MinSecretLength:
		return c.usageError(fs, fmt.Errorf("--secret must be at least %d characters (omit it to have one generated)", oauth.MinSecretLength))
	}
	cl.RedirectURIs, cl.PostLogoutRedirectURIs, cl.GrantTypes = redirects, postLogout, grants
	cl.Behaviors, cl.Audience = behaviors, audience
	for _, s := range scopes {
		cl.Scopes = append(cl.Scopes, strings.Fields(s)...)
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	secret, err := srv.OAuth.CreateClient(c.ctx, &cl, secret)
	if err != nil {
		return c.failDomain(fmt.Errorf("client %s: %w", cl.ID, err))
	}
	fmt.Fprintf(c.stdout, "client_id=%s\n", cl.ID)
	if !cl.Public {
		fmt.Fprintf(c.stdout, "client_secret=%s\n", secret)
		fmt.Fprintln(c.stderr, "custodian: the client secret is shown this once; only its hash is stored")
	}
	return exitOK
}

func (c *cli) connectorAdd(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --id ID --issuer URL --client-id C --client-secret S [--scope S]... [--name NAME] [--database URL]",
		"Adds an upstream OpenID Connect provider. Register this redirect URI with the provider:\n"+
			"{public URL}/oauth2/{tenant}/connectors/{id}/callback. The client secret is stored sealed", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database", "public-url", "allow-private-urls")
	var (
		cn     oauth.Connector
		scopes stringList
	)
	fs.StringVar(&cn.Tenant, "tenant", "", "`tenant` (required)")
	fs.StringVar(&cn.ID, "id", "", "connector `id`, used in idp_hint and the callback URL (required)")
	fs.StringVar(&cn.Issuer, "issuer", "", "the provider's issuer `URL` (required; https, or http on loopback)")
	fs.StringVar(&cn.ClientID, "client-id", "", "Custodian's client `id` at the provider (required)")
	fs.StringVar(&cn.ClientSecret, "client-secret", "", "Custodian's client `secret` at the provider (required)")
	fs.StringVar(&cn.Name, "name", "", "display `name` on the login page (default: the id)")
	fs.Var(&scopes, "scope", "extra `scope` beyond openid email profile (repeatable)")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	if err := required(fs, "tenant", "id", "issuer", "client-id", "client-secret"); err != nil {
		return c.usageError(fs, err)
	}
	for _, sc := range scopes {
		cn.Scopes = append(cn.Scopes, strings.Fields(sc)...)
	}
	srv, code, ok := c.open(fs, &o)
	if !ok {
		return code
	}
	defer srv.Close()
	if err := srv.OAuth.CreateConnector(c.ctx, &cn); err != nil {
		return c.failDomain(fmt.Errorf("connector %s: %w", cn.ID, err))
	}
	fmt.Fprintf(c.stdout, "connector=%s\nredirect_uri=%s/connectors/%s/callback\n", cn.ID, srv.OAuth.Issuer(cn.Tenant), cn.ID)
	return exitOK
}

func (c *cli) connectorList(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T [--database URL]", "Lists a tenant's upstream providers (id, issuer, client id, name)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	var tenant string
	fs.StringVar(&tenant, "tenant", "", "`tenant` (required)")
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant")
	if !ok {
		return code
	}
	defer srv.Close()
	cs, err := srv.OAuth.Connectors(c.ctx, tenant)
	if err != nil {
		return c.failDomain(err)
	}
	for _, cn := range cs {
		fmt.Fprintf(c.stdout, "%s\t%s\t%s\t%s\n", cn.ID, cn.Issuer, cn.ClientID, cn.DisplayName())
	}
	return exitOK
}

func (c *cli) connectorRemove(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --id ID [--database URL]", "Removes an upstream provider (linked identities stay linked)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	var tenant, id string
	fs.StringVar(&tenant, "tenant", "", "`tenant` (required)")
	fs.StringVar(&id, "id", "", "connector `id` (required)")
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant", "id")
	if !ok {
		return code
	}
	defer srv.Close()
	if err := srv.OAuth.DeleteConnector(c.ctx, tenant, id); err != nil {
		return c.failDomain(fmt.Errorf("connector %s: %w", id, err))
	}
	fmt.Fprintf(c.stdout, "removed connector %s\n", id)
	return exitOK
}

func (c *cli) customerCreate(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T --email E --password P [--first-name F] [--last-name L] [--database URL]",
		"Creates an active customer account", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	var (
		tenant string
		in     = customer.NewAccount{Active: true, CreatedBy: "cli"}
	)
	fs.StringVar(&tenant, "tenant", "", "`tenant` of the customer (required)")
	fs.StringVar(&in.Email, "email", "", "e-mail `address` (required)")
	fs.StringVar(&in.Password, "password", "", fmt.Sprintf("`password`, %d to %d characters (required)", customer.MinPasswordLength, customer.MaxPasswordLength))
	fs.StringVar(&in.FirstName, "first-name", "", "first `name`")
	fs.StringVar(&in.LastName, "last-name", "", "last `name`")
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant", "email", "password")
	if !ok {
		return code
	}
	defer srv.Close()
	if _, err := srv.OAuth.GetTenant(c.ctx, tenant); err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", tenant, err))
	}
	a, err := srv.Customers.CreateAccount(c.ctx, tenant, in)
	if err != nil {
		return c.failDomain(fmt.Errorf("customer %s: %w", in.Email, err))
	}
	fmt.Fprintf(c.stdout, "customer_id=%d\nemail=%s\n", a.ID, a.Email)
	return exitOK
}

func (c *cli) keysRotate(name string, args []string) int {
	fs := c.flagSet(name, "--tenant T [--database URL]",
		"Rotates a tenant's signing keys: next becomes current, current becomes previous, and a new next key\n"+
			"is created (of the algorithm in the tenant's keys.alg setting)", nil)
	o := defaultOptions()
	configFlags(fs, &o, "database")
	tenant := fs.String("tenant", "", "`tenant` whose keys rotate (required)")
	srv, code, ok := c.parseOpen(fs, &o, args, "tenant")
	if !ok {
		return code
	}
	defer srv.Close()
	if err := srv.OAuth.RotateKeys(c.ctx, *tenant); err != nil {
		return c.failDomain(fmt.Errorf("tenant %s: %w", *tenant, err))
	}
	fmt.Fprintf(c.stdout, "rotated the signing keys of tenant %s\n", *tenant)
	return exitOK
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ", ")
}

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
