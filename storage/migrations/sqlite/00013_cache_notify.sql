-- +goose Up
-- PostgreSQL's version of this migration adds the triggers that notify every node's
-- cache of a change. A SQLite file has one server process: its Store invalidates its
-- cache on every write it makes, and a write by another process (the command line)
-- reaches it within the cache TTL. Nothing to change here; the version number stays
-- the same in both dialects.
SELECT 1;

-- +goose Down
SELECT 1;
