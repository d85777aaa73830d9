package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// Flat cost (issue 13): the same figures with 1 tenant and 10,000 stored tokens as with
// 1,000 tenants and 1,000,000. With -flat every database runs twice, once at each size
// of flatSizes, each on a fresh scratch database, and the report sets each scenario's
// two rows side by side.

// dbSize is how big the database is made before the load: tenants created through
// the admin API, token rows seeded.
type dbSize struct {
	Tenants    int
	SeedTokens int
}

// flatSizes are the two sizes of a -flat run, small first.
var flatSizes = [2]dbSize{{Tenants: 1, SeedTokens: 10_000}, {Tenants: 1000, SeedTokens: 1_000_000}}

// flatGoal: the large size's ratio to trivial should be at least this share of the
// small size's. Both sizes share the machine with whatever else runs, minutes apart;
// the ratio to trivial (measured beside each) takes most of that out, a 20% margin the
// rest.
const flatGoal = 0.8

// sizeLabel is "1000t/1M": tenants and seeded token rows.
func sizeLabel(s dbSize) string {
	return strconv.Itoa(s.Tenants) + "t/" + shortCount(s.SeedTokens)
}

// shortCount is 10000 as "10k", 1000000 as "1M"; other numbers as they are.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// FlatRow is one scenario on one database at both sizes of a -flat run.
type FlatRow struct {
	Scenario string  `json:"scenario"`
	Database string  `json:"database"`
	Server   string  `json:"server"`
	SmallRPS float64 `json:"small_rps"`
	LargeRPS float64 `json:"large_rps"`
	// RPSRatio is LargeRPS / SmallRPS.
	RPSRatio float64 `json:"rps_ratio"`
	// TrivialRatio is the large size's ratio to trivial over the small size's: the
	// figure the flat goal is judged on (absent for the yardsticks).
	TrivialRatio *float64 `json:"trivial_ratio,omitempty"`
	SmallP99ms   float64  `json:"small_p99_ms"`
	LargeP99ms   float64  `json:"large_p99_ms"`
	// Met: TrivialRatio ≥ flatGoal (Custodian's rows only).
	Met *bool `json:"met,omitempty"`
}

// flatRows pairs each scenario's rows at the two sizes, per database, in the order of
// rows.
func flatRows(rows []Row) []FlatRow {
	type key struct{ db, sc string }
	large := map[key]Row{}
	for _, r := range rows {
		if r.Tenants == flatSizes[1].Tenants && r.SeededTokens == flatSizes[1].SeedTokens {
			large[key{r.Database, r.Scenario}] = r
		}
	}
	var out []FlatRow
	for _, s := range rows {
		if s.Tenants != flatSizes[0].Tenants || s.SeededTokens != flatSizes[0].SeedTokens {
			continue
		}
		l, ok := large[key{s.Database, s.Scenario}]
		if !ok {
			continue
		}
		f := FlatRow{Scenario: s.Scenario, Database: s.Database, Server: s.Server, SmallRPS: s.RPS, LargeRPS: l.RPS,
			SmallP99ms: s.P99ms, LargeP99ms: l.P99ms}
		if s.RPS > 0 {
			f.RPSRatio = l.RPS / s.RPS
		}
		if s.RatioTrivial != nil && l.RatioTrivial != nil && *s.RatioTrivial > 0 {
			v := *l.RatioTrivial / *s.RatioTrivial
			f.TrivialRatio = &v
			if s.Server == serverCustodian {
				met := v >= flatGoal
				f.Met = &met
			}
		}
		out = append(out, f)
	}
	return out
}

// writeFlat prints the flat-cost comparison.
func writeFlat(w io.Writer, rows []FlatRow) error {
	a, b := sizeLabel(flatSizes[0]), sizeLabel(flatSizes[1])
	fmt.Fprintf(w, "\nflat cost: %s against %s (goal: ×trivial at %s ≥ %g of ×trivial at %s)\n", b, a, b, flatGoal, a)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tdb\treq/s %s\treq/s %s\tratio\t×trivial ratio\tp99 ms %s\tp99 ms %s\tflat\t\n", a, b, a, b)
	for _, f := range rows {
		verdict := "—"
		if f.Met != nil {
			verdict = "ok"
			if !*f.Met {
				verdict = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.3f\t%s\t%.2f\t%.2f\t%s\t\n", f.Scenario, f.Database, f.SmallRPS, f.LargeRPS, f.RPSRatio,
			ratio(f.TrivialRatio), f.SmallP99ms, f.LargeP99ms, verdict)
	}
	return tw.Flush()
}
