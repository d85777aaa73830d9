-- +goose Up
-- Social login: upstream OpenID Connect providers (connectors) per tenant, the upstream
-- identities linked to customers, the state of sign-ins in flight at an upstream, and
-- the upstream tokens handed to the storefront once at the code exchange. Client secrets
-- and upstream tokens are sealed (AES-256-GCM); states are stored as hashes.
ALTER TABLE customers ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE connectors (
    tenant         TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  BYTEA NOT NULL,
    scopes         TEXT NOT NULL DEFAULT '[]',
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE identities (
    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    connector_id  TEXT NOT NULL,
    customer_id   BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    email         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, issuer, subject)
);
CREATE INDEX identities_customer ON identities (tenant, customer_id);

CREATE TABLE upstream_logins (
    state_hash    TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    connector_id  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    verifier      BYTEA NOT NULL,
    resume_url    TEXT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX upstream_logins_expires ON upstream_logins (expires_at);

CREATE TABLE social_handoffs (
    tenant      TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    request_id  TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, request_id)
);

-- +goose Down
DROP TABLE social_handoffs;
DROP TABLE upstream_logins;
DROP TABLE identities;
DROP TABLE connectors;
ALTER TABLE customers DROP COLUMN email_verified;
