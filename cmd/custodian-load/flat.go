package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
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

// flatGoal: the large size's ratio to its yardstick should be at least this share of
// the small size's. The yardstick is the scenario's floor where it has one (the floor's
// table is never seeded, so it stays the same work at both sizes, on the same database,
// measured beside it), else the trivial handler. Both sizes share the machine with
// whatever else runs, minutes apart; the yardstick takes most of that out, a 20% margin
// the rest.
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
	Floor    string  `json:"floor,omitempty"`
	SmallRPS float64 `json:"small_rps"`
	LargeRPS float64 `json:"large_rps"`
	// RPSRatio is LargeRPS / SmallRPS.
	RPSRatio float64 `json:"rps_ratio"`
	// Normalized is the large size's ratio to the yardstick (NormalizedBy: the
	// scenario's floor, else trivial) over the small size's: the figure the flat goal
	// is judged on (absent for trivial).
	Normalized   *float64 `json:"normalized_ratio,omitempty"`
	NormalizedBy string   `json:"normalized_by,omitempty"`
	SmallP99ms   float64  `json:"small_p99_ms"`
	LargeP99ms   float64  `json:"large_p99_ms"`
	// Met: Normalized ≥ flatGoal (Custodian's rows only).
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
		f := FlatRow{Scenario: s.Scenario, Database: s.Database, Server: s.Server, Floor: s.Floor, SmallRPS: s.RPS, LargeRPS: l.RPS,
			SmallP99ms: s.P99ms, LargeP99ms: l.P99ms}
		if s.RPS > 0 {
			f.RPSRatio = l.RPS / s.RPS
		}
		sr, lr, by := s.RatioTrivial, l.RatioTrivial, "trivial"
		if s.Floor != "" {
			sr, lr, by = s.RatioFloor, l.RatioFloor, s.Floor
		}
		if sr != nil && lr != nil && *sr > 0 {
			v := *lr / *sr
			f.Normalized, f.NormalizedBy = &v, by
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
	fmt.Fprintf(w, "\nflat cost: %s against %s (goal: the ratio to the yardstick, the scenario's floor or else trivial, at %s ≥ %g of that at %s)\n",
		b, a, b, flatGoal, a)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tdb\treq/s %s\treq/s %s\tratio\tby yardstick\tp99 ms %s\tp99 ms %s\tflat\t\n", a, b, a, b)
	for _, f := range rows {
		verdict := "—"
		if f.Met != nil {
			verdict = "ok"
			if !*f.Met {
				verdict = "MISSED"
			}
		}
		by := "—"
		if f.Normalized != nil {
			by = ratio(f.Normalized) + " " + strings.TrimPrefix(f.NormalizedBy, "floor-")
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.3f\t%s\t%.2f\t%.2f\t%s\t\n", f.Scenario, f.Database, f.SmallRPS, f.LargeRPS, f.RPSRatio,
			by, f.SmallP99ms, f.LargeP99ms, verdict)
	}
	return tw.Flush()
}
