UPDATE {times} SET ttl = %(ttl)s::integer, accessed = %(now)s,
    expires_at = least(%(now)s + %(ttl)s::integer, created + {maxlife})
WHERE sid = %(sid)s AND expires_at > %(now)s
RETURNING 1
