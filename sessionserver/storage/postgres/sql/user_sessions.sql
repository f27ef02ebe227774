SELECT s.sid FROM {sessions} s JOIN {times} t ON t.sid = s.sid
WHERE s.user_id = %(user)s::bytea AND t.expires_at > %(now)s
ORDER BY s.sid
