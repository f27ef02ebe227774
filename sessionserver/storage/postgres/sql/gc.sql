-- One batch of sessions idle since before `before`; rows locked by someone else are in use,
-- hence not idle.  -> how many, and how many of them were live (expired ones go too,
-- uncounted).
WITH gone AS (
    DELETE FROM {times}
    WHERE sid IN (
        SELECT sid FROM {times} WHERE accessed < %(before)s
        LIMIT {batch}
        FOR UPDATE SKIP LOCKED
    ) AND accessed < %(before)s
    RETURNING sid, expires_at > %(now)s AS live
), s AS (
    DELETE FROM {sessions} WHERE sid IN (SELECT sid FROM gone)
)
SELECT count(*), count(*) FILTER (WHERE live) FROM gone
