-- name: GetProject :one
-- GetProject returns one project by id. Every project query returns
-- team_size with the row: a correlated COUNT on the project_members primary
-- key costs one index probe per project and saves a statement whenever
-- teamSize is selected.
SELECT sqlc.embed(p),
       (SELECT count(*) FROM project_members m WHERE m.project_id = p.id)::int AS team_size
FROM projects p
WHERE p.id = @id
  AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)));

-- name: GetProjectWithOrganization :one
-- GetProjectWithOrganization JOINs the owning organization in the same
-- statement, for requests that select project.organization.
SELECT sqlc.embed(p), sqlc.embed(o),
       (SELECT count(*) FROM project_members m WHERE m.project_id = p.id)::int AS team_size
FROM projects p
JOIN organizations o ON o.id = p.organization_id
WHERE p.id = @id
  AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)));

-- name: ListProjects :many
-- ListProjects serves keyset and numbered pages of projects with filters.
SELECT sqlc.embed(p),
       (SELECT count(*) FROM project_members m WHERE m.project_id = p.id)::int AS team_size
FROM projects p
WHERE p.id > @after_id::bigint
  AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status))
  AND (sqlc.narg(organization_id)::bigint IS NULL OR p.organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)))
ORDER BY p.id
LIMIT @limit_count::int OFFSET @offset_count::int;

-- name: ListProjectsWithOrganization :many
-- ListProjectsWithOrganization is ListProjects with each owner JOINed.
SELECT sqlc.embed(p), sqlc.embed(o),
       (SELECT count(*) FROM project_members m WHERE m.project_id = p.id)::int AS team_size
FROM projects p
JOIN organizations o ON o.id = p.organization_id
WHERE p.id > @after_id::bigint
  AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status))
  AND (sqlc.narg(organization_id)::bigint IS NULL OR p.organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)))
ORDER BY p.id
LIMIT @limit_count::int OFFSET @offset_count::int;

-- name: CountProjects :one
-- CountProjects counts what ListProjects pages through.
SELECT count(*) FROM projects
WHERE (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(organization_id)::bigint IS NULL OR organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR organization_id = ANY(sqlc.narg(scope)));

-- name: ListProjectsByOrganizationIDs :many
-- ListProjectsByOrganizationIDs loads the projects of many organizations in
-- one statement.
SELECT sqlc.embed(p),
       (SELECT count(*) FROM project_members m WHERE m.project_id = p.id)::int AS team_size
FROM projects p
WHERE p.organization_id = ANY(@organization_ids::bigint[])
  AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status))
ORDER BY p.organization_id, p.id;

-- name: ListProjectsByEmployeeIDs :many
-- ListProjectsByEmployeeIDs loads the projects of many employees through
-- the project_members join table in one statement, those of the caller's
-- scope only (NULL: all). A team is of its project's organization
-- (migrations/00006); the scope binds it here all the same.
SELECT pm.employee_id, sqlc.embed(p),
       (SELECT count(*) FROM project_members m WHERE m.project_id = p.id)::int AS team_size
FROM project_members pm
JOIN projects p ON p.id = pm.project_id
WHERE pm.employee_id = ANY(@employee_ids::bigint[])
  AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)))
ORDER BY pm.employee_id, p.id;

-- name: ListProjectsByEmployeeIDsWithoutTeamSize :many
-- ListProjectsByEmployeeIDsWithoutTeamSize is ListProjectsByEmployeeIDs for
-- requests that do not select teamSize. A nested page reaches thousands of
-- memberships (50 organizations x 50 employees: 8,000 rows), and counting
-- each project's team once per membership row was most of the statement's
-- time (docs/BENCHMARKS.md).
SELECT pm.employee_id, sqlc.embed(p)
FROM project_members pm
JOIN projects p ON p.id = pm.project_id
WHERE pm.employee_id = ANY(@employee_ids::bigint[])
  AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)))
ORDER BY pm.employee_id, p.id;

-- name: CopyProjects :copyfrom
-- CopyProjects bulk-loads sample data with COPY.
INSERT INTO projects (id, organization_id, name, description, status, budget, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: CopyProjectMembers :copyfrom
-- CopyProjectMembers bulk-loads sample teams with COPY.
INSERT INTO project_members (project_id, employee_id, role, joined_at, organization_id)
VALUES ($1, $2, $3, $4, $5);

-- name: CreateProject :one
-- CreateProject inserts a project; the foreign key reports an unknown
-- organization.
INSERT INTO projects (organization_id, name, description, status, budget)
VALUES (@organization_id, @name, @description, @status, @budget)
RETURNING *;

-- name: GetProjectForUpdate :one
-- GetProjectForUpdate locks the project so concurrent team changes
-- serialize.
SELECT * FROM projects
WHERE id = $1
FOR UPDATE;

-- name: UpdateProject :one
-- UpdateProject changes the fields given (NULL keeps the old value).
UPDATE projects
SET name        = COALESCE(sqlc.narg(name), name),
    description = COALESCE(sqlc.narg(description), description),
    status      = COALESCE(sqlc.narg(status), status),
    budget      = COALESCE(sqlc.narg(budget), budget),
    updated_at  = now()
WHERE id = @id
RETURNING *;

-- name: AddTeamMember :exec
-- AddTeamMember puts an employee on a project's team; the primary key
-- reports one already there. organization_id is the project's: the
-- foreign keys refuse an employee of another (migrations/00006).
INSERT INTO project_members (project_id, employee_id, role, organization_id)
VALUES (@project_id, @employee_id, @role, @organization_id);

-- name: RemoveTeamMember :execrows
-- RemoveTeamMember takes an employee off a project's team.
DELETE FROM project_members
WHERE project_id = @project_id AND employee_id = @employee_id;
