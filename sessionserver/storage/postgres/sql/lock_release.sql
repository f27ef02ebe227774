DELETE FROM {locks} WHERE sid = %(sid)s AND token = %(token)s::bytea
