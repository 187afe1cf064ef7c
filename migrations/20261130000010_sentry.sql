-- The public key of each company's Sentry DSN (`http://<key>@<host>/<company id>`): it names
-- the company to Sentry SDKs, like Sentry's own public keys it is not a secret.
ALTER TABLE tenants ADD COLUMN sentry_key text NOT NULL
    DEFAULT md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text);
ALTER TABLE tenants ADD CONSTRAINT tenants_sentry_key_key UNIQUE (sentry_key);
