-- A rename is the one change that holds two sessions' rows at once.  Renames whose ids overlap
-- take turns, on advisory locks taken in key order before the rename's snapshot (a row made
-- since a snapshot is not seen, so row locks alone cannot be ordered).
SELECT pg_advisory_xact_lock(%(space)s::integer, key)
FROM unnest(%(keys)s::integer[]) AS key
