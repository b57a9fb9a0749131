-- Accounts, sessions, team roles, API tokens and workshop invites.
-- Secrets (passwords, session ids, tokens, invite codes) are stored only as hashes.

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    username            TEXT NOT NULL COLLATE NOCASE UNIQUE,
    display_name        TEXT NOT NULL,
    -- argon2id PHC string.
    password_hash       TEXT NOT NULL,
    is_admin            INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        TEXT,
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
) STRICT;

-- Who may do what on a team: viewer (read), editor (assess), owner (manage).
CREATE TABLE memberships (
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
    PRIMARY KEY (team_id, user_id)
) STRICT;

-- Join links for workshops: a role on one team for a limited time.
CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
    label       TEXT NOT NULL DEFAULT '',
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
) STRICT;

-- People who joined through an invite, known by the display name they gave.
CREATE TABLE participants (
    id           INTEGER PRIMARY KEY,
    invite_id    INTEGER NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    removed_at   TEXT
) STRICT;

-- Browser sessions of an account or of an invite participant.
CREATE TABLE sessions (
    id_hash        TEXT PRIMARY KEY NOT NULL,
    user_id        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    participant_id INTEGER REFERENCES participants (id) ON DELETE CASCADE,
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    user_agent     TEXT NOT NULL DEFAULT '',
    CHECK ((user_id IS NULL) <> (participant_id IS NULL))
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    -- The first characters of the token, to tell tokens apart in lists.
    prefix       TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    team_id      INTEGER REFERENCES teams (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
