-- One batch of expired sessions, oldest first, skipping rows locked by someone else (a
-- concurrent sweep, or a create replacing the row).  -> how many.
WITH gone AS (
    DELETE FROM {times}
    WHERE sid IN (
        SELECT sid FROM {times} WHERE expires_at <= %(now)s
        ORDER BY expires_at LIMIT {batch}
        FOR UPDATE SKIP LOCKED
    ) AND expires_at <= %(now)s
    RETURNING sid
), s AS (
    DELETE FROM {sessions} WHERE sid IN (SELECT sid FROM gone)
)
SELECT count(*) FROM gone
