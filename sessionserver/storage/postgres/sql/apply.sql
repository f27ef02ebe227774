-- A one-command write: set the changed pairs and remove the removed keys of a live session,
-- as a writer taking the lock, loading, saving and unlocking would, in one statement.
--
-- The lock must be free (or held under `token`, this daemon's own idle lock).  To keep other
-- daemons' lock takers out meanwhile, the statement holds the session's lock row: it writes
-- one that has lapsed already (or leaves the idle one as it is), which takers wait for and
-- then find free.  The pairs are read FOR UPDATE, so the merge starts from the last committed
-- version even if this statement's snapshot is older.  The pairs keep their order; new keys
-- follow in the order given.
--
-- -> 1 applied, 0 absent or expired, -2 locked, -3 too many keys, -4 too large, -5 too big
--    to walk here (the caller takes the lock instead); the user the session names now
WITH RECURSIVE claim AS (
    INSERT INTO {locks} AS l (sid, token, expires_at)
    VALUES (%(sid)s, ''::bytea, {clock})
    ON CONFLICT (sid) DO UPDATE SET expires_at = l.expires_at
    WHERE l.expires_at <= {clock} OR l.token = %(token)s::bytea
    RETURNING 1
), live AS (
    SELECT created, ttl FROM {times}
    WHERE sid = %(sid)s AND expires_at > %(now)s AND EXISTS (SELECT FROM claim)
    FOR UPDATE
), cur AS (
    SELECT s.data FROM {sessions} s
    WHERE s.sid = %(sid)s AND EXISTS (SELECT FROM live)
    FOR UPDATE
), blobs (part, data) AS (
    -- 0: the pairs; 1: the changes; 2: the removed keys (with empty values), all three in
    -- pairs.py's encoding
    SELECT 0, data || ''::bytea FROM cur  -- detoasted once, not at every get_byte()
    UNION ALL SELECT 1, %(changes)s::bytea
    UNION ALL SELECT 2, %(removed)s::bytea
), walk (part, pos, k, v, ord) AS (
    -- after the version byte, per pair two big-endian 32-bit lengths, the key, the value
    SELECT part, 2, NULL::bytea, NULL::bytea, 0::bigint FROM blobs
    UNION ALL
    SELECT w.part, w.pos + 8 + h.kl + h.vl, substring(b.data FROM w.pos + 8 FOR h.kl),
        substring(b.data FROM w.pos + 8 + h.kl FOR h.vl), w.ord + 1
    FROM walk w JOIN blobs b ON b.part = w.part CROSS JOIN LATERAL (
        SELECT (get_byte(b.data, w.pos - 1) << 24) | (get_byte(b.data, w.pos) << 16)
                | (get_byte(b.data, w.pos + 1) << 8) | get_byte(b.data, w.pos + 2) AS kl,
            (get_byte(b.data, w.pos + 3) << 24) | (get_byte(b.data, w.pos + 4) << 16)
                | (get_byte(b.data, w.pos + 5) << 8) | get_byte(b.data, w.pos + 6) AS vl
    ) h
    WHERE w.pos <= length(b.data)
), merged AS (
    SELECT coalesce(c.k, o.k) AS k, coalesce(c.v, o.v) AS v,
        coalesce(o.ord, (1::bigint << 40) + c.ord) AS ord
    FROM (SELECT k, v, ord FROM walk WHERE part = 0 AND ord > 0) o
    FULL JOIN (SELECT k, v, ord FROM walk WHERE part = 1 AND ord > 0) c ON c.k = o.k
    WHERE NOT EXISTS (
        SELECT FROM walk r WHERE r.part = 2 AND r.ord > 0 AND r.k = coalesce(c.k, o.k)
    )
), result AS (
    SELECT count(*) AS n, coalesce(sum(length(k) + length(v)), 0) AS size,
        '\x01'::bytea || coalesce(
            string_agg(int4send(length(k)) || int4send(length(v)) || k || v, ''::bytea
                ORDER BY ord),
            ''::bytea) AS data,
        -- the first user key present, unquoted; empty is no user (storage/base.py's rule)
        nullif((SELECT CASE WHEN length(m.v) >= 2 AND substring(m.v FROM 1 FOR 1) = '\x22'::bytea
                AND substring(m.v FROM length(m.v) FOR 1) = '\x22'::bytea
                THEN substring(m.v FROM 2 FOR length(m.v) - 2) ELSE m.v END
            FROM unnest({user_keys}) WITH ORDINALITY AS u (k, ord)
            JOIN merged m ON m.k = u.k
            ORDER BY u.ord LIMIT 1), ''::bytea) AS user_id
    FROM merged
    WHERE EXISTS (SELECT FROM cur)
), verdict AS (
    SELECT CASE
        WHEN NOT EXISTS (SELECT FROM claim) THEN -2
        WHEN NOT EXISTS (SELECT FROM cur) THEN 0
        -- the walk above costs more than the lock, load and save it replaces: -5, take those
        WHEN length(%(changes)s::bytea) + length(%(removed)s::bytea)
            + (SELECT length(data) FROM cur) > %(walk_max)s::bigint THEN -5
        WHEN (SELECT n FROM result) > %(max_keys)s::bigint THEN -3
        WHEN (SELECT size FROM result) > %(max_session)s::bigint THEN -4
        ELSE 1
    END AS code
), t AS (
    UPDATE {times} SET accessed = %(now)s, ttl = coalesce(%(ttl)s::integer, ttl),
        expires_at = least(%(now)s + coalesce(%(ttl)s::integer, ttl, {ttl}), created + {maxlife})
    WHERE sid = %(sid)s AND (SELECT code FROM verdict) = 1
), s AS (
    UPDATE {sessions} SET data = r.data, user_id = r.user_id
    FROM result r
    WHERE sid = %(sid)s AND (SELECT code FROM verdict) = 1
)
SELECT code FROM verdict
