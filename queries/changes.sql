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
