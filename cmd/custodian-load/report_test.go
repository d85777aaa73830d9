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
			P50ms: 40, P99ms: 160, Errors: 3, ErrorsBy: map[string]int{"429": 2, "200 no token": 1}, RSSMB: 45.4, CPUPerReqUs: 1015},
		{Scenario: "introspection", Database: "sqlite", Server: serverCustodian, Floor: floorRead, RPS: 2000},
		{Scenario: "jwks", Database: "sqlite", Server: serverCustodian, RPS: 5000},
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
	rep := &Report{Results: rows, Notes: []string{"a note"}, Failures: []string{"postgres: boom"},
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
	if len(lines) != 1+len(rows)+2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, h := range []string{"scenario", "req/s", "p50 ms", "p99 ms", "×trivial", "×floor", "errors", "RSS MB", "CPU µs/req"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header lacks %q: %s", h, lines[0])
		}
	}
	cc := strings.Fields(lines[4])
	wantCC := []string{"client_credentials", "sqlite", "1000", "40.00", "160.00", "0.100", "0.400", "write", "3", "(200-no-token×1", "429×2)", "45", "1015"}
	if strings.Join(cc, " ") != strings.Join(wantCC, " ") {
		t.Errorf("client_credentials row:\n got %q\nwant %q", cc, wantCC)
	}
	if f := strings.Fields(lines[1]); f[5] != "—" || f[6] != "—" {
		t.Errorf("trivial row has ratios: %s", lines[1])
	}
	// Columns line up: every row's req/s starts where the header's does.
	col := strings.Index(lines[0], "req/s")
	for _, l := range lines[1 : 1+len(rows)] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("misaligned row: %q", l)
		}
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
