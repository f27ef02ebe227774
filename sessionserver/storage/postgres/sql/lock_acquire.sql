-- Lock steps (this, lock_renew, lock_release) write only what a crash of the server may
-- forget: a lease lost that way lapses, and saves are fenced by the token.  So their commits
-- do not wait for the WAL flush.
WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
)
INSERT INTO {locks} AS l (sid, token, expires_at)
SELECT %(sid)s, %(token)s::bytea, {clock} + %(lease)s FROM relaxed
ON CONFLICT (sid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
WHERE l.expires_at <= {clock}
RETURNING 1
