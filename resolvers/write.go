package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"orgpulse/cache"
	"orgpulse/db"
	"orgpulse/postgres"
)

// What each change retires: the one place this is written down. A cached
// value names the version it depends on (cache.Key.Version); Versions maps
// a committed change to the versions it moves on. Both paths use it: a
// mutation before it answers (invalidate, so that its client reads its own
// write at once), and the relay for every logged change, whoever made it
// (changefeed/, so that every replica's cache follows every commit even
// when the mutation's replica died right after COMMIT).
//
//	version              cached values                                  retired by a change of
//	orgs                 allOrganizations                               organizations
//	org:<id>:employees   Organization.employeeCount, .employeeStats,   employees of organization <id>
//	                     .departmentStats of organization <id>          (both organizations when one moves)
//	metrics              performanceSummary (also expires after 5 s)    performance_metrics (recordMetric)
//	rows                 every whole cached response (server's          organizations, employees, projects,
//	                     response cache; VersionRows)                   project_members
//	(generation)         everything                                     RESET: a TRUNCATE or a bulk load (the relay)
func Versions(c Change) []string {
	switch c.Table {
	case TableOrganizations:
		return []string{versionOrgs, VersionRows}
	case TableEmployees:
		v := []string{versionOrgEmployees(c.OrganizationID), VersionRows}
		if c.OldOrganizationID != 0 && c.OldOrganizationID != c.OrganizationID {
			v = append(v, versionOrgEmployees(c.OldOrganizationID))
		}
		return v
	case TableProjects, TableProjectMembers:
		return []string{VersionRows}
	case TableMetrics:
		return []string{versionMetrics}
	}
	return nil
}

// VersionsOf is the union of the Versions of changes, each once.
func VersionsOf(changes []Change) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range changes {
		for _, v := range Versions(c) {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

const versionOrgs = "orgs"
const versionMetrics = "metrics"

// VersionRows is the version of whole cached responses: every mutation
// that changes organizations, employees, projects or teams moves it on.
// Responses that read performance samples, which the service records
// without a mutation, are never cached whole (ResponseCacheable).
const VersionRows = "rows"

func versionOrgEmployees(orgID int64) string { return fmt.Sprintf("org:%d:employees", orgID) }

// CommitWait is how long a mutation waits, once its COMMIT has been sent,
// for PostgreSQL's answer: the request deadline and the client no longer
// count, since only that answer says whether the change was made.
const CommitWait = 3 * time.Second

// answerWait is what a mutation whose COMMIT answered at the last moment
// of CommitWait still has to read the rows of its answer.
const answerWait = 2 * time.Second

// writeState is a mutation request's view of its deadline and commit.
type writeState struct {
	deadline  time.Time   // the request deadline: the transaction must be done by then
	committed atomic.Bool // a COMMIT of this request succeeded
}

type writeStateKey struct{}

// RequestContext bounds one operation by timeout (REQUEST_TIMEOUT). A
// mutation is different: graphql-go answers only ctx.Err() -- dropping
// the data -- when the context it executes on has ended, so a mutation
// whose COMMIT succeeded just after the deadline would be answered
// TIMEOUT although it was committed. A mutation therefore executes on a
// context that lasts CommitWait+answerWait beyond the deadline, while its
// transaction (write) runs on the deadline itself: statements and the
// decision to COMMIT are bounded by REQUEST_TIMEOUT, the outcome of a sent
// COMMIT is awaited, and a committed mutation still has answerWait to
// read its answer. The truth wins: the answer is the data when the change
// was committed, an error when it was not.
func RequestContext(parent context.Context, timeout time.Duration, mutation bool) (context.Context, context.CancelFunc) {
	if !mutation {
		return context.WithTimeout(parent, timeout)
	}
	st := &writeState{deadline: time.Now().Add(timeout)}
	ctx := context.WithValue(parent, writeStateKey{}, st)
	return context.WithDeadline(ctx, st.deadline.Add(CommitWait+answerWait))
}

// Committed reports whether a mutation of the request of ctx committed:
// the server then never answers the request as failed.
func Committed(ctx context.Context) bool {
	st, ok := ctx.Value(writeStateKey{}).(*writeState)
	return ok && st.committed.Load()
}

// write runs fn in one transaction: on any error nothing is written. The
// mutation then calls invalidate with what it changed. Database errors that
// are the client's doing become coded errors here.
//
// fn runs on ctx bounded by the request deadline (RequestContext). Once
// COMMIT has been sent, write waits up to CommitWait for its outcome
// whatever happens to the request, so that it never reports as failed a
// change PostgreSQL made. A COMMIT that PostgreSQL refused (a deferred
// constraint, a serialization failure) made no change; one whose answer
// never came is reported as CodeOutcomeUnknown.
func (r *Resolver) write(ctx context.Context, fn func(ctx context.Context, q *db.Queries) error) error {
	if err := requireWriter(ctx); err != nil {
		return err
	}
	st, _ := ctx.Value(writeStateKey{}).(*writeState)
	txCtx := ctx
	if st != nil {
		var cancel context.CancelFunc
		txCtx, cancel = context.WithDeadline(ctx, st.deadline)
		defer cancel()
	}
	tx, err := r.pool.Begin(txCtx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if err := fn(txCtx, r.q.WithTx(tx)); err != nil {
		if ctxErr := txCtx.Err(); ctxErr != nil {
			// The statement was cancelled because the request's deadline
			// passed or its client left: say so, not what the cancel
			// looked like to the driver.
			return fmt.Errorf("%w: %w", ctxErr, err)
		}
		return translateWriteError(err)
	}
	if err := txCtx.Err(); err != nil {
		return err // the deadline passed before COMMIT: roll back
	}
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CommitWait)
	defer cancel()
	if err := tx.Commit(commitCtx); err != nil {
		if postgres.Answered(err) || errors.Is(err, pgx.ErrTxCommitRollback) {
			return translateWriteError(fmt.Errorf("commit: %w", err))
		}
		slog.Default().Warn("commit outcome unknown", "err", err)
		return Errorf(CodeOutcomeUnknown, "", "the change was sent to the database, but its outcome is unknown: read it back before retrying")
	}
	if st != nil {
		st.committed.Store(true)
	}
	return nil
}

// invalidate runs after commit with what the mutation changed: the cache
// must not be cleared before the new rows are visible, or a reader could
// cache the old ones again. The cache bounds it by its own OpTimeout, never
// by the request's context. It is the mutation's own, immediate retirement
// (read-your-writes); the relay retires the same versions again from the
// change log, which is what makes it hold when this one never runs.
func (r *Resolver) invalidate(ctx context.Context, changes ...Change) {
	if r.cfg.FailAfterCommit != nil && r.cfg.FailAfterCommit() {
		return // test failpoint: the replica "died" after COMMIT
	}
	r.cfg.Cache.Invalidate(context.WithoutCancel(ctx), VersionsOf(changes)...)
}

// constraintErrors maps the constraints a client can violate to errors.
var constraintErrors = map[string]*Error{
	"organizations_name_key":           {Code: CodeConflict, Field: "name", Message: "an organization with this name already exists"},
	"employees_lower_email_key":        {Code: CodeConflict, Field: "email", Message: "an employee with this email already exists"},
	"project_members_pkey":             {Code: CodeConflict, Field: "employeeId", Message: "the employee is already on this project's team"},
	"employees_organization_id_fkey":   {Code: CodeNotFound, Field: "organizationId", Message: "no organization has this id"},
	"projects_organization_id_fkey":    {Code: CodeNotFound, Field: "organizationId", Message: "no organization has this id"},
	"project_members_employee_id_fkey": {Code: CodeNotFound, Field: "employeeId", Message: "no employee has this id"},
	"project_members_project_id_fkey":  {Code: CodeNotFound, Field: "projectId", Message: "no project has this id"},
}

func translateWriteError(err error) error {
	var coded *Error
	if errors.As(err, &coded) {
		return coded
	}
	if e, ok := constraintErrors[postgres.Constraint(err)]; ok {
		return e
	}
	switch postgres.Classify(err) {
	case postgres.KindCheckViolation: // validation missed a rule
		return Errorf(CodeBadUserInput, "", "the input breaks the rule %s", postgres.Constraint(err))
	case postgres.KindOutOfRange:
		return Errorf(CodeBadUserInput, "", "a number in the input is out of range")
	}
	return err
}

// missing turns pgx's no-rows error for a row a mutation needs into
// NOT_FOUND.
func missing(err error, field, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return Errorf(CodeNotFound, field, "no %s has this id", what)
	}
	return err
}

const maxNameLength = 200

// firstError is the first failed check of an input's fields, so that each
// input's checks read as one list, in the order its errors are reported.
func firstError(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// Validation of mutation input. Each check names the input field at fault.
func checkName(field string, v *string) error {
	if v == nil {
		return nil
	}
	s := strings.TrimSpace(*v)
	switch {
	case s == "":
		return Errorf(CodeBadUserInput, field, "%s must not be empty", field)
	case !utf8.ValidString(s):
		return Errorf(CodeBadUserInput, field, "%s must be valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxNameLength:
		return Errorf(CodeBadUserInput, field, "%s must be at most %d characters", field, maxNameLength)
	}
	*v = s
	return nil
}

func checkText(field string, v *string, maxLen int) error {
	if v == nil {
		return nil
	}
	if !utf8.ValidString(*v) || utf8.RuneCountInString(*v) > maxLen {
		return Errorf(CodeBadUserInput, field, "%s must be valid UTF-8 of at most %d characters", field, maxLen)
	}
	return nil
}

func checkEmail(v *string) error {
	if v == nil {
		return nil
	}
	s := strings.TrimSpace(*v)
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") || len(s) > 254 {
		return Errorf(CodeBadUserInput, "email", "email must be an address like name@example.com, got %q", *v)
	}
	*v = s
	return nil
}

// The largest values of the money columns, numeric(12,2) and numeric(14,2).
const (
	maxSalary = 9_999_999_999.99
	maxBudget = 999_999_999_999.99
)

// checkAmount compares the value as the column will store it, rounded to
// cents, so nothing that passes can overflow the column.
func checkAmount(field string, v *float64, limit float64) error {
	if v == nil {
		return nil
	}
	if math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0 || math.Round(*v*100)/100 > limit {
		return Errorf(CodeBadUserInput, field, "%s must be a finite number from 0 to %.2f, got %v", field, limit, *v)
	}
	return nil
}

// cacheKey names a per-organization aggregate in the cache.
func orgCacheKey(orgID int64, name string) cache.Key {
	return cache.Key{Name: fmt.Sprintf("org:%d:%s", orgID, name), Version: versionOrgEmployees(orgID)}
}
