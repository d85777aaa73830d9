-- +goose Up
-- Every node caches tenants, clients and signing keys (storage/cache.go) and listens on
-- the channel custodian_cache. Every change to those rows, by any node, the command line
-- or an operator's SQL, notifies it; PostgreSQL delivers a notification only when its
-- transaction commits, so a rolled-back change notifies nothing.
-- +goose StatementBegin
CREATE FUNCTION custodian_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    IF TG_TABLE_NAME = 'tenants' THEN
        PERFORM pg_notify('custodian_cache', json_build_object('table', 'tenants', 'tenant', r.name)::text);
    ELSIF TG_TABLE_NAME = 'clients' THEN
        PERFORM pg_notify('custodian_cache', json_build_object('table', 'clients', 'tenant', r.tenant, 'id', r.id)::text);
    ELSE
        PERFORM pg_notify('custodian_cache', json_build_object('table', TG_TABLE_NAME, 'tenant', r.tenant)::text);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER tenants_cache_notify AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION custodian_cache_notify();
CREATE TRIGGER clients_cache_notify AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION custodian_cache_notify();
CREATE TRIGGER signing_keys_cache_notify AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION custodian_cache_notify();

-- +goose Down
DROP TRIGGER signing_keys_cache_notify ON signing_keys;
DROP TRIGGER clients_cache_notify ON clients;
DROP TRIGGER tenants_cache_notify ON tenants;
DROP FUNCTION custodian_cache_notify();
