-- Sign-in through an OpenID Connect provider (as migrations/sqlite/0010).
ALTER TABLE users ADD COLUMN issuer TEXT;
ALTER TABLE users ADD COLUMN subject TEXT;
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_by_provider_identity ON users (issuer, subject);
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;

ALTER TABLE sessions ADD COLUMN provider_refresh TEXT;
ALTER TABLE sessions ADD COLUMN provider_recheck_at TIMESTAMPTZ;

CREATE TABLE provider_sign_ins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next          TEXT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
