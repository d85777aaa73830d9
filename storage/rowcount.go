package storage

// Row counts of every table, for the tests and the measurement that show what a kind
// of request costs the database (docs/performance.md).

import (
	"context"
	"fmt"
)

// RowCounts counts the rows of every table of the schema (goose's own bookkeeping
// included).
func (s *Store) RowCounts(ctx context.Context) (map[string]int, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if s.dialect == Postgres {
		q = `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`
	}
	var tables []string
	if err := s.sel(ctx, &tables, q); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make(map[string]int, len(tables))
	for _, t := range tables {
		var n int
		// The name comes from the catalogue, quoted as an identifier.
		if err := s.get(ctx, &n, `SELECT COUNT(*) FROM "`+t+`"`); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}

// TotalRows is the sum of RowCounts.
func TotalRows(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
