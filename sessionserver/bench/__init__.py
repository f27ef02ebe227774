"""``sessionserver bench``: the session cycle against the daemon and against Redis, side by side.

See :mod:`.cli` for the command and :mod:`.workload` for what one cycle is.
"""
