// Command custodian-load is Custodian's load harness. It starts Custodian (`custodian
// serve`, its own process) on a scratch SQLite database and, when
// CUSTODIAN_TEST_POSTGRES_URL is set, on a scratch PostgreSQL database, together with a
// baseline process serving a trivial handler and the floors (one HMAC + one INSERT, one
// HMAC + one primary-key SELECT on the same kind of database). It sets Custodian up
// through the admin API, then loads each scenario with a fixed number of connections
// for a fixed time (vegeta as a library, max-rate mode) and prints req/s, p50/p99, the
// ratios to the trivial handler and to the floor, errors, RSS and CPU per request, as a
// table and, with -json, as JSON. Load goes to loopback only; every run stops by itself.
//
// Usage:
//
//	custodian-load [flags]                 run the load (see -help)
//	custodian-load -list                   list the scenarios
//	custodian-load baseline --database URL serve the trivial handler and floors (started by the harness)
//	custodian-load flood -url URL -pid PID  concurrent bad sign-ins or sign-ups, then the server's VmHWM
//
// Exit status: 0 when every scenario ran without a failed request, 1 otherwise, 2 on a
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the harness's command line.
type config struct {
	Custodian      string
	Databases      []string
	PostgresURL    string
	Scenarios      []string
	Duration       time.Duration
	Warmup         time.Duration
	Connections    int
	Timeout        time.Duration
	MaxTime        time.Duration
	Tenants        int
	SeedTokens     int
	SeedExpired    float64
	Flat           bool
	Pool           int
	CustomerTokens int
	SignInAccounts int
	FloorPayload   int
	ServerLogLevel string
	JSON           string
	Keep           bool
}

func parseConfig(args []string, env func(string) string, stderr io.Writer) (config, bool, error) {
	var c config
	fs := flag.NewFlagSet("custodian-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pg := env("CUSTODIAN_TEST_POSTGRES_URL")
	defaultDBs := "sqlite"
	if pg != "" {
		defaultDBs = "sqlite,postgres"
	}
	dbs := fs.String("db", defaultDBs, "databases to run on, comma-separated: sqlite, postgres (default: postgres too when CUSTODIAN_TEST_POSTGRES_URL is set)")
	fs.StringVar(&c.PostgresURL, "postgres", pg, "PostgreSQL server `URL` on loopback; a scratch database is created on it and dropped after (env CUSTODIAN_TEST_POSTGRES_URL)")
	fs.StringVar(&c.Custodian, "custodian", "", "custodian `binary` to load (default: go build ./cmd/custodian into the scratch directory)")
	sc := fs.String("scenarios", "", "scenarios to run, comma-separated (default all; trivial and the floors they compare with always run); see -list")
	list := fs.Bool("list", false, "list the scenarios and exit")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time per scenario")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured load before each scenario")
	fs.IntVar(&c.Connections, "connections", 50, "concurrent connections, each with one request in flight")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "time limit of one request")
	fs.DurationVar(&c.MaxTime, "max-time", 30*time.Minute, "time limit of the whole run")
	fs.IntVar(&c.Tenants, "tenants", 1, "tenants to create; the load is spread over all of them (flat-cost runs: 1000)")
	fs.IntVar(&c.SeedTokens, "seed-tokens", 0, "token rows to add to Custodian's database before the load (flat-cost runs: 10000, 1000000)")
	fs.BoolVar(&c.Flat, "flat", false, "flat cost: run every database twice, with 1 tenant and 10000 seeded tokens and with 1000 tenants and 1000000, and compare (sets -tenants and -seed-tokens; -max-time defaults to 1h)")
	fs.Float64Var(&c.SeedExpired, "seed-expired", 0, "share (0-1) of the seeded tokens that have expired")
	fs.IntVar(&c.Pool, "pool", 256, "anonymous shoppers' tokens to introspect (and floor tokens to read)")
	fs.IntVar(&c.CustomerTokens, "customer-tokens", 16, "signed-in customers whose tokens the read scenarios use")
	fs.IntVar(&c.SignInAccounts, "signin-accounts", 200, "customers the sign-in scenario signs in, in turn (10 sign-ins a minute each)")
	fs.IntVar(&c.FloorPayload, "floor-payload", defaultPayload, "`bytes` of payload the floor stores per token")
	fs.StringVar(&c.ServerLogLevel, "server-log-level", "info", "Custodian's log level (its log goes to a file in the scratch directory)")
	fs.StringVar(&c.JSON, "json", "", "also write the results as JSON to `FILE` (- for standard output)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the scratch directory (databases and server logs)")
	if err := fs.Parse(args); err != nil {
		return c, false, err
	}
	if fs.NArg() > 0 {
		return c, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *list {
		return c, true, nil
	}
	c.Databases = splitList(*dbs)
	c.Scenarios = splitList(*sc)
	var errs []error
	for _, d := range c.Databases {
		switch d {
		case "sqlite":
		case "postgres":
			if c.PostgresURL == "" {
				errs = append(errs, errors.New("-db postgres needs -postgres or CUSTODIAN_TEST_POSTGRES_URL"))
			} else if err := requireLoopbackPostgres(c.PostgresURL); err != nil {
				errs = append(errs, err)
			}
		default:
			errs = append(errs, fmt.Errorf("-db: unknown database %q (want sqlite or postgres)", d))
		}
	}
	if len(c.Databases) == 0 {
		errs = append(errs, errors.New("-db: no database"))
	}
	if _, err := selectScenarios(c.Scenarios); err != nil {
		errs = append(errs, err)
	}
	if c.Duration <= 0 || c.Warmup < 0 || c.Timeout <= 0 || c.MaxTime <= 0 {
		errs = append(errs, errors.New("-duration, -timeout and -max-time must be positive, -warmup not negative"))
	}
	if c.Connections < 1 || c.Connections > 1000 {
		errs = append(errs, errors.New("-connections must be from 1 to 1000"))
	}
	if c.Tenants < 1 || c.Tenants > 100000 {
		errs = append(errs, errors.New("-tenants must be from 1 to 100000"))
	}
	if c.SeedTokens < 0 || c.SeedExpired < 0 || c.SeedExpired > 1 {
		errs = append(errs, errors.New("-seed-tokens must not be negative, -seed-expired must be from 0 to 1"))
	}
	if c.Flat {
		if set["tenants"] || set["seed-tokens"] {
			errs = append(errs, errors.New("-flat sets the sizes itself: drop -tenants and -seed-tokens"))
		}
		if !set["max-time"] {
			c.MaxTime = time.Hour
		}
	}
	if c.Pool < 1 || c.CustomerTokens < 1 || c.SignInAccounts < 1 || c.FloorPayload < 0 {
		errs = append(errs, errors.New("-pool, -customer-tokens and -signin-accounts must be at least 1, -floor-payload not negative"))
	}
	return c, false, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "baseline" {
		return serveBaseline(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "flood" {
		return flood(ctx, args[1:], stdout, stderr)
	}
	cfg, list, err := parseConfig(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitUsage
	}
	if list {
		for _, s := range scenarios() {
			cmp := "trivial"
			if s.Floor != "" {
				cmp += ", " + s.Floor
			}
			if s.Server == serverBaseline {
				cmp = "the yardstick"
			}
			if s.Goal.Min > 0 {
				cmp += fmt.Sprintf("; goal ≥ %g × %s", s.Goal.Min, s.Goal.Of)
			}
			fmt.Fprintf(stdout, "%-22s %s (compared with %s)\n", s.Name, s.What, cmp)
		}
		return exitOK
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxTime)
	defer cancel()
	h := &harness{cfg: cfg, progress: stderr}
	rep, err := h.run(ctx)
	if rep != nil {
		fmt.Fprintln(stdout)
		if werr := rep.WriteTable(stdout); werr != nil && err == nil {
			err = werr
		}
		if cfg.JSON != "" {
			if werr := writeJSONFile(cfg.JSON, rep, stdout); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "custodian-load: %v\n", err)
		return exitFailure
	}
	for _, r := range rep.Results {
		if r.Errors > 0 {
			return exitFailure
		}
	}
	return exitOK
}

func writeJSONFile(path string, rep *Report, stdout io.Writer) error {
	if path == "-" {
		return rep.WriteJSON(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
