package custodian_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgCluster is a throwaway PostgreSQL cluster of a fault test: its own data directory
// and port (below 32768, so that no ephemeral port of the server's own reconnects can
// take it), stopped and started at will. The shared server on 5432 is never touched.
type pgCluster struct {
	t    testing.TB
	bin  string // the folder of initdb and pg_ctl
	dir  string // holds data/, the socket and the log
	port int
	// asUser runs the tools as this user (postgres) when the test runs as root, which
	// initdb refuses.
	asUser string
}

// pgBinDir finds initdb and pg_ctl under /usr/lib/postgresql/*/bin (the newest
// version), or on PATH. A fault test fails, never skips, without them.
func pgBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatal("fault tests need PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin): install the postgresql package")
	return ""
}

// startCluster initialises and starts a cluster on port; it is stopped and removed
// when the test ends.
func startCluster(t testing.TB, port int) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: pgBinDir(t), port: port}
	dir, err := os.MkdirTemp("", "custodian-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		_ = c.ctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the cluster needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asUser = "postgres"
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start()
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// URL is the cluster's postgres database.
func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *pgCluster) run(tool string, args ...string) ([]byte, error) {
	name, full := filepath.Join(c.bin, tool), args
	if c.asUser != "" {
		full = append([]string{"-u", c.asUser, "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, full...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *pgCluster) ctl(action string, args ...string) error {
	full := append([]string{action, "-D", c.data(), "-w", "-t", "30"}, args...)
	out, err := c.run("pg_ctl", full...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", action, err, out)
	}
	return nil
}

// start starts the server and waits until it accepts connections.
func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", c.port, c.dir)
	if err := c.ctl("start", "-o", opts, "-l", filepath.Join(c.dir, "log")); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.t.Fatalf("%v\n%s", err, log)
	}
}

// stop stops the server (fast shutdown: sessions are ended, as in a restart).
func (c *pgCluster) stop() time.Time {
	c.t.Helper()
	if err := c.ctl("stop", "-m", "fast"); err != nil {
		c.t.Fatal(err)
	}
	return time.Now()
}

// pids are the processes of the running cluster: the postmaster (postmaster.pid) and
// its children.
func (c *pgCluster) pids() []int {
	c.t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		c.t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		c.t.Fatalf("postmaster.pid: %q", first)
	}
	out := []int{pm}
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pm, pm))
	for _, f := range strings.Fields(string(children)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}
