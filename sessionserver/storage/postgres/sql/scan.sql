SELECT sid FROM {times} WHERE sid > %(after)s AND expires_at > %(now)s
ORDER BY sid LIMIT %(count)s::bigint
