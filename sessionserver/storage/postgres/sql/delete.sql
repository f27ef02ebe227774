-- -> whether the deleted session was live (no row: there was none).  A lapsed lock row left
-- by a one-command write goes with it.
WITH t AS (
    DELETE FROM {times} WHERE sid = %(sid)s RETURNING sid, expires_at > %(now)s AS live
), s AS (
    DELETE FROM {sessions} WHERE sid IN (SELECT sid FROM t)
), l AS (
    DELETE FROM {locks} WHERE sid IN (SELECT sid FROM t) AND expires_at <= {clock}
)
SELECT live FROM t
