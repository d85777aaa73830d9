-- +goose Up
-- The customer account of the two customer APIs: the Kibo customerAccount fields, the
-- Emporix profile fields, and the sign-in state (lockout, last login).
ALTER TABLE customers ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN middle_name TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN contact_email TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN contact_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN company TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN preferred_language TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN preferred_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN preferred_site TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN company_registration_id TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN locale_code TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN accepts_marketing BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN tax_exempt BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN tax_id TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN customer_set TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN has_external_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN migration_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN initial_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN on_hold BOOLEAN NOT NULL DEFAULT FALSE;
-- Fields other systems own, stored as given through the admin surface (JSON).
ALTER TABLE customers ADD COLUMN attributes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN segments TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN commerce_summary TEXT NOT NULL DEFAULT '{}';
ALTER TABLE customers ADD COLUMN mixins TEXT NOT NULL DEFAULT '{}';
ALTER TABLE customers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- Sign-in state.
ALTER TABLE customers ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN first_failed_login_at TIMESTAMPTZ;
ALTER TABLE customers ADD COLUMN locked_until TIMESTAMPTZ;
ALTER TABLE customers ADD COLUMN last_locked_at TIMESTAMPTZ;
ALTER TABLE customers ADD COLUMN last_login_at TIMESTAMPTZ;
ALTER TABLE customers ADD COLUMN last_2fa_at TIMESTAMPTZ;

-- B2B accounts (Kibo accountId) and legal entities (Emporix legalEntityId) a customer
-- belongs to.
CREATE TABLE customer_memberships (
    tenant                 TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id            BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    account_id             TEXT NOT NULL,
    name                   TEXT NOT NULL DEFAULT '',
    contact_assignment_id  TEXT NOT NULL DEFAULT '',
    created_at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, account_id)
);
CREATE INDEX customer_memberships_account ON customer_memberships (tenant, account_id);

CREATE TABLE addresses (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id     BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    contact_name    TEXT NOT NULL DEFAULT '',
    company_name    TEXT NOT NULL DEFAULT '',
    street          TEXT NOT NULL DEFAULT '',
    street_number   TEXT NOT NULL DEFAULT '',
    street_appendix TEXT NOT NULL DEFAULT '',
    extra_line1     TEXT NOT NULL DEFAULT '',
    extra_line2     TEXT NOT NULL DEFAULT '',
    extra_line3     TEXT NOT NULL DEFAULT '',
    extra_line4     TEXT NOT NULL DEFAULT '',
    zip_code        TEXT NOT NULL DEFAULT '',
    city            TEXT NOT NULL DEFAULT '',
    country         TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL DEFAULT '',
    contact_phone   TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '[]',
    is_default      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX addresses_customer ON addresses (tenant, customer_id);
-- Exactly one default address per customer at most.
CREATE UNIQUE INDEX addresses_one_default ON addresses (customer_id) WHERE is_default;

-- Single-use tokens sent by mail (opt-in, password reset, e-mail change): only the
-- SHA-256 of the token is stored.
CREATE TABLE one_time_tokens (
    token_hash   TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id  BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    data         TEXT NOT NULL DEFAULT '{}',
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX one_time_tokens_customer ON one_time_tokens (tenant, customer_id, kind);

-- Fixed-window rate-limit counters shared by every node.
CREATE TABLE rate_limits (
    bucket        TEXT PRIMARY KEY,
    window_start  TIMESTAMPTZ NOT NULL,
    hits          INTEGER NOT NULL
);

-- The notification outbox, written in the transaction of the change it announces.
CREATE TABLE outbox (
    id               BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    body             TEXT NOT NULL DEFAULT '',
    data             TEXT NOT NULL DEFAULT '{}',
    webhook          TEXT NOT NULL DEFAULT '',
    webhook_secret   TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    delivered_at     TIMESTAMPTZ,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE rate_limits;
DROP TABLE one_time_tokens;
DROP TABLE addresses;
DROP TABLE customer_memberships;
ALTER TABLE customers DROP COLUMN user_name;
ALTER TABLE customers DROP COLUMN title;
ALTER TABLE customers DROP COLUMN middle_name;
ALTER TABLE customers DROP COLUMN contact_email;
ALTER TABLE customers DROP COLUMN contact_phone;
ALTER TABLE customers DROP COLUMN company;
ALTER TABLE customers DROP COLUMN preferred_language;
ALTER TABLE customers DROP COLUMN preferred_currency;
ALTER TABLE customers DROP COLUMN preferred_site;
ALTER TABLE customers DROP COLUMN company_registration_id;
ALTER TABLE customers DROP COLUMN locale_code;
ALTER TABLE customers DROP COLUMN accepts_marketing;
ALTER TABLE customers DROP COLUMN tax_exempt;
ALTER TABLE customers DROP COLUMN tax_id;
ALTER TABLE customers DROP COLUMN external_id;
ALTER TABLE customers DROP COLUMN customer_set;
ALTER TABLE customers DROP COLUMN has_external_password;
ALTER TABLE customers DROP COLUMN migration_required;
ALTER TABLE customers DROP COLUMN initial_password;
ALTER TABLE customers DROP COLUMN on_hold;
ALTER TABLE customers DROP COLUMN attributes;
ALTER TABLE customers DROP COLUMN notes;
ALTER TABLE customers DROP COLUMN segments;
ALTER TABLE customers DROP COLUMN commerce_summary;
ALTER TABLE customers DROP COLUMN mixins;
ALTER TABLE customers DROP COLUMN version;
ALTER TABLE customers DROP COLUMN failed_logins;
ALTER TABLE customers DROP COLUMN first_failed_login_at;
ALTER TABLE customers DROP COLUMN locked_until;
ALTER TABLE customers DROP COLUMN last_locked_at;
ALTER TABLE customers DROP COLUMN last_login_at;
ALTER TABLE customers DROP COLUMN last_2fa_at;
