-- Detection as a second dimension of coverage, beside prevention.
--
-- A team keeps detections (rules its security operations centre runs),
-- each mapped to the ATLAS techniques it detects, as it keeps controls.
-- A detection imported from a Sigma rule carries the rule's `id`, which
-- later imports match on, so each rule id appears once per team.
CREATE TABLE detections (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id      INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(trim(name)) > 0),
    description  TEXT NOT NULL DEFAULT '',
    -- JSON array of the log sources the detection needs.
    data_sources TEXT NOT NULL DEFAULT '[]',
    reference    TEXT NOT NULL DEFAULT '',
    rule_id      TEXT COLLATE NOCASE,
    rule_text    TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (team_id, rule_id)
) STRICT;

CREATE INDEX detections_by_team ON detections (team_id, name);

CREATE TABLE detection_techniques (
    detection_id INTEGER NOT NULL REFERENCES detections (id) ON DELETE CASCADE,
    technique_id TEXT NOT NULL,
    PRIMARY KEY (detection_id, technique_id)
) STRICT;

-- How each technique is detected on a system. Rows that do not exist
-- take the default: status `none`, nothing else recorded.
CREATE TABLE detection_statuses (
    system_id    INTEGER NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    technique_id TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'none' CHECK (status IN ('none', 'planned', 'partial', 'detected')),
    confidence   TEXT CHECK (confidence IN ('low', 'medium', 'high')),
    -- JSON array of the data sources the system has for it.
    data_sources TEXT NOT NULL DEFAULT '[]',
    owner        TEXT NOT NULL DEFAULT '',
    evidence     TEXT NOT NULL DEFAULT '',
    notes        TEXT NOT NULL DEFAULT '',
    version      INTEGER NOT NULL DEFAULT 1,
    updated_by   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (system_id, technique_id)
) STRICT;
