-- Ids are never given twice. A plain INTEGER PRIMARY KEY takes the highest
-- id + 1, so deleting the newest team and creating another handed out the
-- deleted team's id again, and anything still holding it (a remembered
-- role, an open live stream, a client's URL) reached the new team.
-- AUTOINCREMENT keeps the highest id ever given in sqlite_sequence.
--
-- SQLite cannot add AUTOINCREMENT to a table, so each table is rebuilt the
-- way SQLite documents (new table, copy, drop the old, rename). Migrations
-- run with foreign keys off for this (src/db/mod.rs), and the foreign keys
-- are checked once they have run.

CREATE TABLE teams_0004 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL COLLATE NOCASE UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
INSERT INTO teams_0004 SELECT id, name, description, version, created_at, updated_at FROM teams;
DROP TABLE teams;
ALTER TABLE teams_0004 RENAME TO teams;

CREATE TABLE systems_0004 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id           INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name              TEXT NOT NULL COLLATE NOCASE,
    description       TEXT NOT NULL DEFAULT '',
    owner             TEXT NOT NULL DEFAULT '',
    -- JSON array of ATLAS platform names.
    platforms         TEXT NOT NULL DEFAULT '[]',
    exposure          TEXT NOT NULL CHECK (exposure IN ('public', 'partner', 'internal')),
    criticality       TEXT NOT NULL CHECK (criticality IN ('low', 'medium', 'high', 'critical')),
    framework_version TEXT NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (team_id, name)
) STRICT;
INSERT INTO systems_0004
SELECT id, team_id, name, description, owner, platforms, exposure, criticality, framework_version, version,
       created_at, updated_at
FROM systems;
DROP TABLE systems;
ALTER TABLE systems_0004 RENAME TO systems;

CREATE TABLE controls_0004 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (team_id, name)
) STRICT;
INSERT INTO controls_0004 SELECT id, team_id, name, description, version, created_at, updated_at FROM controls;
DROP TABLE controls;
ALTER TABLE controls_0004 RENAME TO controls;

CREATE TABLE users_0004 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO users_0004
SELECT id, username, display_name, password_hash, is_admin, failed_logins, locked_until, created_at, password_changed_at
FROM users;
DROP TABLE users;
ALTER TABLE users_0004 RENAME TO users;

CREATE TABLE invites_0004 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
    label       TEXT NOT NULL DEFAULT '',
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
) STRICT;
INSERT INTO invites_0004
SELECT id, team_id, code_hash, role, label, created_by, created_at, expires_at, ended_at FROM invites;
DROP TABLE invites;
ALTER TABLE invites_0004 RENAME TO invites;

CREATE TABLE participants_0004 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    invite_id    INTEGER NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    removed_at   TEXT
) STRICT;
INSERT INTO participants_0004 SELECT id, invite_id, display_name, created_at, removed_at FROM participants;
DROP TABLE participants;
ALTER TABLE participants_0004 RENAME TO participants;

CREATE TABLE api_tokens_0004 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO api_tokens_0004
SELECT id, user_id, name, token_hash, prefix, scope, team_id, created_at, expires_at, last_used_at, revoked_at
FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_0004 RENAME TO api_tokens;

