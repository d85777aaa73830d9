package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func rowsForReport() []Row {
	return []Row{
		{Scenario: "trivial", Database: "sqlite", Server: serverBaseline, RPS: 10000},
		{Scenario: floorWrite, Database: "sqlite", Server: serverBaseline, RPS: 2500},
		{Scenario: floorRead, Database: "sqlite", Server: serverBaseline, RPS: 0}, // answered nothing
		{Scenario: "client_credentials", Database: "sqlite", Server: serverCustodian, Floor: floorWrite, RPS: 1000,
			P50ms: 40, P99ms: 160, P99OverP50: 4, Errors: 3, ErrorsBy: map[string]int{"429": 2, "200 no token": 1}, RSSMB: 45.4, CPUPerReqUs: 1015},
		{Scenario: "introspection", Database: "sqlite", Server: serverCustodian, Floor: floorRead, RPS: 2000},
		{Scenario: "jwks", Database: "sqlite", Server: serverCustodian, RPS: 5000, P50ms: 2, P99ms: 6, P99OverP50: 3, TailOK: true, RSSMB: 160},
	}
}

func TestSetRatios(t *testing.T) {
	rows := rowsForReport()
	setRatios(rows)
	want := map[string][2]*float64{ // ratio to trivial, ratio to floor
		"trivial":            {nil, nil},
		floorWrite:           {ptr(0.25), nil},
		floorRead:            {ptr(0), nil},
		"client_credentials": {ptr(0.1), ptr(0.4)},
		"introspection":      {ptr(0.2), nil}, // its floor answered nothing: no ratio
		"jwks":               {ptr(0.5), nil},
	}
	for _, r := range rows {
		w := want[r.Scenario]
		if !sameRatio(r.RatioTrivial, w[0]) || !sameRatio(r.RatioFloor, w[1]) {
			t.Errorf("%s: ratios %s %s, want %s %s", r.Scenario, ratio(r.RatioTrivial), ratio(r.RatioFloor), ratio(w[0]), ratio(w[1]))
		}
	}
}

func TestSetRatiosWithoutTrivial(t *testing.T) {
	rows := []Row{{Scenario: "jwks", Server: serverCustodian, RPS: 100}}
	setRatios(rows)
	if rows[0].RatioTrivial != nil {
		t.Fatalf("ratio %v without a trivial row", *rows[0].RatioTrivial)
	}
}

func ptr(v float64) *float64 { return &v }

func sameRatio(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a-*b < 1e-9 && *b-*a < 1e-9
}

func TestWriteTable(t *testing.T) {
	rows := rowsForReport()
	setRatios(rows)
	rep := &Report{Results: rows, Goals: []GoalSummary{summarize(rows)}, Notes: []string{"a note"}, Failures: []string{"postgres: boom"},
		Settings: Settings{Connections: 50, DurationS: 10, WarmupS: 2, Tenants: 1000, SeededTokens: 1000000},
		Machine:  Machine{CPUs: 2, CPUModel: "AMD EPYC", GoVersion: "go1.26.8", Revision: "abc123"}}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	head, out, _ := strings.Cut(out, "\n")
	if want := "50 connections, 10s measured after 2s warm-up, 1000 tenant(s), 1000000 seeded token rows; 2 CPUs (AMD EPYC), go1.26.8, custodian abc123"; head != want {
		t.Errorf("first line:\n got %q\nwant %q", head, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+len(rows)+1+2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, h := range []string{"scenario", "req/s", "p50 ms", "p99 ms", "p99/p50", "×trivial", "×floor", "goal", "errors", "RSS MB", "CPU µs/req"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header lacks %q: %s", h, lines[0])
		}
	}
	cc := strings.Fields(lines[4])
	wantCC := []string{"client_credentials", "sqlite", "1000", "40.00", "160.00", "4.0!", "0.100", "0.400", "write", "≥0.8×write", "MISSED",
		"3", "(200-no-token×1", "429×2)", "45", "1015"}
	if strings.Join(cc, " ") != strings.Join(wantCC, " ") {
		t.Errorf("client_credentials row:\n got %q\nwant %q", cc, wantCC)
	}
	if f := strings.Fields(lines[1]); f[6] != "—" || f[7] != "—" || f[8] != "—" {
		t.Errorf("trivial row has ratios: %s", lines[1])
	}
	// Columns line up: every row's req/s starts where the header's does.
	col := strings.Index(lines[0], "req/s")
	for _, l := range lines[1 : 1+len(rows)] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row: %q", l)
		}
	}
	if want := "goals sqlite: ratios 1/2 met, p99 ≤ 3×p50 1/2, RSS under load 160 MB (goal < 150 MB) MISSED; " +
		"missed: client_credentials 0.40×floor-write < 0.8, client_credentials p99/p50 4.0, RSS 160 MB"; lines[1+len(rows)] != want {
		t.Errorf("goals line:\n got %q\nwant %q", lines[1+len(rows)], want)
	}
	if jw := strings.Fields(lines[6]); jw[9] != "ok" || jw[len(jw)-2] != "160!" {
		t.Errorf("jwks row: %s", lines[6])
	}
	if !strings.Contains(out, "note: a note") || !strings.Contains(out, "FAILED: postgres: boom") {
		t.Errorf("notes and failures missing:\n%s", out)
	}
}

func TestWriteJSON(t *testing.T) {
	rows := rowsForReport()
	setRatios(rows)
	rep := &Report{Started: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Machine: Machine{CPUs: 2, GoVersion: "go1.26"},
		Settings: Settings{Connections: 50, DurationS: 10}, Results: rows}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Settings struct {
			Connections int `json:"connections"`
		} `json:"settings"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Settings.Connections != 50 || len(got.Results) != len(rows) {
		t.Fatalf("settings %+v, %d results", got.Settings, len(got.Results))
	}
	cc := got.Results[3]
	if cc["scenario"] != "client_credentials" || cc["ratio_floor"] != 0.4 || cc["ratio_trivial"] != 0.1 || cc["errors"] != 3.0 {
		t.Errorf("client_credentials: %v", cc)
	}
	if by, _ := cc["errors_by"].(map[string]any); by["429"] != 2.0 {
		t.Errorf("errors_by: %v", cc["errors_by"])
	}
	if _, ok := got.Results[0]["ratio_trivial"]; ok {
		t.Errorf("trivial has a ratio to itself: %v", got.Results[0])
	}
}

func TestNewRow(t *testing.T) {
	m := measurement{Requests: 200, OK: 150, Span: 2 * time.Second, P50: 10 * time.Millisecond, P99: 35 * time.Millisecond,
		Errors: map[string]int{"500": 50}, Samples: map[string]string{"500": "boom"}}
	sc := scenario{Name: "anonymous", Server: serverCustodian, Floor: floorWrite}
	r := newRow(sc, "postgres", m, 64<<20, 300*time.Millisecond)
	if r.RPS != 75 || r.Errors != 50 || r.P99OverP50 != 3.5 || r.RSSMB != 64 || r.CPUPerReqUs != 1500 || r.Floor != floorWrite {
		t.Fatalf("%+v", r)
	}
	if r.ErrorSamples["500"] != "boom" {
		t.Fatalf("samples %v", r.ErrorSamples)
	}
}

// TestGoals: each scenario with a goal is judged on the ratio to its yardstick; the
// tail and RSS goals on every Custodian row.
func TestGoals(t *testing.T) {
	rows := []Row{
		{Scenario: "trivial", Server: serverBaseline, RPS: 10000, P50ms: 1, P99ms: 5, P99OverP50: 5}, // a baseline's tail is not Custodian's
		{Scenario: floorWrite, Server: serverBaseline, RPS: 2000},
		{Scenario: floorRead, Server: serverBaseline, RPS: 4000},
		{Scenario: "jwks", Server: serverCustodian, RPS: 5000, TailOK: true, RSSMB: 60},                     // 0.5 of trivial: met
		{Scenario: "discovery", Server: serverCustodian, RPS: 4999, TailOK: true, RSSMB: 61},                // just under
		{Scenario: "refresh-customer", Server: serverCustodian, Floor: floorWrite, RPS: 1600, TailOK: true}, // 0.8 of the write floor
		{Scenario: "me-jwt", Server: serverCustodian, Floor: floorRead, RPS: 3000, P99OverP50: 3.5},         // 0.75 of the read floor, long tail
		{Scenario: "signin", Server: serverCustodian, RPS: 50, TailOK: true, RSSMB: 149},                    // no ratio goal
		{Scenario: "userinfo", Server: serverCustodian, Floor: floorRead},                                   // answered nothing: no tail
	}
	for i := range rows {
		rows[i].Database = "postgres"
		if rows[i].Server == serverCustodian && rows[i].Scenario != "userinfo" {
			rows[i].P50ms = 1
		}
	}
	setRatios(rows)
	want := map[string]*GoalResult{
		"jwks":             {Of: "trivial", Min: 0.5, Ratio: 0.5, Met: true},
		"discovery":        {Of: "trivial", Min: 0.5, Ratio: 0.4999, Met: false},
		"refresh-customer": {Of: floorWrite, Min: 0.8, Ratio: 0.8, Met: true},
		"me-jwt":           {Of: floorRead, Min: 0.8, Ratio: 0.75, Met: false},
		"userinfo":         {Of: floorRead, Min: 0.8, Ratio: 0, Met: false},
	}
	for _, r := range rows {
		w, g := want[r.Scenario], r.Goal
		if (w == nil) != (g == nil) {
			t.Errorf("%s: goal %+v, want %+v", r.Scenario, g, w)
			continue
		}
		if w != nil && (g.Of != w.Of || g.Min != w.Min || g.Met != w.Met || !sameRatio(&g.Ratio, &w.Ratio)) {
			t.Errorf("%s: goal %+v, want %+v", r.Scenario, *g, *w)
		}
	}
	s := summarize(rows)
	if s.Database != "postgres" || s.Ratios != 5 || s.RatiosMet != 2 || s.Tails != 5 || s.TailsMet != 4 || s.MaxRSSMB != 149 || !s.RSSMet {
		t.Fatalf("summary %+v", s)
	}
	if got := strings.Join(s.Missed, "; "); got != "discovery 0.50×trivial < 0.5; me-jwt 0.75×floor-read < 0.8; me-jwt p99/p50 3.5; userinfo 0.00×floor-read < 0.8" {
		t.Errorf("missed: %s", got)
	}
	rows[len(rows)-2].RSSMB = 150 // signin
	if s := summarize(rows); s.RSSMet {
		t.Error("150 MB met the goal of less than 150 MB")
	}
}

// TestFlatRows pairs each scenario's rows at the two sizes and judges Custodian's by
// their ratio to the yardstick (the floor, else trivial), which takes out what the
// machine did between the two runs.
func TestFlatRows(t *testing.T) {
	small, large := flatSizes[0], flatSizes[1]
	mk := func(sz dbSize, sc, server, floor string, rps, p99 float64) Row {
		return Row{Scenario: sc, Database: "sqlite", Server: server, Floor: floor, Tenants: sz.Tenants, SeededTokens: sz.SeedTokens, RPS: rps, P99ms: p99}
	}
	a := []Row{mk(small, "trivial", serverBaseline, "", 10000, 1), mk(small, floorRead, serverBaseline, "", 4000, 2),
		mk(small, "introspection-customer", serverCustodian, floorRead, 2000, 10),
		mk(small, "jwks", serverCustodian, "", 5000, 3), mk(small, "signin", serverCustodian, "", 50, 900)}
	// The machine was busier during the large run: everything fell by half.
	b := []Row{mk(large, "trivial", serverBaseline, "", 5000, 2), mk(large, floorRead, serverBaseline, "", 2000, 4),
		mk(large, "introspection-customer", serverCustodian, floorRead, 900, 25),
		mk(large, "jwks", serverCustodian, "", 2500, 5)} // signin did not run at the large size
	setRatios(a)
	setRatios(b)
	got := flatRows(append(append([]Row{}, a...), b...))
	if len(got) != 4 {
		t.Fatalf("%d flat rows, want 4: %+v", len(got), got)
	}
	tr, fl, in, jw := got[0], got[1], got[2], got[3]
	if tr.Scenario != "trivial" || tr.Normalized != nil || tr.Met != nil || tr.RPSRatio != 0.5 {
		t.Errorf("trivial: %+v", tr)
	}
	if !sameRatio(fl.Normalized, ptr(1)) || fl.NormalizedBy != "trivial" || fl.Met != nil {
		t.Errorf("floor-read: %+v", fl)
	}
	// 900/2000 over 2000/4000 = 0.9 of its floor: flat, although req/s fell to 0.45.
	if in.RPSRatio != 0.45 || !sameRatio(in.Normalized, ptr(0.9)) || in.NormalizedBy != floorRead || in.Met == nil || !*in.Met ||
		in.SmallP99ms != 10 || in.LargeP99ms != 25 {
		t.Errorf("introspection-customer: %+v", in)
	}
	if !sameRatio(jw.Normalized, ptr(1)) || jw.NormalizedBy != "trivial" || !*jw.Met {
		t.Errorf("jwks: %+v", jw)
	}
	b[2].RPS = 700 // 0.7 of its small ratio to the floor
	setRatios(b)
	got = flatRows(append(append([]Row{}, a...), b...))
	if *got[2].Met {
		t.Errorf("0.7 of the small size's ratio met the flat goal: %+v", got[2])
	}
	var out bytes.Buffer
	if err := writeFlat(&out, got); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "flat cost: 1000t/1M against 1t/10k") || !strings.Contains(s, "0.700 read") ||
		!strings.Contains(s, "MISSED") {
		t.Errorf("flat table:\n%s", s)
	}
}

func TestShortCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 10000: "10k", 1000000: "1M", 1500: "1500", 2500000: "2500k"} {
		if got := shortCount(n); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
}
