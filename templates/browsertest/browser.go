// Package browsertest drives a real, headless Chromium for the browser suite of
// Custodian's hosted pages: one browser per test binary, a fresh browser context
// (its own cookies) for each scenario, axe-core run on every page, the page's console
// watched for Content-Security-Policy violations and script errors, keyboard focus
// walked and checked, and a screenshot of every page kept.
//
// The browser is Debian's `chromium` (or the one CUSTODIAN_CHROMIUM names); axe-core
// comes from npm (`npm ci` in this package's testdata folder). Nothing is downloaded
// while tests run. A missing browser or axe-core is an error, never a skip: a suite
// that did not run has not passed.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecEnv names the environment variable that points at a Chromium binary; without it
// the browser is looked up on PATH among BrowserNames.
const ExecEnv = "CUSTODIAN_CHROMIUM"

// BrowserNames are the program names looked up on PATH, in order.
var BrowserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// AxeTags are the axe-core rule tags every page is checked against: WCAG 2.0, 2.1 and
// 2.2 at levels A and AA.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// Flags are the Chromium switches added to chromedp's headless defaults, in order. The
// machines that run the suite reach nothing but loopback: background networking,
// component updates, sync and QUIC would only open connections that are refused.
var Flags = []struct {
	Name  string
	Value any
}{
	{"headless", true},
	{"no-sandbox", true},
	{"disable-gpu", true},
	{"disable-quic", true},
	{"no-first-run", true},
	{"disable-background-networking", true},
	{"disable-component-update", true},
	{"disable-sync", true},
	{"disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"},
}

// Browser is one running Chromium.
type Browser struct {
	ctx         context.Context // the browser's chromedp context
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	dataDir     string
	axe         string // the source of axe.min.js
	// Version is the browser's product and version, e.g. "Chrome/156.0.8078.114".
	Version string
}

// FindBrowser returns the Chromium binary to run: CUSTODIAN_CHROMIUM when set, else
// the first of BrowserNames on PATH.
func FindBrowser() (string, error) {
	if p := os.Getenv(ExecEnv); p != "" {
		full, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", ExecEnv, p, err)
		}
		return full, nil
	}
	for _, name := range BrowserNames {
		if full, err := exec.LookPath(name); err == nil {
			return full, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (tried %v on PATH; set %s): install it with `apt-get install chromium`; the browser suite fails without one", BrowserNames, ExecEnv)
}

// AxePath is where `npm ci` in this package's testdata folder puts axe-core.
func AxePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "node_modules", "axe-core", "axe.min.js")
}

// Start runs a headless Chromium with a fresh profile in a temporary directory. Close
// stops it and removes the profile.
func Start() (*Browser, error) {
	execPath, err := FindBrowser()
	if err != nil {
		return nil, err
	}
	axe, err := os.ReadFile(AxePath())
	if err != nil {
		return nil, fmt.Errorf("read axe-core (run `npm ci` in templates/browsertest/testdata): %w", err)
	}
	dir, err := os.MkdirTemp("", "custodian-chromium-")
	if err != nil {
		return nil, fmt.Errorf("profile directory: %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath), chromedp.UserDataDir(dir))
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f.Name, f.Value))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, cancel: cancel, allocCancel: allocCancel, dataDir: dir, axe: string(axe)}
	// The first Run starts the browser; it must have no deadline (it would end the
	// browser), so a slow start is bounded by a timer that cancels it instead.
	timer := time.AfterFunc(time.Minute, cancel)
	ua, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	timer.Stop()
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("start %s: %w", execPath, err)
	}
	b.Version = ua
	return b, nil
}

// Close stops the browser and removes its profile.
func (b *Browser) Close() error {
	b.cancel()
	b.allocCancel()
	return os.RemoveAll(b.dataDir)
}

// errClosed is returned for work on a closed browser.
var errClosed = errors.New("browsertest: the browser is closed")
