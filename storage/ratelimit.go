package storage

// Rate-limit counters (customer/ratelimit.go): fixed-window buckets that every node
// shares through the database.

import (
	"context"
	"fmt"
	"time"
)

// Hit counts one event in a fixed-window rate-limit bucket and returns the count in the
// current window and when the window ends. One upsert: nodes share the counters.
func (s *Store) Hit(ctx context.Context, bucket string, window time.Duration) (int, time.Time, error) {
	now := s.clock()
	start := now.Truncate(window)
	var row struct {
		Hits        int       `db:"hits"`
		WindowStart time.Time `db:"window_start"`
	}
	err := s.get(ctx, &row, `INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?, ?, 1)
		ON CONFLICT (bucket) DO UPDATE SET
			hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END,
			window_start = excluded.window_start
		RETURNING hits, window_start`, bucket, start)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("rate limit %s: %w", bucket, err)
	}
	return row.Hits, row.WindowStart.Add(window), nil
}

// DeleteStaleRateLimits removes buckets whose window ended before the cutoff.
func (s *Store) DeleteStaleRateLimits(ctx context.Context, before time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM rate_limits WHERE window_start < ?`, ts(before)); err != nil {
		return fmt.Errorf("delete stale rate limits: %w", err)
	}
	return nil
}
