-- The pairs and the seconds left, if the session is live (not an access).
SELECT s.data, t.expires_at - %(now)s
FROM {times} t JOIN {sessions} s ON s.sid = t.sid
WHERE t.sid = %(sid)s AND t.expires_at > %(now)s
