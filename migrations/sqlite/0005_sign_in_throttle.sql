-- Failed sign-ins are counted per submitted user name and client address,
-- whether or not the name exists, and slow that pair down with a growing
-- delay instead of locking the account: failures from one address cannot
-- lock the account's owner out elsewhere, and the answer never tells which
-- names exist. `blocked_until` is in Unix seconds.
CREATE TABLE sign_in_failures (
    username      TEXT NOT NULL COLLATE NOCASE,
    address       TEXT NOT NULL,
    failures      INTEGER NOT NULL CHECK (failures >= 0),
    blocked_until INTEGER NOT NULL,
    PRIMARY KEY (username, address)
) STRICT;

CREATE INDEX sign_in_failures_by_time ON sign_in_failures (blocked_until);

ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
