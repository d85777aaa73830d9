package main

import (
	"bufio"
	"context"
	"database/sql"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/custodian-id/custodian/storage"
)

// harness runs the scenarios on each database.
type harness struct {
	cfg      config
	progress io.Writer

	dir       string // scratch directory: databases, binaries, server logs
	exe       string // this program, started again as the baseline process
	custodian string // the custodian binary
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.progress, format+"\n", args...)
}

// run runs everything and returns the report, which holds what was measured even when
// a database failed part way or the run was interrupted.
func (h *harness) run(ctx context.Context) (*Report, error) {
	sel, err := selectScenarios(h.cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	if h.exe, err = os.Executable(); err != nil {
		return nil, err
	}
	if h.dir, err = os.MkdirTemp("", "custodian-load-"); err != nil {
		return nil, err
	}
	keep := h.cfg.Keep
	defer func() {
		if keep {
			h.logf("scratch directory kept: %s", h.dir)
			return
		}
		_ = os.RemoveAll(h.dir)
	}()
	if h.custodian = h.cfg.Custodian; h.custodian == "" {
		h.custodian = filepath.Join(h.dir, "custodian")
		h.logf("building custodian into %s", h.custodian)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", h.custodian, "github.com/custodian-id/custodian/cmd/custodian")
		cmd.Stdout, cmd.Stderr = h.progress, h.progress
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build custodian: %w", err)
		}
	}

	rep := &Report{Started: time.Now().UTC(), Machine: machine(h.custodian), Settings: Settings{
		Connections: h.cfg.Connections, DurationS: h.cfg.Duration.Seconds(), WarmupS: h.cfg.Warmup.Seconds(),
		Tenants: h.cfg.Tenants, SeededTokens: h.cfg.SeedTokens, SeedExpired: h.cfg.SeedExpired, Pool: h.cfg.Pool,
		CustomerTokens: h.cfg.CustomerTokens, SignInAccounts: h.cfg.SignInAccounts, ServerLogLevel: h.cfg.ServerLogLevel,
		Flat: h.cfg.Flat,
	}}
	sizes := []dbSize{{Tenants: h.cfg.Tenants, SeedTokens: h.cfg.SeedTokens}}
	if h.cfg.Flat {
		sizes = flatSizes[:]
	}
	defer func() {
		if h.cfg.Flat {
			rep.Flat = flatRows(rep.Results)
		}
	}()
	for _, db := range h.cfg.Databases {
		for _, size := range sizes {
			rows, notes, err := h.runDatabase(ctx, db, size, sel)
			setRatios(rows)
			if len(rows) > 0 {
				rep.Goals = append(rep.Goals, summarize(rows))
			}
			rep.Results = append(rep.Results, rows...)
			for _, n := range notes {
				if !slices.Contains(rep.Notes, n) {
					rep.Notes = append(rep.Notes, n)
				}
			}
			if err != nil {
				rep.Failures = append(rep.Failures, h.label(db, size)+": "+err.Error())
				keep = true // the server logs say why
			}
			if ctx.Err() != nil {
				return rep, fmt.Errorf("stopped: %w", context.Cause(ctx))
			}
		}
	}
	if len(rep.Failures) > 0 {
		return rep, errors.New(strings.Join(rep.Failures, "; "))
	}
	return rep, nil
}

// label names a database's run in the progress lines, notes and failures: with -flat,
// with its size.
func (h *harness) label(db string, size dbSize) string {
	if h.cfg.Flat {
		return db + " " + sizeLabel(size)
	}
	return db
}

// runDatabase starts the baseline and Custodian on a scratch database, sets Custodian
// up with size's tenants and seeded tokens, and runs the scenarios. Both processes are
// stopped, and a PostgreSQL scratch database dropped, before it returns. It stays one function (past the project's ~80
// lines) so that every process it starts is visibly stopped by a defer beside it.
func (h *harness) runDatabase(ctx context.Context, db string, size dbSize, sel []scenario) (rows []Row, notes []string, err error) {
	label := h.label(db, size)
	dir := filepath.Join(h.dir, db+"-"+sizeLabel(size))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	var custURL, floorURL string
	switch db {
	case "sqlite":
		custURL, floorURL = "sqlite:"+filepath.Join(dir, "custodian.db"), "sqlite:"+filepath.Join(dir, "floor.db")
	case "postgres":
		u, drop, err := scratchPostgres(ctx, h.cfg.PostgresURL)
		if err != nil {
			return nil, nil, err
		}
		defer drop()
		custURL, floorURL = u, u // the floor has a table of its own
	}

	h.logf("%s: starting the baseline and custodian", label)
	base, err := startServer(ctx, "baseline", h.exe, []string{"baseline", "-database", floorURL,
		"-payload", strconv.Itoa(h.cfg.FloorPayload)}, childEnv(), filepath.Join(dir, "baseline.log"))
	if err != nil {
		return nil, nil, err
	}
	defer base.stop()
	adminToken := randomString(24)
	cust, err := startServer(ctx, "custodian", h.custodian, []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--database", custURL},
		childEnv("CUSTODIAN_SECRET="+randomString(48), "CUSTODIAN_ADMIN_TOKEN="+adminToken, "CUSTODIAN_LOG_LEVEL="+h.cfg.ServerLogLevel),
		filepath.Join(dir, "custodian.log"))
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if u, uerr := readUsage(cust.pid()); uerr == nil {
			notes = append(notes, fmt.Sprintf("custodian on %s: peak RSS over the whole run (VmHWM, setup included) %.0f MB", label, float64(u.HWM)/(1<<20)))
		}
		cust.stop()
		if err != nil {
			err = fmt.Errorf("%w (custodian's log: %s)", err, cust.log.Name())
		}
	}()

	adminURL, err := cust.adminURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	setupClient := newClient(16, 30*time.Second)
	if err := waitReady(ctx, setupClient, base.url+"/trivial"); err != nil {
		return nil, nil, err
	}
	if err := waitReady(ctx, setupClient, adminURL+"/readyz"); err != nil {
		return nil, nil, err
	}
	h.logf("%s: setting up %d tenant(s), %d customers and the token pools", label, size.Tenants, h.cfg.CustomerTokens+h.cfg.SignInAccounts)
	start := time.Now()
	signIn := newSpreadClient(h.cfg.Connections, h.cfg.Timeout, sourceAddrs(signInSources))
	api := &adminAPI{client: setupClient, base: cust.url, adminBase: adminURL, token: adminToken}
	fx, err := setup(ctx, api, base.url, setupSize{Tenants: size.Tenants, Pool: h.cfg.Pool, Chains: 2 * h.cfg.Connections,
		CustomerTokens: h.cfg.CustomerTokens, SignInAccounts: h.cfg.SignInAccounts, FloorTokens: h.cfg.Pool}, signIn)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: %w", err)
	}
	h.logf("%s: set up in %s", label, time.Since(start).Round(time.Millisecond))
	if size.SeedTokens > 0 {
		if err := h.seed(ctx, label, custURL, size.SeedTokens); err != nil {
			return nil, nil, err
		}
	}
	// Setup hashed hundreds of passwords (argon2id, 19 MiB each); let Custodian hand that
	// memory back before RSS is sampled.
	from, to, took := settle(ctx, setupClient, cust.url+"/healthz", cust.pid(), 30*time.Second)
	h.logf("%s: custodian's RSS settled from %.0f to %.0f MB in %s", label, float64(from)/(1<<20), float64(to)/(1<<20), took.Round(time.Millisecond))

	load := newClient(h.cfg.Connections, h.cfg.Timeout)
	for _, sc := range sel {
		if ctx.Err() != nil {
			break
		}
		p, err := sc.plan(ctx, fx)
		if err != nil {
			return rows, notes, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		if p.note != "" {
			notes = append(notes, p.note)
		}
		client := p.client
		if client == nil {
			client = load
		}
		pid := cust.pid()
		if sc.Server == serverBaseline {
			pid = base.pid()
		}
		if h.cfg.Warmup > 0 {
			attack(ctx, client, h.cfg.Connections, h.cfg.Warmup, sc.Name+"-warmup", p.targeter, p.check, p.observe)
		}
		before, _ := readUsage(pid)
		stopRSS := rssSampler(pid, 200*time.Millisecond)
		m := attack(ctx, client, h.cfg.Connections, h.cfg.Duration, sc.Name, p.targeter, p.check, p.observe)
		peak := stopRSS()
		after, _ := readUsage(pid)
		r := newRow(sc, db, m, peak, after.CPU-before.CPU)
		r.Tenants, r.SeededTokens = size.Tenants, size.SeedTokens
		rows = append(rows, r)
		h.logf("%s: %-18s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %s", label, sc.Name, r.RPS, r.P50ms, r.P99ms, errorCell(r))
	}
	return rows, notes, nil
}

// seed adds the requested token rows to Custodian's database.
func (h *harness) seed(ctx context.Context, db, custURL string, rows int) error {
	dialect, dsn, err := storage.ParseURL(custURL)
	if err != nil {
		return err
	}
	conn, err := sql.Open(string(dialect), dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	h.logf("%s: seeding %d token rows (%.0f%% expired)", db, rows, h.cfg.SeedExpired*100)
	start := time.Now()
	n, err := seedTokens(ctx, conn, dialect, seedOptions{Rows: rows, ExpiredShare: h.cfg.SeedExpired,
		Tag: randomString(6), Now: time.Now()})
	if err != nil {
		return err
	}
	h.logf("%s: seeded %d token rows in %s", db, n, time.Since(start).Round(time.Millisecond))
	return nil
}

// machine describes this machine and the binary under test.
func machine(custodian string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				m.MemoryMB = kb >> 10
			}
		}
	}
	if bi, err := buildinfo.ReadFile(custodian); err == nil {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" && modified == "true" {
			rev += "-modified"
		}
		m.Revision = rev
	}
	if m.Revision == "" {
		// Built without VCS stamps (-buildvcs=false): the tree the harness runs in.
		if out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
			m.Revision = strings.TrimSpace(string(out))
		}
	}
	return m
}

// settle keeps a light load on Custodian's /healthz (so that its garbage collector
// runs and its scavenger hands freed memory back) until its RSS stops shrinking (less
// than 1 MB over a second, and not growing), at most limit, and returns the RSS before
// and after.
func settle(ctx context.Context, c *http.Client, u string, pid int, limit time.Duration) (from, to uint64, took time.Duration) {
	start := time.Now()
	first, err := readUsage(pid)
	if err != nil {
		return 0, 0, 0
	}
	from, to = first.RSS, first.RSS
	tr := cycle([]vegeta.Target{{Method: http.MethodGet, URL: u}})
	for time.Since(start) < limit && ctx.Err() == nil {
		attack(ctx, c, 4, time.Second, "settle", tr, nil, nil)
		now, err := readUsage(pid)
		if err != nil {
			break
		}
		shrunk := int64(to) - int64(now.RSS)
		to = now.RSS
		// Settled: it shrank by less than 1 MB. Grown, it is still busy (freeing setup's
		// memory while finishing its work): go on, up to limit.
		if shrunk >= 0 && shrunk < 1<<20 {
			break
		}
	}
	return from, to, time.Since(start)
}
