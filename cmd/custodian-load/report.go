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
	// Goals sums up, per database (and size, with -flat), which of issue 13's goals the
	// run met.
	Goals []GoalSummary `json:"goals,omitempty"`
	// Flat compares each scenario's two sizes of a -flat run.
	Flat     []FlatRow `json:"flat,omitempty"`
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
	// Flat: every database ran twice, at the two sizes of flatSizes (the rows say which).
	Flat bool `json:"flat,omitempty"`
}

// Row is one scenario on one database.
type Row struct {
	Scenario string `json:"scenario"`
	Database string `json:"database"`
	Server   string `json:"server"`
	Floor    string `json:"floor,omitempty"`
	// Tenants and SeededTokens are the size of the database the row was measured on.
	Tenants      int `json:"tenants"`
	SeededTokens int `json:"seeded_tokens"`

	Requests uint64  `json:"requests"`
	OK       uint64  `json:"ok"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
	// P99OverP50 is the tail: the goal is at most 3 (maxTail); TailOK says it is met.
	P99OverP50 float64 `json:"p99_over_p50"`
	TailOK     bool    `json:"p99_within_3x_p50"`

	// RatioTrivial is RPS over the trivial handler's in the same run on the same
	// database; RatioFloor is RPS over the scenario's floor's. Absent when there is
	// nothing to compare with.
	RatioTrivial *float64 `json:"ratio_trivial,omitempty"`
	RatioFloor   *float64 `json:"ratio_floor,omitempty"`
	// Goal is the scenario's goal, the ratio it is judged on and whether it was met;
	// absent for a scenario without a goal or whose yardstick answered nothing.
	Goal *GoalResult `json:"goal,omitempty"`

	Errors       int               `json:"errors"`
	ErrorsBy     map[string]int    `json:"errors_by,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`

	// RSSMB is the largest resident set of the loaded process sampled during the
	// measurement; CPUPerReqUs is that process's CPU time (user + system) per request.
	RSSMB       float64 `json:"rss_mb"`
	CPUPerReqUs float64 `json:"cpu_per_request_us"`
}

// GoalResult is a row's goal: req/s at least Min times Of's, and what it was.
type GoalResult struct {
	Of    string  `json:"of"`
	Min   float64 `json:"min"`
	Ratio float64 `json:"ratio"`
	Met   bool    `json:"met"`
}

// The goals of issue 13 that every row is held to.
const (
	maxTail   = 3.0 // p99 at most 3 × p50
	rssGoalMB = 150 // Custodian's resident set under load below 150 MB
)

// GoalSummary is how one database (at one size) did against the goals.
type GoalSummary struct {
	Database     string `json:"database"`
	Tenants      int    `json:"tenants"`
	SeededTokens int    `json:"seeded_tokens"`
	RatiosMet    int    `json:"ratios_met"`
	Ratios       int    `json:"ratios"`
	// TailsMet of Tails Custodian rows had p99 ≤ 3 × p50.
	TailsMet int `json:"tails_met"`
	Tails    int `json:"tails"`
	// MaxRSSMB is the largest resident set of Custodian sampled under load; RSSMet says
	// it stayed below rssGoalMB.
	MaxRSSMB float64 `json:"max_rss_mb"`
	RSSMet   bool    `json:"rss_met"`
	// Missed names what was not met: "jwks 0.41×trivial < 0.5", "refresh p99/p50 4.2".
	Missed []string `json:"missed,omitempty"`
}

// newRow makes a row of a measurement.
func newRow(sc scenario, db string, m measurement, rss uint64, cpu time.Duration) Row {
	r := Row{Scenario: sc.Name, Database: db, Server: sc.Server, Floor: sc.Floor,
		Requests: m.Requests, OK: m.OK, RPS: m.RPS(),
		P50ms: ms(m.P50), P90ms: ms(m.P90), P99ms: ms(m.P99), Maxms: ms(m.Max),
		Errors: m.ErrorCount(), RSSMB: float64(rss) / (1 << 20)}
	if m.P50 > 0 {
		r.P99OverP50 = float64(m.P99) / float64(m.P50)
		r.TailOK = r.P99OverP50 <= maxTail
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
		if g := goalOf(r.Scenario); g.Min > 0 {
			if y, ok := base[g.Of]; ok {
				v := r.RPS / y
				r.Goal = &GoalResult{Of: g.Of, Min: g.Min, Ratio: v, Met: v >= g.Min}
			}
		}
	}
}

// goalOf is the goal of the scenario named name.
func goalOf(name string) goal {
	for _, s := range scenarios() {
		if s.Name == name {
			return s.Goal
		}
	}
	return goal{}
}

// summarize holds the rows of one database at one size (setRatios done) against the
// goals.
func summarize(rows []Row) GoalSummary {
	var g GoalSummary
	if len(rows) > 0 {
		g.Database, g.Tenants, g.SeededTokens = rows[0].Database, rows[0].Tenants, rows[0].SeededTokens
	}
	for _, r := range rows {
		if r.Goal != nil {
			g.Ratios++
			if r.Goal.Met {
				g.RatiosMet++
			} else {
				g.Missed = append(g.Missed, fmt.Sprintf("%s %.2f×%s < %g", r.Scenario, r.Goal.Ratio, r.Goal.Of, r.Goal.Min))
			}
		}
		if r.Server != serverCustodian || r.P50ms == 0 {
			continue // a yardstick, or nothing answered
		}
		g.Tails++
		if r.TailOK {
			g.TailsMet++
		} else {
			g.Missed = append(g.Missed, fmt.Sprintf("%s p99/p50 %.1f", r.Scenario, r.P99OverP50))
		}
		g.MaxRSSMB = max(g.MaxRSSMB, r.RSSMB)
	}
	g.RSSMet = g.Tails > 0 && g.MaxRSSMB < rssGoalMB
	if g.Tails > 0 && !g.RSSMet {
		g.Missed = append(g.Missed, fmt.Sprintf("RSS %.0f MB", g.MaxRSSMB))
	}
	return g
}

// WriteTable prints what was run where, the results as an aligned table, how each
// database did against the goals, the flat-cost comparison of a -flat run, then the
// notes. A "!" marks what misses a goal: a p99 over 3 × p50, Custodian's RSS at or
// over 150 MB.
func (rep *Report) WriteTable(w io.Writer) error {
	st, mc := rep.Settings, rep.Machine
	size := fmt.Sprintf("%d tenant(s), %d seeded token rows", st.Tenants, st.SeededTokens)
	if st.Flat {
		size = "flat cost: " + sizeLabel(flatSizes[0]) + " and " + sizeLabel(flatSizes[1])
	}
	fmt.Fprintf(w, "%d connections, %gs measured after %gs warm-up, %s; %d CPUs (%s), %s, custodian %s\n",
		st.Connections, st.DurationS, st.WarmupS, size, mc.CPUs, mc.CPUModel, mc.GoVersion, mc.Revision)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sizeHead := ""
	if st.Flat {
		sizeHead = "size\t"
	}
	fmt.Fprintln(tw, "scenario\tdb\t"+sizeHead+"req/s\tp50 ms\tp99 ms\tp99/p50\t×trivial\t×floor\tgoal\terrors\tRSS MB\tCPU µs/req\t")
	for _, r := range rep.Results {
		sizeCell := ""
		if st.Flat {
			sizeCell = sizeLabel(dbSize{Tenants: r.Tenants, SeedTokens: r.SeededTokens}) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%.0f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n", r.Scenario, r.Database, sizeCell, r.RPS, r.P50ms, r.P99ms,
			tailCell(r), ratio(r.RatioTrivial), floorCell(r), goalCell(r), errorCell(r), rssCell(r), r.CPUPerReqUs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range rep.Goals {
		fmt.Fprintln(w, goalLine(g, st.Flat))
	}
	if len(rep.Flat) > 0 {
		if err := writeFlat(w, rep.Flat); err != nil {
			return err
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "FAILED:", f)
	}
	return nil
}

// tailCell is p99/p50, with "!" when over maxTail.
func tailCell(r Row) string {
	if r.P50ms == 0 {
		return "—"
	}
	c := strconv.FormatFloat(r.P99OverP50, 'f', 1, 64)
	if !r.TailOK {
		c += "!"
	}
	return c
}

// goalCell is "≥0.8×write ok" or "≥0.5×trivial MISSED".
func goalCell(r Row) string {
	if r.Goal == nil {
		return "—"
	}
	verdict := "ok"
	if !r.Goal.Met {
		verdict = "MISSED"
	}
	return fmt.Sprintf("≥%g×%s %s", r.Goal.Min, strings.TrimPrefix(r.Goal.Of, "floor-"), verdict)
}

// rssCell is the RSS in MB, with "!" when Custodian's reached rssGoalMB.
func rssCell(r Row) string {
	c := strconv.FormatFloat(r.RSSMB, 'f', 0, 64)
	if r.Server == serverCustodian && r.RSSMB >= rssGoalMB {
		c += "!"
	}
	return c
}

// goalLine is a database's line of goals: "goals sqlite: ratios 7/9 met, p99 ≤ 3×p50
// 10/11, RSS under load 96 MB (goal < 150 MB) met; missed: jwks 0.41×trivial < 0.5".
func goalLine(g GoalSummary, withSize bool) string {
	db := g.Database
	if withSize {
		db += " (" + sizeLabel(dbSize{Tenants: g.Tenants, SeedTokens: g.SeededTokens}) + ")"
	}
	rss := "met"
	if !g.RSSMet {
		rss = "MISSED"
	}
	line := fmt.Sprintf("goals %s: ratios %d/%d met, p99 ≤ %g×p50 %d/%d, RSS under load %.0f MB (goal < %d MB) %s", db,
		g.RatiosMet, g.Ratios, maxTail, g.TailsMet, g.Tails, g.MaxRSSMB, rssGoalMB, rss)
	if len(g.Missed) > 0 {
		line += "; missed: " + strings.Join(g.Missed, ", ")
	}
	return line
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
