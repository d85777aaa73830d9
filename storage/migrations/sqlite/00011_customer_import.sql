-- +goose Up
-- Customer import (CONTRACT.md §6): a password hash keeps the format it was made in, so
-- that a shop's customers sign in with the hashes their old platform stored until the
-- first sign-in upgrades them. password_format is a customer/passwordhash format name
-- ('custodian' is Custodian's own argon2id PHC string, the only format a password set
-- in Custodian is stored in); password_salt is the salt of the formats that keep it
-- beside the hash (firebase-scrypt, the legacy digests), '' otherwise.
ALTER TABLE customers ADD COLUMN password_format TEXT NOT NULL DEFAULT 'custodian';
ALTER TABLE customers ADD COLUMN password_salt TEXT NOT NULL DEFAULT '';
-- An import line is matched by externalId first: one customer per external id and tenant.
CREATE UNIQUE INDEX customers_external_id ON customers (tenant, external_id) WHERE external_id <> '';

-- +goose Down
DROP INDEX customers_external_id;
ALTER TABLE customers DROP COLUMN password_salt;
ALTER TABLE customers DROP COLUMN password_format;
