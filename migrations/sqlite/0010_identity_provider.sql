-- Sign-in through an OpenID Connect provider.
--
-- An account the provider created carries the provider's issuer and the
-- subject it names the person by (together they identify the account; the
-- e-mail address never does) and has no password (an empty hash).
ALTER TABLE users ADD COLUMN issuer TEXT;
ALTER TABLE users ADD COLUMN subject TEXT;
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_by_provider_identity ON users (issuer, subject);
-- An administrator may disable an account: it cannot sign in (with a
-- password or through the provider), and its sessions and tokens stop.
ALTER TABLE users ADD COLUMN disabled_at TEXT;

-- A session of a provider account asks the provider again (a refresh) once
-- `provider_recheck_at` has passed. The refresh token is kept encrypted
-- with a key derived from the session cookie's secret, which the database
-- never holds.
ALTER TABLE sessions ADD COLUMN provider_refresh TEXT;
ALTER TABLE sessions ADD COLUMN provider_recheck_at TEXT;

-- Sign-ins sent to the provider and not yet back: what the callback must
-- check (the hash of `state`, the nonce) and send (the PKCE verifier).
-- Each is used once and lives a few minutes.
CREATE TABLE provider_sign_ins (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next          TEXT NOT NULL,
    expires_at    TEXT NOT NULL
) STRICT;
