-- Moments of a team named by people ("Q3 review", "workshop 2026-11-12"),
-- so later comparisons and digests can say "since Q3 review". A snapshot
-- holds no copy of the map: the append-only history replays it at `at`.
CREATE TABLE team_snapshots (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name       TEXT NOT NULL COLLATE NOCASE CHECK (length(trim(name)) > 0),
    at         TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (team_id, name)
) STRICT;

CREATE INDEX team_snapshots_by_time ON team_snapshots (team_id, at);
