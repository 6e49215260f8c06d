-- The change log (issue #18): every committed insert, update or delete of
-- organizations, employees, projects and team memberships appends a row
-- here, in the transaction that made the change, whoever made it (a
-- mutation, psql, a batch job). The relay (changefeed/) reads it in
-- position order, retires the cache versions each change affects and
-- publishes its event; README "The change feed" and docs/PATTERNS.md
-- "Outbox and relay" explain the design.
--
-- Positions follow commit order. Triggers insert their rows with a NULL
-- position. At COMMIT, a deferred constraint trigger takes a transaction
-- advisory lock (one key for the whole database) and numbers the rows of
-- its transaction from a sequence, each by its primary key (no search,
-- whatever the planner thinks of the table). PostgreSQL releases a transaction's
-- locks only after its commit is visible to every new snapshot, so the
-- next committer numbers its rows after this one is visible: a reader that
-- sees position p also sees every position below p, and one that read up
-- to p never meets a smaller position later. A transaction that rolls
-- back (or whose COMMIT fails after numbering) leaves a gap, never a row.
--
-- performance_metrics has no trigger: the service's sampled writes (COPY
-- from monitor/recorder.go) are not changes anyone subscribes to, and the
-- mutation recordMetric logs its sample itself (CreateMetric,
-- queries/metrics.sql). A session that sets orgpulse.bulk = 'on' (seed)
-- logs one RESET row per transaction instead of one row per changed row;
-- TRUNCATE logs a RESET too: the relay then retires the whole cache.

-- +goose Up
CREATE SEQUENCE change_log_position_seq AS bigint;

CREATE TABLE change_log (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Commit order; NULL until the writing transaction commits.
    position            bigint,
    committed_at        timestamptz,
    table_name          text        NOT NULL,
    op                  text        NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'RESET')),
    -- The row's id; for project_members the project's.
    row_id              bigint      NOT NULL DEFAULT 0,
    -- project_members only.
    employee_id         bigint      NOT NULL DEFAULT 0,
    -- The organization of the row after the change (before, for DELETE),
    -- and before it when an employee or project moved (else 0).
    organization_id     bigint      NOT NULL DEFAULT 0,
    old_organization_id bigint      NOT NULL DEFAULT 0,
    -- projects and project_members: the project's team size after the change.
    team_size           integer     NOT NULL DEFAULT 0,
    -- The row after the change (for project_members: the project), NULL
    -- for DELETE; old_row is the row before an UPDATE or DELETE.
    new_row             jsonb,
    old_row             jsonb
);

-- Readers page by position (ListChangesAfter).
CREATE UNIQUE INDEX change_log_position_key ON change_log (position);

-- What the one active relay delivered last: it resumes after it.
CREATE TABLE change_relay (
    id           boolean     PRIMARY KEY DEFAULT true CHECK (id),
    position     bigint      NOT NULL DEFAULT 0,
    delivered_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO change_relay DEFAULT VALUES;

-- +goose StatementBegin
-- change_log_number runs at COMMIT (deferred) once per log row, in the
-- order the rows were inserted, and numbers that row. The first firing of
-- a transaction takes the lock; it is held until the transaction ends, so
-- no other transaction numbers rows in between.
-- 0x6f72_6763_6861_6e67 is "orgchang": changefeed.CommitLockKey.
CREATE FUNCTION change_log_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(8030594762205654631);
    UPDATE change_log SET position = nextval('change_log_position_seq'), committed_at = clock_timestamp()
     WHERE id = NEW.id;
    -- Identical notifications of one transaction are sent once.
    PERFORM pg_notify('orgpulse_changes', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER change_log_number
    AFTER INSERT ON change_log DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION change_log_number();

-- +goose StatementBegin
CREATE FUNCTION change_log_organizations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_log (table_name, op, row_id, organization_id, new_row, old_row)
    VALUES (TG_TABLE_NAME, TG_OP, COALESCE(NEW.id, OLD.id), COALESCE(NEW.id, OLD.id),
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION change_log_employees() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_log (table_name, op, row_id, organization_id, old_organization_id, new_row, old_row)
    VALUES (TG_TABLE_NAME, TG_OP, COALESCE(NEW.id, OLD.id), COALESCE(NEW.organization_id, OLD.organization_id),
            CASE WHEN TG_OP = 'UPDATE' AND NEW.organization_id <> OLD.organization_id THEN OLD.organization_id ELSE 0 END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION change_log_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_log (table_name, op, row_id, organization_id, old_organization_id, team_size, new_row, old_row)
    VALUES (TG_TABLE_NAME, TG_OP, COALESCE(NEW.id, OLD.id), COALESCE(NEW.organization_id, OLD.organization_id),
            CASE WHEN TG_OP = 'UPDATE' AND NEW.organization_id <> OLD.organization_id THEN OLD.organization_id ELSE 0 END,
            CASE WHEN TG_OP = 'UPDATE' THEN (SELECT count(*) FROM project_members WHERE project_id = NEW.id) ELSE 0 END,
            CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
            CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- A team change is a change of its project: the row carries the project
-- as it is after the change, with its team size, for projectUpdated. When
-- the project itself is gone (a cascade), only the keys are logged.
CREATE FUNCTION change_log_project_members() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid  bigint := COALESCE(NEW.project_id, OLD.project_id);
    proj projects;
BEGIN
    SELECT * INTO proj FROM projects WHERE id = pid;
    INSERT INTO change_log (table_name, op, row_id, employee_id, organization_id, team_size, new_row)
    VALUES (TG_TABLE_NAME, TG_OP, pid, COALESCE(NEW.employee_id, OLD.employee_id), COALESCE(proj.organization_id, 0),
            CASE WHEN proj.id IS NOT NULL THEN (SELECT count(*) FROM project_members WHERE project_id = pid) ELSE 0 END,
            CASE WHEN proj.id IS NOT NULL THEN to_jsonb(proj) END);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- change_log_reset logs that anything may have changed: a TRUNCATE, or a
-- bulk load (orgpulse.bulk = 'on'), once per transaction.
CREATE FUNCTION change_log_reset() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    me text := pg_current_xact_id()::text;
BEGIN
    IF current_setting('orgpulse.reset_logged', true) IS DISTINCT FROM me THEN
        INSERT INTO change_log (table_name, op) VALUES (TG_TABLE_NAME, 'RESET');
        PERFORM set_config('orgpulse.reset_logged', me, true);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER organizations_change_log AFTER INSERT OR UPDATE OR DELETE ON organizations
    FOR EACH ROW WHEN (current_setting('orgpulse.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION change_log_organizations();
CREATE TRIGGER employees_change_log AFTER INSERT OR UPDATE OR DELETE ON employees
    FOR EACH ROW WHEN (current_setting('orgpulse.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION change_log_employees();
CREATE TRIGGER projects_change_log AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW WHEN (current_setting('orgpulse.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION change_log_projects();
CREATE TRIGGER project_members_change_log AFTER INSERT OR UPDATE OR DELETE ON project_members
    FOR EACH ROW WHEN (current_setting('orgpulse.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION change_log_project_members();

CREATE TRIGGER organizations_change_log_bulk AFTER INSERT OR UPDATE OR DELETE ON organizations
    FOR EACH STATEMENT WHEN (current_setting('orgpulse.bulk', true) = 'on') EXECUTE FUNCTION change_log_reset();
CREATE TRIGGER employees_change_log_bulk AFTER INSERT OR UPDATE OR DELETE ON employees
    FOR EACH STATEMENT WHEN (current_setting('orgpulse.bulk', true) = 'on') EXECUTE FUNCTION change_log_reset();
CREATE TRIGGER projects_change_log_bulk AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH STATEMENT WHEN (current_setting('orgpulse.bulk', true) = 'on') EXECUTE FUNCTION change_log_reset();
CREATE TRIGGER project_members_change_log_bulk AFTER INSERT OR UPDATE OR DELETE ON project_members
    FOR EACH STATEMENT WHEN (current_setting('orgpulse.bulk', true) = 'on') EXECUTE FUNCTION change_log_reset();

CREATE TRIGGER organizations_change_log_truncate AFTER TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION change_log_reset();
CREATE TRIGGER employees_change_log_truncate AFTER TRUNCATE ON employees
    FOR EACH STATEMENT EXECUTE FUNCTION change_log_reset();
CREATE TRIGGER projects_change_log_truncate AFTER TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION change_log_reset();
CREATE TRIGGER project_members_change_log_truncate AFTER TRUNCATE ON project_members
    FOR EACH STATEMENT EXECUTE FUNCTION change_log_reset();

-- +goose Down
DROP TRIGGER organizations_change_log ON organizations;
DROP TRIGGER employees_change_log ON employees;
DROP TRIGGER projects_change_log ON projects;
DROP TRIGGER project_members_change_log ON project_members;
DROP TRIGGER organizations_change_log_bulk ON organizations;
DROP TRIGGER employees_change_log_bulk ON employees;
DROP TRIGGER projects_change_log_bulk ON projects;
DROP TRIGGER project_members_change_log_bulk ON project_members;
DROP TRIGGER organizations_change_log_truncate ON organizations;
DROP TRIGGER employees_change_log_truncate ON employees;
DROP TRIGGER projects_change_log_truncate ON projects;
DROP TRIGGER project_members_change_log_truncate ON project_members;
DROP FUNCTION change_log_reset();
DROP FUNCTION change_log_project_members();
DROP FUNCTION change_log_projects();
DROP FUNCTION change_log_employees();
DROP FUNCTION change_log_organizations();
DROP TABLE change_relay;
DROP TABLE change_log;
DROP FUNCTION change_log_number();
DROP SEQUENCE change_log_position_seq;
