-- +goose Up
-- Smart lockout (customer/lockout.go): failed passwords are counted per side of an
-- account, not per account. A side is one familiar device ('device:<id>'), one
-- unfamiliar address ('addr:<keyed hash of the /32 or /64>') or the unfamiliar side as
-- a whole ('unfamiliar'). A side locks on its own; customers.locked_until is left to the
-- administrator's lock.
CREATE TABLE login_lockouts (
    tenant            TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id       BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    side              TEXT NOT NULL,
    failures          INTEGER NOT NULL,
    first_failure_at  TIMESTAMPTZ NOT NULL,
    locked_until      TIMESTAMPTZ,
    PRIMARY KEY (tenant, customer_id, side)
);
CREATE INDEX login_lockouts_stale ON login_lockouts (first_failure_at);

-- +goose Down
DROP INDEX login_lockouts_stale;
DROP TABLE login_lockouts;
