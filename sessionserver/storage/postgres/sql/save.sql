-- Update a live session, if the lock still has the token (when one is given), with its new
-- idle lifetime (when one is given); then release the lock (when asked and the token has it).
-- -> (saved, the lock has the token, the session was live)
WITH fence AS (
    SELECT FROM {locks}
    WHERE sid = %(sid)s AND token = %(token)s::bytea AND expires_at > {clock}
    FOR UPDATE
), t AS (
    UPDATE {times} SET accessed = %(now)s, ttl = coalesce(%(ttl)s::integer, ttl),
        expires_at = least(%(now)s + coalesce(%(ttl)s::integer, ttl, {ttl}), created + {maxlife})
    WHERE sid = %(sid)s AND expires_at > %(now)s
        AND (%(token)s::bytea IS NULL OR EXISTS (SELECT FROM fence))
    RETURNING sid
), s AS (
    UPDATE {sessions} SET data = %(data)s::bytea, user_id = %(user)s::bytea
    WHERE sid IN (SELECT sid FROM t)
    RETURNING sid
), released AS (
    DELETE FROM {locks}
    WHERE %(release)s::boolean AND sid = %(sid)s AND token = %(token)s::bytea
)
SELECT EXISTS (SELECT FROM s),
    %(token)s::bytea IS NULL OR EXISTS (SELECT FROM fence),
    EXISTS (SELECT FROM {times} WHERE sid = %(sid)s AND expires_at > %(now)s)
