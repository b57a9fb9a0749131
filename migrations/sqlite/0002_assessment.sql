-- Coverage assessment: teams, their ML systems, and the decisions a team
-- records per system. Rows that do not exist take the defaults
-- (applicability `unknown`, status `not_started`). Every decision row has a
-- `version`, bumped on each write, so a stale write can be refused.

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL COLLATE NOCASE UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE systems (
    id                INTEGER PRIMARY KEY,
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

CREATE TABLE assessments (
    system_id     INTEGER NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    technique_id  TEXT NOT NULL,
    applicability TEXT NOT NULL DEFAULT 'unknown' CHECK (applicability IN ('unknown', 'applies', 'not_applicable')),
    -- Set by "suggested scope" on techniques whose platforms match the system's.
    suggested     INTEGER NOT NULL DEFAULT 0 CHECK (suggested IN (0, 1)),
    rationale     TEXT NOT NULL DEFAULT '',
    risk          TEXT CHECK (risk IN ('low', 'medium', 'high', 'critical')),
    version       INTEGER NOT NULL DEFAULT 1,
    updated_by    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (system_id, technique_id)
) STRICT;

CREATE TABLE mitigation_statuses (
    system_id     INTEGER NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    mitigation_id TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'not_started'
                  CHECK (status IN ('not_started', 'planned', 'in_progress', 'implemented', 'not_applicable')),
    owner         TEXT NOT NULL DEFAULT '',
    target_date   TEXT,
    evidence      TEXT NOT NULL DEFAULT '',
    notes         TEXT NOT NULL DEFAULT '',
    version       INTEGER NOT NULL DEFAULT 1,
    updated_by    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (system_id, mitigation_id)
) STRICT;

CREATE TABLE controls (
    id          INTEGER PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (team_id, name)
) STRICT;

CREATE TABLE control_techniques (
    control_id   INTEGER NOT NULL REFERENCES controls (id) ON DELETE CASCADE,
    technique_id TEXT NOT NULL,
    PRIMARY KEY (control_id, technique_id)
) STRICT;

CREATE TABLE control_statuses (
    system_id   INTEGER NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    control_id  INTEGER NOT NULL REFERENCES controls (id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'not_started'
                CHECK (status IN ('not_started', 'planned', 'in_progress', 'implemented', 'not_applicable')),
    owner       TEXT NOT NULL DEFAULT '',
    target_date TEXT,
    evidence    TEXT NOT NULL DEFAULT '',
    notes       TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    updated_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (system_id, control_id)
) STRICT;

CREATE TABLE risk_acceptances (
    system_id     INTEGER NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    technique_id  TEXT NOT NULL,
    justification TEXT NOT NULL,
    accepted_by   TEXT NOT NULL,
    -- Last day the acceptance holds (YYYY-MM-DD); afterwards it is a gap again.
    expires_on    TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    updated_by    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (system_id, technique_id)
) STRICT;

-- Append-only change history: who changed what, when, from what, to what.
CREATE TABLE history (
    id        INTEGER PRIMARY KEY,
    team_id   INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    system_id INTEGER REFERENCES systems (id) ON DELETE CASCADE,
    actor     TEXT NOT NULL,
    at        TEXT NOT NULL,
    -- assessment | mitigation | control_status | acceptance | system | team | control
    entity    TEXT NOT NULL,
    -- The technique, mitigation or control the change is about ('' for the system itself).
    item      TEXT NOT NULL,
    summary   TEXT NOT NULL,
    before    TEXT,
    after     TEXT,
    -- Changes made by one bulk action share the id of its first entry.
    batch     INTEGER
) STRICT;

CREATE INDEX history_by_system ON history (system_id, id);
CREATE INDEX history_by_item ON history (system_id, item, id);
CREATE INDEX history_by_batch ON history (batch) WHERE batch IS NOT NULL;

CREATE TRIGGER history_is_append_only BEFORE UPDATE ON history
BEGIN
    SELECT RAISE(ABORT, 'history is append-only');
END;
