-- ATLAS releases imported at run time. The bundled default release lives in
-- the binary; a row here with the same version replaces it (the official
-- file adds MITRE's full text to the bundled facts).
CREATE TABLE framework_releases (
    version     TEXT PRIMARY KEY NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('legacy', 'calendar', 'stix')),
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    -- The normalised release (src/atlas/model.rs) as JSON, descriptions included.
    model_json  TEXT NOT NULL,
    imported_at TEXT NOT NULL
) STRICT;
