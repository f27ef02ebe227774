-- Take the session's lock for the token if nobody holds it (or the holder's lease lapsed),
-- and if taken, load the session as `load.sql` does.  -> (taken, the pairs or NULL).
-- The pairs are read FOR SHARE: after waiting for a writer's lock row, the read is of the
-- version that writer committed, not of this statement's older snapshot.  Like a read, this
-- writes only what a crash of the server may forget (a lock, an access), so it does not wait
-- for the WAL flush.
WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
), l AS (
    INSERT INTO {locks} AS l (sid, token, expires_at)
    SELECT %(sid)s, %(token)s::bytea, {clock} + %(lease)s FROM relaxed
    ON CONFLICT (sid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
    WHERE l.expires_at <= {clock}
    RETURNING 1
), t AS (
    UPDATE {times} SET accessed = %(now)s, expires_at = {deadline}
    WHERE sid = %(sid)s AND expires_at > %(now)s AND {deadline} > %(now)s
        AND EXISTS (SELECT FROM l)
    RETURNING sid
), d AS (
    SELECT s.data FROM {sessions} s
    WHERE s.sid = %(sid)s AND EXISTS (SELECT FROM t)
    FOR SHARE
)
SELECT EXISTS (SELECT FROM l), (SELECT data FROM d)
