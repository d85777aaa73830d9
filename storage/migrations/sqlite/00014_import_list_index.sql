-- +goose Up
-- A re-import replaces a customer's lists with one DELETE per table and batch, probing
-- (tenant, customer_id) once per customer (storage/import.go, deleteLists). Addresses and
-- identities have that index since 00002 and 00004; memberships had only their primary
-- key (customer_id, account_id) and the (tenant, account_id) index, which the planner
-- combined into a read of the tenant's whole range.
CREATE INDEX customer_memberships_customer ON customer_memberships (tenant, customer_id);

-- +goose Down
DROP INDEX customer_memberships_customer;
