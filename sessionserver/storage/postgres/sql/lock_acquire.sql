INSERT INTO {locks} AS l (sid, token, expires_at)
VALUES (%(sid)s, %(token)s::bytea, {clock} + %(lease)s)
ON CONFLICT (sid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
WHERE l.expires_at <= {clock}
RETURNING 1
