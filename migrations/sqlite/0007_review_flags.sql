-- Techniques an upgrade to another ATLAS release carried over but flagged
-- for a person to look at (renamed, moved, re-parented, maturity or state
-- changed, carried to a successor, or an ID reused). A flag goes when
-- someone confirms the technique, or when the upgrade is undone.
CREATE TABLE review_flags (
    system_id    INTEGER NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    technique_id TEXT NOT NULL,
    reason       TEXT NOT NULL,
    -- The history batch of the upgrade that raised it.
    batch        INTEGER NOT NULL,
    flagged_at   TEXT NOT NULL,
    PRIMARY KEY (system_id, technique_id)
) STRICT;
