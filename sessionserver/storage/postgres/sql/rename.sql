-- Lock the live old row, claim the new id with its times (insert, or replace an expired row),
-- and only then delete the old rows and move the pairs.  -> a row if renamed.
WITH src AS (
    SELECT created, accessed, ttl, expires_at FROM {times}
    WHERE sid = %(old)s
    FOR UPDATE
), claim AS (
    INSERT INTO {times} AS t (sid, created, accessed, ttl, expires_at)
    SELECT %(new)s, created, accessed, ttl, expires_at FROM src
    WHERE expires_at > %(now)s
    ON CONFLICT (sid) DO UPDATE SET created = excluded.created,
        accessed = excluded.accessed, ttl = excluded.ttl, expires_at = excluded.expires_at
    WHERE t.expires_at <= %(now)s
    RETURNING sid
), gone AS (
    DELETE FROM {times} WHERE sid = %(old)s AND EXISTS (SELECT FROM claim)
    RETURNING sid
), moved AS (
    DELETE FROM {sessions} WHERE sid IN (SELECT sid FROM gone)
    RETURNING data, user_id
)
INSERT INTO {sessions} AS s (sid, data, user_id)
SELECT %(new)s, data, user_id FROM moved
ON CONFLICT (sid) DO UPDATE SET data = excluded.data, user_id = excluded.user_id
RETURNING 1
