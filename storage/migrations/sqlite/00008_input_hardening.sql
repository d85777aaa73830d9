-- +goose Up
-- Data upgrades that need Go (an e-mail key rule, say) run once after the schema
-- migrations; each leaves its name here so that no node runs it twice.
CREATE TABLE data_upgrades (
    name        TEXT PRIMARY KEY,
    applied_at  TIMESTAMP NOT NULL
);

-- The webhook secret of a queued webhook message, sealed like the tenant setting it was
-- copied from. The plain column stays for messages queued by earlier releases until the
-- server seals them at start.
ALTER TABLE outbox ADD COLUMN webhook_secret_sealed BLOB;

-- +goose Down
ALTER TABLE outbox DROP COLUMN webhook_secret_sealed;
DROP TABLE data_upgrades;
