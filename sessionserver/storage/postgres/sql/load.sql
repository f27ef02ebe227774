-- A read: the pairs, if the session is live; slides its idle expiry.  The access is all this
-- statement writes, so its commit does not wait for the WAL flush (a crash of the server may
-- forget the last moment of accesses, never a saved pair).
WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
), t AS (
    UPDATE {times} SET accessed = %(now)s, expires_at = {deadline}
    WHERE sid = %(sid)s AND expires_at > %(now)s AND {deadline} > %(now)s
        AND EXISTS (SELECT FROM relaxed)
    RETURNING sid
)
SELECT s.data FROM t JOIN {sessions} s ON s.sid = t.sid
