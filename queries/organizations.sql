-- name: GetOrganization :one
-- GetOrganization returns one organization by id, if it is in the
-- caller's scope (NULL: every organization).
SELECT * FROM organizations
WHERE id = @id
  AND (sqlc.narg(scope)::bigint[] IS NULL OR id = ANY(sqlc.narg(scope)));

-- name: ListOrganizationsByIDs :many
-- ListOrganizationsByIDs backs the per-request organization loader: one
-- statement for every organization a request reaches through a foreign key,
-- within the caller's scope (NULL: every organization) like a root lookup.
SELECT * FROM organizations
WHERE id = ANY(@ids::bigint[])
  AND (sqlc.narg(scope)::bigint[] IS NULL OR id = ANY(sqlc.narg(scope)));

-- name: ListActiveOrganizations :many
-- ListActiveOrganizations returns every active organization of the
-- caller's scope (NULL: every organization) in id order.
SELECT * FROM organizations
WHERE is_active
  AND (sqlc.narg(scope)::bigint[] IS NULL OR id = ANY(sqlc.narg(scope)))
ORDER BY id;

-- name: ListOrganizations :many
-- ListOrganizations is a keyset page: rows after after_id in id order.
SELECT * FROM organizations
WHERE id > @after_id::bigint
  AND (sqlc.narg(is_active)::boolean IS NULL OR is_active = sqlc.narg(is_active))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR id = ANY(sqlc.narg(scope)))
ORDER BY id
LIMIT @limit_count::int;

-- name: CountOrganizations :one
-- CountOrganizations counts what ListOrganizations pages through.
SELECT count(*) FROM organizations
WHERE (sqlc.narg(is_active)::boolean IS NULL OR is_active = sqlc.narg(is_active))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR id = ANY(sqlc.narg(scope)));

-- name: CopyOrganizations :copyfrom
-- CopyOrganizations bulk-loads sample data with COPY.
INSERT INTO organizations (id, name, industry, is_active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: CreateOrganization :one
-- CreateOrganization inserts an organization; the unique name constraint
-- reports duplicates.
INSERT INTO organizations (name, industry, is_active)
VALUES (@name, @industry, @is_active)
RETURNING *;

-- name: UpdateOrganization :one
-- UpdateOrganization changes the fields given (NULL keeps the old value).
UPDATE organizations
SET name       = COALESCE(sqlc.narg(name), name),
    industry   = COALESCE(sqlc.narg(industry), industry),
    is_active  = COALESCE(sqlc.narg(is_active), is_active),
    updated_at = now()
WHERE id = @id
RETURNING *;
