-- name: GetEmployee :one
-- GetEmployee returns one employee by id, if their organization is in
-- the caller's scope (NULL: every organization).
SELECT * FROM employees
WHERE id = @id
  AND (sqlc.narg(scope)::bigint[] IS NULL OR organization_id = ANY(sqlc.narg(scope)));

-- name: GetEmployeeWithOrganization :one
-- GetEmployeeWithOrganization JOINs the employer in the same statement, for
-- requests that select employee.organization.
SELECT sqlc.embed(e), sqlc.embed(o)
FROM employees e
JOIN organizations o ON o.id = e.organization_id
WHERE e.id = @id
  AND (sqlc.narg(scope)::bigint[] IS NULL OR e.organization_id = ANY(sqlc.narg(scope)));

-- name: ListEmployees :many
-- ListEmployees serves both keyset pages (after_id, offset 0) and numbered
-- pages (after_id 0, offset (page-1)*size) with the API's filters.
SELECT * FROM employees
WHERE id > @after_id::bigint
  AND (sqlc.narg(organization_id)::bigint IS NULL OR organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(department)::text IS NULL OR department = sqlc.narg(department))
  AND (sqlc.narg(is_active)::boolean IS NULL OR is_active = sqlc.narg(is_active))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR organization_id = ANY(sqlc.narg(scope)))
ORDER BY id
LIMIT @limit_count::int OFFSET @offset_count::int;

-- name: ListEmployeesWithOrganization :many
-- ListEmployeesWithOrganization is ListEmployees with each employer JOINed,
-- so a page of employees with their organizations is one statement.
SELECT sqlc.embed(e), sqlc.embed(o)
FROM employees e
JOIN organizations o ON o.id = e.organization_id
WHERE e.id > @after_id::bigint
  AND (sqlc.narg(organization_id)::bigint IS NULL OR e.organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(department)::text IS NULL OR e.department = sqlc.narg(department))
  AND (sqlc.narg(is_active)::boolean IS NULL OR e.is_active = sqlc.narg(is_active))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR e.organization_id = ANY(sqlc.narg(scope)))
ORDER BY e.id
LIMIT @limit_count::int OFFSET @offset_count::int;

-- name: CountEmployees :one
-- CountEmployees counts what ListEmployees pages through.
SELECT count(*) FROM employees
WHERE (sqlc.narg(organization_id)::bigint IS NULL OR organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(department)::text IS NULL OR department = sqlc.narg(department))
  AND (sqlc.narg(is_active)::boolean IS NULL OR is_active = sqlc.narg(is_active))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR organization_id = ANY(sqlc.narg(scope)));

-- name: ListEmployeesByOrganizationIDs :many
-- ListEmployeesByOrganizationIDs loads one keyset page of employees for each
-- of many organizations in a single statement (LATERAL keeps the per-parent
-- LIMIT in the database).
SELECT e.*
FROM unnest(@organization_ids::bigint[]) AS parent(id)
CROSS JOIN LATERAL (
    SELECT * FROM employees
    WHERE employees.organization_id = parent.id
      AND employees.id > @after_id::bigint
      AND (sqlc.narg(is_active)::boolean IS NULL OR employees.is_active = sqlc.narg(is_active))
    ORDER BY employees.id
    LIMIT @limit_count::int
) e;

-- name: CountEmployeesByOrganizationIDs :many
-- CountEmployeesByOrganizationIDs counts employees per organization for many
-- organizations at once; organizations without employees are absent.
SELECT organization_id, count(*) AS employee_count
FROM employees
WHERE organization_id = ANY(@organization_ids::bigint[])
  AND (sqlc.narg(is_active)::boolean IS NULL OR is_active = sqlc.narg(is_active))
GROUP BY organization_id;

-- name: ListTeamMembersByProjectIDs :many
-- ListTeamMembersByProjectIDs loads the teams of many projects through the
-- project_members join table in one statement, the members of the
-- caller's scope only (NULL: all). A team is of its project's organization
-- (migrations/00006); the scope binds it here all the same.
SELECT pm.project_id, sqlc.embed(e)
FROM project_members pm
JOIN employees e ON e.id = pm.employee_id
WHERE pm.project_id = ANY(@project_ids::bigint[])
  AND (sqlc.narg(scope)::bigint[] IS NULL OR e.organization_id = ANY(sqlc.narg(scope)))
ORDER BY pm.project_id, e.id;

-- name: ListTeamMembersByProjectPage :many
-- ListTeamMembersByProjectPage loads the teams of the page of projects that
-- ListProjects returns for the same arguments: it finds the page's ids
-- itself, so a page's teams go to the database with the page, in one
-- pipeline (postgres.Pipeline), instead of after it: one round trip, not
-- two. The ids go in as an array: the primary key of project_members then
-- returns the rows in (project_id, employee_id) order, where joining the
-- page as a subquery left PostgreSQL a sort (0.23 against 0.32-0.50 ms,
-- EXPLAIN ANALYZE of 20 projects on the sample data).
SELECT pm.project_id, sqlc.embed(e)
FROM project_members pm
JOIN employees e ON e.id = pm.employee_id
WHERE pm.project_id = ANY(ARRAY(
    SELECT p.id
    FROM projects p
    WHERE p.id > @after_id::bigint
      AND (sqlc.narg(status)::text IS NULL OR p.status = sqlc.narg(status))
      AND (sqlc.narg(organization_id)::bigint IS NULL OR p.organization_id = sqlc.narg(organization_id))
      AND (sqlc.narg(scope)::bigint[] IS NULL OR p.organization_id = ANY(sqlc.narg(scope)))
    ORDER BY p.id
    LIMIT @limit_count::int OFFSET @offset_count::int))
  -- Cast, so that postgres.Planned leaves this ANY as it is for a scope of
  -- one organization (it folds the page's into an equality): an equality
  -- here made PostgreSQL hash the organization's employees and sort.
  AND (sqlc.narg(scope)::bigint[] IS NULL OR e.organization_id = ANY(sqlc.narg(scope)::bigint[]))
ORDER BY pm.project_id, e.id;

-- name: GetEmployeeStats :one
-- GetEmployeeStats aggregates salaries and head counts in the database,
-- optionally for one organization and/or department.
SELECT count(*)                                 AS total,
       count(*) FILTER (WHERE is_active)        AS active,
       count(*) FILTER (WHERE NOT is_active)    AS inactive,
       COALESCE(avg(salary), 0)::float8         AS average_salary,
       COALESCE(max(salary), 0)::float8         AS max_salary,
       COALESCE(min(salary), 0)::float8         AS min_salary
FROM employees
WHERE (sqlc.narg(organization_id)::bigint IS NULL OR organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(department)::text IS NULL OR department = sqlc.narg(department))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR organization_id = ANY(sqlc.narg(scope)));

-- name: ListEmployeeStatsByOrganizationIDs :many
-- ListEmployeeStatsByOrganizationIDs is GetEmployeeStats for many
-- organizations in one GROUP BY; organizations without employees are absent.
SELECT organization_id,
       count(*)                                 AS total,
       count(*) FILTER (WHERE is_active)        AS active,
       count(*) FILTER (WHERE NOT is_active)    AS inactive,
       COALESCE(avg(salary), 0)::float8         AS average_salary,
       COALESCE(max(salary), 0)::float8         AS max_salary,
       COALESCE(min(salary), 0)::float8         AS min_salary
FROM employees
WHERE organization_id = ANY(@organization_ids::bigint[])
GROUP BY organization_id;

-- name: ListDepartmentStats :many
-- ListDepartmentStats groups employees by department, optionally within one
-- organization.
SELECT department,
       count(*)                         AS employee_count,
       COALESCE(avg(salary), 0)::float8 AS average_salary,
       COALESCE(min(salary), 0)::float8 AS min_salary,
       COALESCE(max(salary), 0)::float8 AS max_salary
FROM employees
WHERE (sqlc.narg(organization_id)::bigint IS NULL OR organization_id = sqlc.narg(organization_id))
  AND (sqlc.narg(scope)::bigint[] IS NULL OR organization_id = ANY(sqlc.narg(scope)))
GROUP BY department
ORDER BY department;

-- name: ListDepartmentStatsByOrganizationIDs :many
-- ListDepartmentStatsByOrganizationIDs is ListDepartmentStats for many
-- organizations in one statement.
SELECT organization_id,
       department,
       count(*)                         AS employee_count,
       COALESCE(avg(salary), 0)::float8 AS average_salary,
       COALESCE(min(salary), 0)::float8 AS min_salary,
       COALESCE(max(salary), 0)::float8 AS max_salary
FROM employees
WHERE organization_id = ANY(@organization_ids::bigint[])
GROUP BY organization_id, department
ORDER BY organization_id, department;

-- name: CopyEmployees :copyfrom
-- CopyEmployees bulk-loads sample data with COPY.
INSERT INTO employees (id, organization_id, name, email, department, title, salary, is_active, hired_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: CreateEmployee :one
-- CreateEmployee inserts an employee; the foreign key reports an unknown
-- organization and the lower(email) index a duplicate email.
INSERT INTO employees (organization_id, name, email, department, title, salary, is_active, hired_at)
VALUES (@organization_id, @name, @email, @department, @title, @salary, @is_active, COALESCE(sqlc.narg(hired_at)::timestamptz, now()))
RETURNING *;

-- name: GetEmployeeForUpdate :one
-- GetEmployeeForUpdate locks the row so concurrent updates of one employee
-- serialize and each sees the organization it moves from.
SELECT * FROM employees
WHERE id = $1
FOR UPDATE;

-- name: UpdateEmployee :one
-- UpdateEmployee changes the fields given (NULL keeps the old value).
UPDATE employees
SET organization_id = COALESCE(sqlc.narg(organization_id), organization_id),
    name            = COALESCE(sqlc.narg(name), name),
    email           = COALESCE(sqlc.narg(email), email),
    department      = COALESCE(sqlc.narg(department), department),
    title           = COALESCE(sqlc.narg(title), title),
    salary          = COALESCE(sqlc.narg(salary), salary),
    is_active       = COALESCE(sqlc.narg(is_active), is_active),
    hired_at        = COALESCE(sqlc.narg(hired_at), hired_at),
    updated_at      = now()
WHERE id = @id
RETURNING *;

-- name: DeleteEmployee :one
-- DeleteEmployee removes an employee; team memberships go with it (ON
-- DELETE CASCADE).
DELETE FROM employees
WHERE id = $1
RETURNING *;

-- name: DeleteMembershipsOutsideOrganization :many
-- DeleteMembershipsOutsideOrganization takes an employee who moved to
-- another organization off every team of a project outside it.
DELETE FROM project_members pm
USING projects p
WHERE p.id = pm.project_id
  AND pm.employee_id = @employee_id
  AND p.organization_id <> @organization_id
RETURNING pm.project_id;
