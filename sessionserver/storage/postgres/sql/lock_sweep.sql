-- One batch of lapsed locks (left by daemons that died holding them, and by one-command
-- writes).  -> how many.
WITH gone AS (
    DELETE FROM {locks} WHERE sid IN (
        SELECT sid FROM {locks} WHERE expires_at <= {clock}
        LIMIT {batch} FOR UPDATE SKIP LOCKED
    ) AND expires_at <= {clock}
    RETURNING 1
)
SELECT count(*) FROM gone
