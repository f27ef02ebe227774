SELECT expires_at - %(now)s FROM {times} WHERE sid = %(sid)s AND expires_at > %(now)s
