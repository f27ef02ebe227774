SELECT count(*) FROM {times} WHERE expires_at > %(now)s
