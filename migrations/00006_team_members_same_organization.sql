-- A team member works for the project's organization (issue #19). The
-- mutations checked it in Go (addTeamMember, and a move to another
-- organization takes the employee off the old one's teams), but nothing
-- in the database did: a row written by psql or a batch job could put an
-- employee of organization 4 on a team of organization 3, and a member of
-- 3 would then see them (and count them in teamSize) through the team,
-- since everything below a root row follows foreign keys. Now the
-- database refuses such a row, whoever writes it: project_members carries
-- the organization_id, and two composite foreign keys tie it to both the
-- project's and the employee's organization.
--
-- Both keys are DEFERRABLE INITIALLY DEFERRED, checked at COMMIT: moving
-- an employee (UPDATE employees SET organization_id) leaves their old
-- memberships pointing at (id, old organization) until the same
-- transaction deletes them (updateEmployee does, DeleteMembershipsOutside
-- Organization); a move that keeps them fails at COMMIT. ON DELETE CASCADE
-- is not deferred: deleting an employee or a project still takes its
-- memberships with it at once. The single-column keys stay beside them:
-- PostGraphile, which the benchmark runs on this schema, names its
-- relations after them (projectMembersByProjectId).
--
-- The composite keys need unique indexes on (organization_id, id): the
-- indexes on organization_id the tables already had become unique and
-- gain id (projects: which also gives ListProjectsByOrganizationIDs its
-- order), under the same names, so there are as many indexes as before.
--
-- Rows already crossing organizations are deleted, as a move would have
-- done. The migration logs one RESET (orgpulse.bulk), not a change per row.

-- +goose Up
SET LOCAL orgpulse.bulk = 'on';

CREATE UNIQUE INDEX employees_organization_id_id_key
    ON employees (organization_id, id) INCLUDE (is_active);
DROP INDEX employees_organization_id_id_idx;
ALTER INDEX employees_organization_id_id_key RENAME TO employees_organization_id_id_idx;

CREATE UNIQUE INDEX projects_organization_id_id_key ON projects (organization_id, id);
DROP INDEX projects_organization_id_idx;
ALTER INDEX projects_organization_id_id_key RENAME TO projects_organization_id_idx;

DELETE FROM project_members pm
USING projects p, employees e
WHERE p.id = pm.project_id AND e.id = pm.employee_id
  AND p.organization_id <> e.organization_id;

ALTER TABLE project_members ADD COLUMN organization_id bigint;
UPDATE project_members pm SET organization_id = p.organization_id
FROM projects p WHERE p.id = pm.project_id;
ALTER TABLE project_members ALTER COLUMN organization_id SET NOT NULL;

ALTER TABLE project_members
    ADD CONSTRAINT project_members_project_same_organization_fkey
        FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT project_members_employee_same_organization_fkey
        FOREIGN KEY (organization_id, employee_id) REFERENCES employees (organization_id, id)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

RESET orgpulse.bulk;

-- +goose Down
ALTER TABLE project_members
    DROP CONSTRAINT project_members_project_same_organization_fkey,
    DROP CONSTRAINT project_members_employee_same_organization_fkey,
    DROP COLUMN organization_id;

CREATE INDEX projects_organization_id_plain ON projects (organization_id);
DROP INDEX projects_organization_id_idx;
ALTER INDEX projects_organization_id_plain RENAME TO projects_organization_id_idx;

CREATE INDEX employees_organization_id_id_plain
    ON employees (organization_id, id) INCLUDE (is_active);
DROP INDEX employees_organization_id_id_idx;
ALTER INDEX employees_organization_id_id_plain RENAME TO employees_organization_id_id_idx;
