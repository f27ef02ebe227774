-- The schema and its three tables (see the package's docstring), created at start when missing.
-- Statements are separated by a line holding only ';'.
CREATE SCHEMA IF NOT EXISTS {schema}
;
CREATE TABLE IF NOT EXISTS {sessions} (
    sid text COLLATE "C" PRIMARY KEY,
    data bytea NOT NULL,
    user_id bytea
)
;
CREATE INDEX IF NOT EXISTS sessions_user_id ON {sessions} (user_id)
    WHERE user_id IS NOT NULL
;
CREATE TABLE IF NOT EXISTS {times} (
    sid text COLLATE "C" PRIMARY KEY,
    created float8 NOT NULL,
    accessed float8 NOT NULL,
    ttl integer,
    expires_at float8 NOT NULL
)
;
CREATE INDEX IF NOT EXISTS times_expires_at ON {times} (expires_at)
;
CREATE TABLE IF NOT EXISTS {locks} (
    sid text COLLATE "C" PRIMARY KEY,
    token bytea NOT NULL,
    expires_at float8 NOT NULL
)
