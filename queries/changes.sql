-- name: ListChangesAfter :many
-- ListChangesAfter returns the next limit_count logged changes after a
-- position, in commit order (migrations/00005_change_log.sql says why no
-- later commit can take a smaller position): the relay's read.
SELECT position::bigint AS position, committed_at::timestamptz AS committed_at, table_name, op,
       row_id, employee_id, organization_id, old_organization_id, team_size, new_row, old_row
FROM change_log
WHERE position > @after_position::bigint
ORDER BY position
LIMIT @limit_count::int;

-- name: GetRelayPosition :one
-- GetRelayPosition is the position the relay delivered last.
SELECT position FROM change_relay;

-- name: SetRelayPosition :exec
-- SetRelayPosition records that every change up to a position was
-- delivered; it never moves back.
UPDATE change_relay SET position = @position::bigint, delivered_at = now()
WHERE position < @position::bigint;

-- name: GetLatestChangePosition :one
-- GetLatestChangePosition is the highest committed position (0 when the
-- log is empty).
SELECT COALESCE(max(position), 0)::bigint AS position FROM change_log;

-- name: TryRelayLock :one
-- TryRelayLock takes the session advisory lock of the one active relay
-- without waiting: false means another replica's relay holds it.
SELECT pg_try_advisory_lock(@lock_key::bigint) AS locked;

-- name: DeleteDeliveredChangesBefore :execrows
-- DeleteDeliveredChangesBefore prunes at most limit_count log rows that
-- were committed before a point in time and already delivered, oldest
-- first: the log keeps the replay window and never loses an undelivered
-- change. It walks the position index from the start (commit times rise
-- with positions) and stops at the limit.
DELETE FROM change_log
WHERE id IN (SELECT c.id FROM change_log c
             WHERE c.position <= (SELECT r.position FROM change_relay r)
               AND c.committed_at < @before::timestamptz
             ORDER BY c.position
             LIMIT @limit_count::int);

-- name: ListReplayChanges :many
-- ListReplayChanges is a resuming subscription's read (after: cursor): the
-- next limit_count changes after a position of the tables its topic is
-- made of, and every RESET (a bulk change the log holds no rows of), in
-- commit order, one keyset page at a time on the position index. oldest
-- is the first position the log still holds, read in the same snapshot:
-- the relay prunes the oldest rows first, so oldest above the position
-- read last plus one means rows this reader still needed may be gone.
SELECT position::bigint AS position, committed_at::timestamptz AS committed_at, table_name, op,
       row_id, employee_id, organization_id, old_organization_id, team_size, new_row, old_row,
       (SELECT COALESCE(min(o.position), 0) FROM change_log o)::bigint AS oldest
FROM change_log
WHERE position > @after_position::bigint
  AND (table_name = ANY(@tables::text[]) OR op = 'RESET')
ORDER BY position
LIMIT @limit_count::int;

-- name: GetReplayBounds :one
-- GetReplayBounds is what a resuming subscription checks its cursor
-- against: the first position the log still holds (0: none) and the last
-- position ever numbered (0: none yet), which no genuine cursor exceeds.
SELECT (SELECT COALESCE(min(position), 0) FROM change_log)::bigint AS oldest,
       COALESCE(pg_sequence_last_value('change_log_position_seq'::regclass), 0)::bigint AS latest;
