-- +goose Up
-- Second factors: challenges, authenticator apps (TOTP), recovery codes and the devices
-- accounts sign in from. Codes, challenge ids and fingerprints are stored as HMACs or
-- hashes only; TOTP secrets are sealed (AES-256-GCM under a key derived from the server
-- secret).
ALTER TABLE customers ADD COLUMN twofactor_opt_in BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE twofactor_challenges (
    id_hash           TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id       BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    fingerprint_hash  TEXT NOT NULL DEFAULT '',
    region            TEXT NOT NULL DEFAULT '',
    user_agent        TEXT NOT NULL DEFAULT '',
    methods           TEXT NOT NULL,
    code_hash         TEXT NOT NULL DEFAULT '',
    code_expires_at   TIMESTAMP,
    code_sent_at      TIMESTAMP,
    codes_sent        INTEGER NOT NULL DEFAULT 0,
    attempts_left     INTEGER NOT NULL,
    expires_at        TIMESTAMP NOT NULL,
    used_at           TIMESTAMP,
    payload           TEXT NOT NULL DEFAULT '{}',
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX twofactor_challenges_expires ON twofactor_challenges (expires_at);

CREATE TABLE twofactor_totp (
    customer_id   BIGINT PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    tenant        TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    secret        BLOB NOT NULL,
    confirmed_at  TIMESTAMP,
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE twofactor_recovery_codes (
    customer_id  BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    tenant       TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    code_hash    TEXT NOT NULL,
    used_at      TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (customer_id, code_hash)
);

-- Devices (fingerprint and region) accounts signed in from; trusted_until is set after
-- a second factor with rememberDevice.
CREATE TABLE devices (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    customer_id       BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    fingerprint_hash  TEXT NOT NULL,
    region            TEXT NOT NULL DEFAULT '',
    user_agent        TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL,
    last_seen_at      TIMESTAMP NOT NULL,
    trusted_until     TIMESTAMP
);
CREATE UNIQUE INDEX devices_identity ON devices (customer_id, fingerprint_hash, region);

-- Tokens and browser sessions of a sign-in from a device; forgetting the device ends them.
ALTER TABLE oauth2_tokens ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth2_tokens_device ON oauth2_tokens (tenant, device_id) WHERE device_id <> '';
ALTER TABLE browser_sessions ADD COLUMN device_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE browser_sessions DROP COLUMN device_id;
DROP INDEX oauth2_tokens_device;
ALTER TABLE oauth2_tokens DROP COLUMN device_id;
DROP TABLE devices;
DROP TABLE twofactor_recovery_codes;
DROP TABLE twofactor_totp;
DROP TABLE twofactor_challenges;
ALTER TABLE customers DROP COLUMN twofactor_opt_in;
