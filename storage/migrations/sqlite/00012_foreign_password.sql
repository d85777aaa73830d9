-- +goose Up
-- A password hash imported from another platform (customer import, CONTRACT.md §6) is kept
-- as the import line gave it: password_hash holds its `hash`, password_format its `format`
-- (a customer/passwordhash format name) and password_salt its `salt` (Firebase, the legacy
-- digests). An empty password_format means password_hash is Custodian's own argon2id PHC
-- string (or empty: no password). has_external_password and migration_required are TRUE
-- exactly while password_format is set; the first sign-in replaces the foreign hash with
-- argon2id and clears all four in one conditional UPDATE.
ALTER TABLE customers ADD COLUMN password_format TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN password_salt TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE customers DROP COLUMN password_salt;
ALTER TABLE customers DROP COLUMN password_format;
