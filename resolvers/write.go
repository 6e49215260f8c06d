package resolvers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"orgpulse/cache"
	"orgpulse/db"
)

// What each mutation invalidates: the one place this is written down.
// A cached value names the version it depends on (cache.Key.Version);
// a mutation bumps versions after its transaction commits.
//
//	version              cached values                                  bumped by
//	orgs                 allOrganizations                               createOrganization, updateOrganization
//	org:<id>:employees   Organization.employeeCount, .employeeStats,   createEmployee, deleteEmployee, updateEmployee
//	                     .departmentStats of organization <id>          (both organizations when an employee moves)
//	metrics              performanceSummary (also expires after 5 s)    recordMetric
//	rows                 every whole cached response (server's          every mutation but recordMetric
//	                     response cache; VersionRows)                   (invalidate adds it)
const versionOrgs = "orgs"
const versionMetrics = "metrics"

// VersionRows is the version of whole cached responses: every mutation
// that changes organizations, employees, projects or teams moves it on.
// Responses that read performance samples, which the service records
// without a mutation, are never cached whole (ResponseCacheable).
const VersionRows = "rows"

func versionOrgEmployees(orgID int64) string { return fmt.Sprintf("org:%d:employees", orgID) }

type authorizedKey struct{}

// WithAuthorized marks ctx as carrying a valid API token. The server calls
// it after comparing the bearer token in constant time; every mutation
// checks for it.
func WithAuthorized(ctx context.Context) context.Context {
	return context.WithValue(ctx, authorizedKey{}, true)
}

func requireAuthorized(ctx context.Context) error {
	if ok, _ := ctx.Value(authorizedKey{}).(bool); !ok {
		return Errorf(CodeUnauthenticated, "", "mutations need the header Authorization: Bearer <API_TOKEN>")
	}
	return nil
}

// write runs fn in one transaction: on any error nothing is written. The
// mutation then calls invalidate with what it changed. Database errors that
// are the client's doing become coded errors here.
func (r *Resolver) write(ctx context.Context, fn func(q *db.Queries) error) error {
	if err := requireAuthorized(ctx); err != nil {
		return err
	}
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if err := fn(r.q.WithTx(tx)); err != nil {
		return translateWriteError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return translateWriteError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// invalidate runs after commit: the cache must not be cleared before the
// new rows are visible, or a reader could cache the old ones again. Every
// mutation of rows calls it, with the finer versions it changed if any; it
// always retires the whole cached responses (VersionRows), in the same
// round trip.
func (r *Resolver) invalidate(ctx context.Context, versions ...string) {
	r.cfg.Cache.Invalidate(context.WithoutCancel(ctx), append(versions, VersionRows)...)
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
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if e, ok := constraintErrors[pgErr.ConstraintName]; ok {
			return e
		}
		switch pgErr.Code {
		case "23514": // check_violation: validation missed a rule
			return Errorf(CodeBadUserInput, "", "the input breaks the rule %s", pgErr.ConstraintName)
		case "22003": // numeric_value_out_of_range
			return Errorf(CodeBadUserInput, "", "a number in the input is out of range")
		}
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
