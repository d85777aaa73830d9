package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/custodian-id/custodian/storage"
)

// server is a child process serving HTTP on loopback: Custodian or the baseline.
type server struct {
	name string
	url  string // http://127.0.0.1:PORT
	// admin receives the admin listener's URL `custodian serve` prints after the public
	// one ("Operations and administration on http://ADDR"); the baseline prints none.
	admin chan string
	cmd   *exec.Cmd
	log   *os.File
	done  chan struct{}
	err   error // of Wait, once done is closed
}

var (
	listeningLine = regexp.MustCompile(`listening on (http://[^\s]+)`)
	adminLine     = regexp.MustCompile(`^Operations and administration on (http://[^\s]+)`)
)

// startServer starts path with args and env, its output going to logPath, and waits
// until it prints "listening on http://ADDR" (both `custodian serve` and `baseline` do).
// The child gets its own process group (a Ctrl-C reaches the harness, which stops it)
// and is killed by the kernel should the harness die without stopping it.
func startServer(ctx context.Context, name, path string, args, env []string, logPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttrs()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, log: logf, done: make(chan struct{}), admin: make(chan string, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if m := adminLine.FindStringSubmatch(line); m != nil {
				select {
				case s.admin <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(logf, stdout)
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	wait := time.NewTimer(30 * time.Second)
	defer wait.Stop()
	select {
	case u := <-found:
		s.url = u
	case <-s.done:
		logf.Close()
		return nil, fmt.Errorf("%s exited before listening (%v); its log: %s", name, s.err, logPath)
	case <-wait.C:
		s.stop()
		return nil, fmt.Errorf("%s did not start listening within 30s; its log: %s", name, logPath)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if err := requireLoopbackURL(s.url); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// adminURL waits for the admin listener's URL (printed right after the public one) and
// checks it is on loopback.
func (s *server) adminURL(ctx context.Context) (string, error) {
	select {
	case u := <-s.admin:
		if err := requireLoopbackURL(u); err != nil {
			return "", fmt.Errorf("%s: %w", s.name, err)
		}
		return u, nil
	case <-s.done:
		return "", fmt.Errorf("%s exited before printing its admin listener (%v)", s.name, s.err)
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("%s printed no admin listener", s.name)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop ends the server: SIGTERM, then SIGKILL after 10 seconds.
func (s *server) stop() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	s.log.Close()
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// waitReady polls path until it answers 200.
func waitReady(ctx context.Context, c *http.Client, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", u, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// childEnv is the harness's environment without any CUSTODIAN_ variable, plus extra:
// the server under test is configured by the harness alone.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTODIAN_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// procUsage is what /proc says about a process.
type procUsage struct {
	RSS, HWM uint64        // bytes: resident now, and the peak since the process started
	CPU      time.Duration // user + system time so far
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on Linux).
const userHZ = 100

func readUsage(pid int) (procUsage, error) {
	var u procUsage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	u.RSS, u.HWM, err = parseStatus(status)
	if err != nil {
		return u, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	u.CPU, err = parseStatCPU(stat)
	return u, err
}

// parseStatus reads VmRSS and VmHWM (kB) from /proc/PID/status.
func parseStatus(b []byte) (rss, hwm uint64, err error) {
	for line := range bytes.Lines(b) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("/proc status: no VmRSS")
	}
	return rss, hwm, nil
}

// parseStatCPU reads utime + stime from /proc/PID/stat. The command name (field 2)
// may hold spaces and parentheses, so fields are counted from its closing one.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// requireLoopbackAddr refuses a listen or connect address that is not on loopback.
func requireLoopbackAddr(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: %w", hostport, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not on loopback; load goes to this machine's loopback only", hostport)
	}
	return nil
}

func requireLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return requireLoopbackAddr(net.JoinHostPort(u.Hostname(), port))
}

// requireLoopbackPostgres refuses a PostgreSQL URL whose server is not on this
// machine: the database takes the load too. A URL without a host uses the local socket.
func requireLoopbackPostgres(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("PostgreSQL URL: %w", err)
	}
	if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "/") {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	if err := requireLoopbackAddr(net.JoinHostPort(u.Hostname(), port)); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	return nil
}

// scratchPostgres creates a fresh database on the server of adminURL and returns its
// URL and a function that drops it.
func scratchPostgres(ctx context.Context, adminURL string) (string, func(), error) {
	if err := requireLoopbackPostgres(adminURL); err != nil {
		return "", nil, err
	}
	if d, _, err := storage.ParseURL(adminURL); err != nil || d != storage.Postgres {
		return "", nil, fmt.Errorf("CUSTODIAN_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "custodian_load_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, _ := url.Parse(adminURL)
	u.Path = "/" + name
	drop := func() {
		// Also after Ctrl-C: the harness's context is done by then.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "custodian-load: drop database %s: %v\n", name, err)
		}
		db.Close()
	}
	return u.String(), drop, nil
}
