-- -> the (sid, token) pairs that were still held, and are extended.
WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
)
UPDATE {locks} AS l SET expires_at = {clock} + %(lease)s
FROM unnest(%(sids)s::text[], %(tokens)s::bytea[]) AS h (sid, token)
WHERE l.sid = h.sid AND l.token = h.token AND l.expires_at > {clock}
    AND EXISTS (SELECT FROM relaxed)
RETURNING l.sid, l.token
