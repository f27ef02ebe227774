-- Claim the id in times (insert, or replace an expired row) with its idle lifetime (NULL: the
-- default), then write the pairs.  -> a row if created.
WITH claim AS (
    INSERT INTO {times} AS t (sid, created, accessed, ttl, expires_at)
    VALUES (%(sid)s, %(now)s, %(now)s, %(ttl)s::integer, %(deadline)s)
    ON CONFLICT (sid) DO UPDATE SET created = excluded.created,
        accessed = excluded.accessed, ttl = excluded.ttl, expires_at = excluded.expires_at
    WHERE t.expires_at <= %(now)s
    RETURNING sid
)
INSERT INTO {sessions} AS s (sid, data, user_id)
SELECT sid, %(data)s::bytea, %(user)s::bytea FROM claim
ON CONFLICT (sid) DO UPDATE SET data = excluded.data, user_id = excluded.user_id
RETURNING 1
