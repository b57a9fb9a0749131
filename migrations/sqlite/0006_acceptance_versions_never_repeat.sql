-- A withdrawn risk acceptance keeps its row, marked withdrawn, so that its
-- version keeps counting: versions used to restart at 1 when an acceptance
-- was deleted and made again, and a stale write naming version 1 then
-- silently overwrote or removed the new acceptance.
ALTER TABLE risk_acceptances ADD COLUMN withdrawn_at TEXT;
