package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one run of the harness, as printed and as written to -json.
type Report struct {
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Results  []Row     `json:"results"`
	Notes    []string  `json:"notes,omitempty"`
	Failures []string  `json:"failures,omitempty"`
}

// Machine is where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	MemoryMB  int    `json:"memory_mb,omitempty"`
	GoVersion string `json:"go_version"`
	// Revision is the VCS revision the custodian binary was built from (with
	// "-modified" when its tree had changes).
	Revision string `json:"custodian_revision,omitempty"`
}

// Settings are the harness's knobs for the run.
type Settings struct {
	Connections    int     `json:"connections"`
	DurationS      float64 `json:"duration_s"`
	WarmupS        float64 `json:"warmup_s"`
	Tenants        int     `json:"tenants"`
	SeededTokens   int     `json:"seeded_tokens"`
	SeedExpired    float64 `json:"seed_expired_share"`
	Pool           int     `json:"token_pool"`
	CustomerTokens int     `json:"customer_tokens"`
	SignInAccounts int     `json:"signin_accounts"`
	ServerLogLevel string  `json:"server_log_level"`
}

// Row is one scenario on one database.
type Row struct {
	Scenario string `json:"scenario"`
	Database string `json:"database"`
	Server   string `json:"server"`
	Floor    string `json:"floor,omitempty"`

	Requests uint64  `json:"requests"`
	OK       uint64  `json:"ok"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
	// P99OverP50 is the tail: the goal is at most 3.
	P99OverP50 float64 `json:"p99_over_p50"`

	// RatioTrivial is RPS over the trivial handler's in the same run on the same
	// database; RatioFloor is RPS over the scenario's floor's. Absent when there is
	// nothing to compare with.
	RatioTrivial *float64 `json:"ratio_trivial,omitempty"`
	RatioFloor   *float64 `json:"ratio_floor,omitempty"`

	Errors       int               `json:"errors"`
	ErrorsBy     map[string]int    `json:"errors_by,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`

	// RSSMB is the largest resident set of the loaded process sampled during the
	// measurement; CPUPerReqUs is that process's CPU time (user + system) per request.
	RSSMB       float64 `json:"rss_mb"`
	CPUPerReqUs float64 `json:"cpu_per_request_us"`
}

// newRow makes a row of a measurement.
func newRow(sc scenario, db string, m measurement, rss uint64, cpu time.Duration) Row {
	r := Row{Scenario: sc.Name, Database: db, Server: sc.Server, Floor: sc.Floor,
		Requests: m.Requests, OK: m.OK, RPS: m.RPS(),
		P50ms: ms(m.P50), P90ms: ms(m.P90), P99ms: ms(m.P99), Maxms: ms(m.Max),
		Errors: m.ErrorCount(), RSSMB: float64(rss) / (1 << 20)}
	if m.P50 > 0 {
		r.P99OverP50 = float64(m.P99) / float64(m.P50)
	}
	if len(m.Errors) > 0 {
		r.ErrorsBy, r.ErrorSamples = m.Errors, m.Samples
	}
	if m.Requests > 0 {
		r.CPUPerReqUs = float64(cpu.Microseconds()) / float64(m.Requests)
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// setRatios fills in the ratios of the rows of one database from its trivial and floor
// rows. A yardstick that answered nothing gives no ratio.
func setRatios(rows []Row) {
	base := map[string]float64{}
	for _, r := range rows {
		if r.Server == serverBaseline && r.RPS > 0 {
			base[r.Scenario] = r.RPS
		}
	}
	for i := range rows {
		r := &rows[i]
		if t, ok := base["trivial"]; ok && r.Scenario != "trivial" {
			v := r.RPS / t
			r.RatioTrivial = &v
		}
		if f, ok := base[r.Floor]; ok && r.Floor != "" {
			v := r.RPS / f
			r.RatioFloor = &v
		}
	}
}

// WriteTable prints what was run where, the results as an aligned table, then the
// notes.
func (rep *Report) WriteTable(w io.Writer) error {
	st, mc := rep.Settings, rep.Machine
	fmt.Fprintf(w, "%d connections, %gs measured after %gs warm-up, %d tenant(s), %d seeded token rows; %d CPUs (%s), %s, custodian %s\n",
		st.Connections, st.DurationS, st.WarmupS, st.Tenants, st.SeededTokens, mc.CPUs, mc.CPUModel, mc.GoVersion, mc.Revision)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tdb\treq/s\tp50 ms\tp99 ms\t×trivial\t×floor\terrors\tRSS MB\tCPU µs/req\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s\t%s\t%.0f\t%.0f\t\n", r.Scenario, r.Database, r.RPS, r.P50ms, r.P99ms,
			ratio(r.RatioTrivial), floorCell(r), errorCell(r), r.RSSMB, r.CPUPerReqUs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "FAILED:", f)
	}
	return nil
}

func ratio(v *float64) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', 3, 64)
}

func floorCell(r Row) string {
	if r.RatioFloor == nil {
		return "—"
	}
	return ratio(r.RatioFloor) + " " + strings.TrimPrefix(r.Floor, "floor-")
}

// errorCell is the count of failed requests with a breakdown: "12 (429×10 transport×2)".
func errorCell(r Row) string {
	if r.Errors == 0 {
		return "0"
	}
	keys := slices.Sorted(maps.Keys(r.ErrorsBy))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strings.ReplaceAll(k, " ", "-") + "×" + strconv.Itoa(r.ErrorsBy[k])
	}
	return fmt.Sprintf("%d (%s)", r.Errors, strings.Join(parts, " "))
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}
