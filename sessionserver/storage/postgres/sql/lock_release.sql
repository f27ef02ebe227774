WITH relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
)
DELETE FROM {locks}
WHERE sid = %(sid)s AND token = %(token)s::bytea AND EXISTS (SELECT FROM relaxed)
