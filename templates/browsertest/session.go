package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ActionTimeout bounds one step of a session (a navigation, a click, a check).
const ActionTimeout = 15 * time.Second

// Session is one shopper's browser: a browser context of its own (no cookies shared
// with other sessions) with one tab, at a fixed viewport width.
type Session struct {
	t      testing.TB
	b      *Browser
	ctx    context.Context
	cancel context.CancelFunc
	// Width and Height are the viewport's, in CSS pixels.
	Width, Height int
	// ScreenshotDirs are the directories Check writes its screenshots to.
	ScreenshotDirs []string

	mu       sync.Mutex
	problems []string // CSP violations and script errors seen since the last Check
}

// NewSession opens a tab in a new browser context at the given viewport size; the
// test's cleanup closes it.
func (b *Browser) NewSession(t testing.TB, width, height int) *Session {
	t.Helper()
	if b == nil || b.ctx.Err() != nil {
		t.Fatal(errClosed)
	}
	s := &Session{t: t, b: b, Width: width, Height: height}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(s.listen))
	s.ctx, s.cancel = ctx, cancel
	t.Cleanup(cancel)
	// The first Run opens the tab; its context must carry no deadline.
	timer := time.AfterFunc(ActionTimeout, cancel)
	err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateScale(1)))
	timer.Stop()
	if err != nil {
		t.Fatalf("open a tab at %dx%d: %v", width, height, err)
	}
	return s
}

// listen collects what must never happen on Custodian's pages: a Content-Security-
// Policy violation (a blocked script, style or image) and an uncaught script error.
func (s *Session) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil {
			return
		}
		if e.Source == log.EntrySourceSecurity || e.Source == log.EntrySourceViolation ||
			strings.Contains(e.Text, "Content Security Policy") ||
			(e.Level == log.EntryLevelError && e.Source == log.EntrySourceJavascript) {
			msg = fmt.Sprintf("console %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		}
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			msg = fmt.Sprintf("uncaught exception: %s (%s:%d)", d.Text, d.URL, d.LineNumber)
			if d.Exception != nil && d.Exception.Description != "" {
				msg += ": " + d.Exception.Description
			}
		}
	}
	if msg != "" {
		s.mu.Lock()
		s.problems = append(s.problems, msg)
		s.mu.Unlock()
	}
}

// step runs one action with a deadline.
func step[T any](s *Session, what string, a chromedp.Action[T]) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		s.t.Fatalf("[%dpx] %s: %v", s.Width, what, err)
	}
	return v
}

// response runs actions that load a page and returns the document's response.
func (s *Session) response(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, ActionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		s.t.Fatalf("[%dpx] %s: %v", s.Width, what, err)
	}
	return resp
}

// Open loads a URL and returns the HTTP status of the document.
func (s *Session) Open(url string) int {
	s.t.Helper()
	return int(s.response("open "+url, chromedp.Navigate(url)).Status)
}

// Fill types value into the field that the CSS selector names, as a person would
// (focus, then key by key), after clearing it.
func (s *Session) Fill(sel, value string) {
	s.t.Helper()
	q, _ := json.Marshal(sel)
	var found bool
	s.Eval(`(() => { const e = document.querySelector(`+string(q)+`); if (e) e.value = ""; return !!e; })()`, &found)
	if !found {
		s.t.Fatalf("[%dpx] fill %s: no such field", s.Width, sel)
	}
	step(s, "fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// Press clicks the element that the CSS selector names with the mouse and waits for
// the page it leads to; it returns that page's HTTP status.
func (s *Session) Press(sel string) int {
	s.t.Helper()
	return int(s.response("press "+sel, chromedp.Click(chromedp.CSS(sel))).Status)
}

// Click clicks the element that the CSS selector names with the mouse and does not
// wait for a page: for buttons whose page goes on by itself (a self-submitting form),
// followed by WaitURL.
func (s *Session) Click(sel string) {
	s.t.Helper()
	step(s, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// PressKey focuses the element that the CSS selector names and presses Enter on the
// keyboard, then waits for the page it leads to; it returns that page's HTTP status.
func (s *Session) PressKey(sel string) int {
	s.t.Helper()
	return int(s.response("press Enter on "+sel, chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent("\r")).Status)
}

// WaitURL waits until the tab's location starts with prefix (after redirects and
// self-submitting forms) and returns it.
func (s *Session) WaitURL(prefix string) string {
	s.t.Helper()
	deadline := time.Now().Add(ActionTimeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(s.ctx, ActionTimeout)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		cancel()
		if err == nil {
			last = loc
			if strings.HasPrefix(loc, prefix) {
				return loc
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("[%dpx] the tab did not reach %s; it is at %s", s.Width, prefix, last)
	return ""
}

// PageScripts turns the pages' own scripts on or off, as a browser without JavaScript
// would have them; checks (axe-core, through DevTools) need them on. A page loaded
// while they were off stays without its scripts when they are turned back on.
func (s *Session) PageScripts(on bool) {
	s.t.Helper()
	step(s, fmt.Sprintf("scripts on: %v", on), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	}))
}

// AcceptLanguage makes the session's browser prefer the languages (BCP 47 tags, most
// preferred first, e.g. "de-CH", "de") on every request it sends from now on, and
// report them in navigator.languages, as a browser set to those languages would:
// Chromium writes the Accept-Language header itself, with falling q values.
func (s *Session) AcceptLanguage(langs ...string) {
	s.t.Helper()
	v := strings.Join(langs, ",")
	step(s, "accept-language "+v, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: s.b.Version, AcceptLanguage: v})
		return err
	}))
}

// Location is the tab's current URL.
func (s *Session) Location() string {
	s.t.Helper()
	return step(s, "location", chromedp.Location())
}

// Text is the visible text of the first element that the CSS selector names.
func (s *Session) Text(sel string) string {
	s.t.Helper()
	return step(s, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// Eval evaluates a JavaScript expression in the page (through DevTools, so not subject
// to the page's CSP) and decodes its JSON value into out.
func (s *Session) Eval(expr string, out any) {
	s.t.Helper()
	raw := step(s, "evaluate "+expr, chromedp.Evaluate[[]byte](expr))
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("[%dpx] evaluate %s: decode %s: %v", s.Width, expr, raw, err)
		}
	}
}

// Check checks the page the tab shows and keeps its screenshot as NAME-WIDTH.png:
// axe-core (WCAG 2.2 AA), one <h1>, a lang and a title, no horizontal scrolling, every
// focusable element reached by Tab with a visible focus indicator, and no CSP
// violation or script error since the last check. Every failure is reported.
func (s *Session) Check(name string) {
	s.t.Helper()
	s.screenshot(name)
	for _, p := range s.axe() {
		s.t.Errorf("[%s %dpx] axe: %s", name, s.Width, p)
	}
	for _, p := range s.structure() {
		s.t.Errorf("[%s %dpx] %s", name, s.Width, p)
	}
	for _, p := range s.focusWalk() {
		s.t.Errorf("[%s %dpx] focus: %s", name, s.Width, p)
	}
	s.mu.Lock()
	problems := s.problems
	s.problems = nil
	s.mu.Unlock()
	for _, p := range problems {
		s.t.Errorf("[%s %dpx] %s", name, s.Width, p)
	}
}

// screenshot writes the whole page as a PNG into every ScreenshotDir.
func (s *Session) screenshot(name string) {
	s.t.Helper()
	if len(s.ScreenshotDirs) == 0 {
		return
	}
	png := step(s, "screenshot", chromedp.FullScreenshot(100))
	for _, dir := range s.ScreenshotDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, s.Width)), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// axeResult is the part of an axe-core violation a failure message needs.
type axeResult struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe injects axe-core into the page and runs the AxeTags rules; it returns one line
// per violating element: rule id, impact, target selector, what to fix and the help URL.
func (s *Session) axe() []string {
	s.t.Helper()
	step(s, "inject axe-core", chromedp.Evaluate[chromedp.Void](s.b.axe))
	tags, _ := json.Marshal(AxeTags)
	run := `axe.run(document, {runOnly: {type: "tag", values: ` + string(tags) + `}, resultTypes: ["violations"]})` +
		`.then(r => JSON.stringify(r.violations))`
	raw := step(s, "run axe-core", chromedp.Evaluate[string](run, func(p *runtime.EvaluateParams) {
		t := true
		p.AwaitPromise = &t
	}))
	var violations []axeResult
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		s.t.Fatalf("decode axe-core results: %v", err)
	}
	var out []string
	for _, v := range violations {
		for _, n := range v.Nodes {
			out = append(out, fmt.Sprintf("%s (%s) at %v: %s; %s (%s)", v.ID, v.Impact, n.Target, v.Help,
				strings.ReplaceAll(n.Summary, "\n", " "), v.HelpURL))
		}
	}
	return out
}

// structure checks what axe-core's WCAG rules leave to best practice or do not see:
// exactly one <h1>, a document language and title, and no horizontal scrolling at
// this width (WCAG 1.4.10 reflow).
func (s *Session) structure() []string {
	s.t.Helper()
	var got struct {
		H1       int    `json:"h1"`
		Lang     string `json:"lang"`
		Title    string `json:"title"`
		Overflow int    `json:"overflow"`
	}
	s.Eval(`({h1: document.querySelectorAll("h1").length, lang: document.documentElement.lang, title: document.title,
		overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth})`, &got)
	var out []string
	if got.H1 != 1 {
		out = append(out, fmt.Sprintf("%d <h1> elements, want 1", got.H1))
	}
	if strings.TrimSpace(got.Lang) == "" {
		out = append(out, "no lang on <html>")
	}
	if strings.TrimSpace(got.Title) == "" {
		out = append(out, "no <title>")
	}
	if got.Overflow > 0 {
		out = append(out, fmt.Sprintf("the page scrolls sideways by %d px", got.Overflow))
	}
	var faint []string
	s.Eval(controlContrast, &faint)
	for _, f := range faint {
		out = append(out, "non-text contrast (WCAG 1.4.11): "+f)
	}
	return out
}

// controlContrast lists the text fields and selects whose boundary (border, or a
// filled background) has less than 3:1 contrast against what surrounds them: axe-core
// does not check non-text contrast (WCAG 1.4.11). Colours are taken as opaque.
const controlContrast = `(() => {
	const parse = c => { const m = /rgba?\(([^)]+)\)/.exec(c); if (!m) return null;
		const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
	const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
	const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
	const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
	const behind = e => { for (let n = e.parentElement; n; n = n.parentElement) {
		const c = parse(getComputedStyle(n).backgroundColor); if (c && c.a > 0) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
	const out = [];
	document.querySelectorAll("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea").forEach(e => {
		if (!e.getClientRects().length) return;
		const cs = getComputedStyle(e), bg = behind(e);
		const border = parseFloat(cs.borderBottomWidth) > 0 ? parse(cs.borderBottomColor) : null;
		const fill = parse(cs.backgroundColor);
		const best = Math.max(border && border.a > 0 ? ratio(border, bg) : 1, fill && fill.a > 0 ? ratio(fill, bg) : 1);
		if (best < 3) out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + ": its boundary has " + best.toFixed(2) + ":1 against rgb(" + [bg.r, bg.g, bg.b] + "), want 3:1");
	});
	return out;
})()`

// focusables lists, in document order, the elements Tab should reach.
const focusables = `Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]'))
	.filter(e => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0)`

// describeActive names the focused element and reports whether its focus indicator
// shows: an outline of at least 2 px or a box shadow. It needs the element's tab
// position (data-focus-index, set before the walk).
const describeActive = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body) return {index: -1, name: "body", visible: false};
	const cs = getComputedStyle(e);
	const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2;
	const shadow = cs.boxShadow && cs.boxShadow !== "none";
	const name = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.name ? "[name=" + e.name + "]" : "") +
		" " + JSON.stringify((e.innerText || e.value || "").trim().slice(0, 40));
	return {index: e.dataset.focusIndex === undefined ? -1 : +e.dataset.focusIndex, name, visible: outline || shadow};
})()`

// focusWalk presses Tab from the top of the page through every focusable element: each
// must be reached once, in document order, and show a focus indicator (WCAG 2.4.3,
// 2.4.7, 2.1.1).
func (s *Session) focusWalk() []string {
	s.t.Helper()
	var n int
	s.Eval(`(() => { const f = `+focusables+`; f.forEach((e, i) => e.dataset.focusIndex = i);
		document.activeElement && document.activeElement.blur();
		document.body.setAttribute("tabindex", "-1"); document.body.focus(); document.body.removeAttribute("tabindex");
		return f.length; })()`, &n)
	var out []string
	for i := 0; i < n; i++ {
		step(s, "press Tab", chromedp.KeyEvent("\t"))
		var got struct {
			Index   int    `json:"index"`
			Name    string `json:"name"`
			Visible bool   `json:"visible"`
		}
		s.Eval(describeActive, &got)
		switch {
		case got.Index != i:
			out = append(out, fmt.Sprintf("Tab %d reached %s (position %d), want position %d", i+1, got.Name, got.Index, i))
			return out
		case !got.Visible:
			out = append(out, fmt.Sprintf("%s shows no focus indicator (outline ≥ 2px or box-shadow)", got.Name))
		}
	}
	s.Eval(`document.activeElement && document.activeElement.blur(), document.querySelectorAll("[data-focus-index]").forEach(e => delete e.dataset.focusIndex), null`, nil)
	return out
}
