-- +goose Up
CREATE TABLE tenants (
    name        TEXT PRIMARY KEY,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired')),
    private_key  BLOB NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
CREATE INDEX signing_keys_tenant_state ON signing_keys (tenant, state);
-- At most one key of each live state per tenant: rotation races fail instead of forking.
CREATE UNIQUE INDEX signing_keys_one_live ON signing_keys (tenant, state) WHERE state <> 'retired';

CREATE TABLE clients (
    tenant                    TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    id                        TEXT NOT NULL,
    name                      TEXT NOT NULL DEFAULT '',
    secret_hash               BLOB,
    public                    BOOLEAN NOT NULL,
    first_party               BOOLEAN NOT NULL DEFAULT FALSE,
    redirect_uris             TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    grant_types               TEXT NOT NULL DEFAULT '[]',
    response_types            TEXT NOT NULL DEFAULT '[]',
    scopes                    TEXT NOT NULL DEFAULT '[]',
    audience                  TEXT NOT NULL DEFAULT '[]',
    behaviors                 TEXT NOT NULL DEFAULT '[]',
    created_at                TIMESTAMP NOT NULL,
    updated_at                TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE customers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant         TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    email_key      TEXT NOT NULL,
    password_hash  TEXT NOT NULL DEFAULT '',
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    first_name     TEXT NOT NULL DEFAULT '',
    last_name      TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL,
    created_by     TEXT NOT NULL DEFAULT '',
    updated_at     TIMESTAMP NOT NULL,
    updated_by     TEXT NOT NULL DEFAULT '',
    UNIQUE (tenant, email_key)
);

-- Every fosite artefact (authorization codes, access and refresh tokens, PKCE and
-- OpenID Connect request state) lives here, keyed by kind and the token's HMAC
-- signature: raw tokens are never stored. request_id groups a token family.
CREATE TABLE oauth2_tokens (
    kind              TEXT NOT NULL CHECK (kind IN ('code', 'access', 'refresh', 'pkce', 'oidc')),
    signature         TEXT NOT NULL,
    request_id        TEXT NOT NULL,
    tenant            TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    subject           TEXT NOT NULL DEFAULT '',
    session_id        TEXT NOT NULL DEFAULT '',
    jti               TEXT,
    access_signature  TEXT,
    requested_at      TIMESTAMP NOT NULL,
    expires_at        TIMESTAMP,
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    revoked           BOOLEAN NOT NULL DEFAULT FALSE,
    rotated_at        TIMESTAMP,
    grace_forks       INTEGER NOT NULL DEFAULT 0,
    request           TEXT NOT NULL,
    PRIMARY KEY (kind, signature)
);
CREATE INDEX oauth2_tokens_request ON oauth2_tokens (request_id);
CREATE INDEX oauth2_tokens_session ON oauth2_tokens (tenant, session_id);
CREATE INDEX oauth2_tokens_subject ON oauth2_tokens (tenant, subject);
CREATE INDEX oauth2_tokens_expires ON oauth2_tokens (expires_at);
CREATE UNIQUE INDEX oauth2_tokens_jti ON oauth2_tokens (jti) WHERE jti IS NOT NULL;

-- Browser (single sign-on) sessions of the login pages. The cookie holds a random
-- value; only its SHA-256 is stored.
CREATE TABLE browser_sessions (
    id_hash      TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id  BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL,
    amr          TEXT NOT NULL DEFAULT '[]',
    auth_time    TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX browser_sessions_customer ON browser_sessions (tenant, customer_id);

CREATE TABLE consents (
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id  BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL,
    scopes       TEXT NOT NULL DEFAULT '[]',
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant, customer_id, client_id)
);

CREATE TABLE security_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    customer_id  BIGINT,
    client_id    TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '{}',
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX security_events_tenant ON security_events (tenant, created_at);
CREATE INDEX security_events_customer ON security_events (tenant, customer_id, created_at);

-- +goose Down
DROP TABLE security_events;
DROP TABLE consents;
DROP TABLE browser_sessions;
DROP TABLE oauth2_tokens;
DROP TABLE customers;
DROP TABLE clients;
DROP TABLE signing_keys;
DROP TABLE tenants;
