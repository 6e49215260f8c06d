package postgres

import (
	"context"
	"database/sql/driver"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"orgpulse/db"
)

// How statements are planned. pgx prepares each statement once per
// connection, and the pool's sessions run every prepared statement's
// generic plan, made once without the parameter values (plan_cache_mode =
// force_generic_plan, postgres.go). For most statements that is what we
// want: planning a primary-key or "= ANY($1)" lookup again on every call
// costs more than running it (about 0.1 ms against 0.04 ms), and planning a
// page of projects costs 0.5 ms against 0.2 ms to run it (EXPLAIN ANALYZE,
// sample data).
//
// Two kinds of statement need more than that:
//
//   - optional filters, "($1::bigint IS NULL OR organization_id = $1)": a
//     generic plan cannot fold away the branches of the filters not given,
//     so a filtered call would run the plan made for an unfiltered one.
//     Planned folds them before PostgreSQL sees the statement: each
//     "$n::type IS NULL" becomes TRUE or FALSE from the argument, so every
//     combination of given filters is a statement of its own (at most
//     2^maxFolded texts per query), prepared once per connection with a
//     generic plan that fits it.
//   - ranges over a parameter ("recorded_at >= $2"): how many rows a window
//     holds decides between index and sequential scans, so those are sent
//     with pgx's QueryExecModeSimpleProtocol: the values are quoted into the
//     text, and PostgreSQL plans the statement for them on every call, in
//     one round trip. A keyset cursor ("e.id > $1") is not such a range:
//     the page is read in primary-key order up to its LIMIT whatever the
//     cursor's value.
//     Nor is a window that a covering index answers whatever its size: such
//     a statement says so with the comment "/* plan: generic */" in its
//     text (GetPerformanceSummary).
//   - a page (LIMIT) under an optional array filter that is given, the
//     caller's scope "organization_id = ANY($5)" (issue #19): how many
//     organizations the array holds, and where their rows lie in id order,
//     decide between walking the primary key and reading the organizations'
//     rows by their index, and a generic plan knows neither (it walked the
//     primary key past every other organization's rows: queries/
//     explain_test.go). With one element (a member of one organization,
//     the usual token) the filter is folded into an equality,
//     "organization_id = ($5::bigint[])[1]", whose generic plan reads the
//     organization's rows by the (organization_id, id) index, already in id
//     order; with several, the call is sent like a range, planned for its
//     values. An admin's scope is NULL: its statements stay as they were.
//
// queries/explain_test.go checks the generic plans of the hot statements,
// folded, use their indexes on a large dataset.

// Planned wraps the database handle of db.New so that each statement is
// planned as described above.
func Planned(inner db.DBTX) db.DBTX { return planned{inner} }

type planned struct{ db.DBTX }

func (p planned) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	sql, args = Statement(sql, args)
	return p.DBTX.Exec(ctx, sql, args...)
}

func (p planned) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	sql, args = Statement(sql, args)
	return p.DBTX.Query(ctx, sql, args...)
}

func (p planned) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	sql, args = Statement(sql, args)
	return p.DBTX.QueryRow(ctx, sql, args...)
}

// Statement returns what Planned sends for sql with args: the text with its
// optional filters folded for these arguments, and the arguments, led by
// pgx.QueryExecModeSimpleProtocol when the statement has a range over a
// parameter.
func Statement(sql string, args []any) (string, []any) {
	st := shapeOf(sql)
	custom := st.custom
	if len(st.params) > 0 {
		mask, single := 0, st.paged && st.arrays != 0
		for i, n := range st.params {
			switch {
			case n < len(args) && isNull(args[n]):
				mask |= 1 << i
			case st.arrays&(1<<i) != 0 && (n >= len(args) || arrayLen(args[n]) != 1):
				single = false
			}
		}
		single = single && st.arrays&^mask != 0 // some array is given, each with one element
		sql = st.variant(sql, mask, single)
		custom = custom || (st.paged && st.arrays&^mask != 0 && !single)
	}
	if custom {
		args = append([]any{pgx.QueryExecModeSimpleProtocol}, args...)
	}
	return sql, args
}

// NeedsCustomPlan reports whether the statement has a range over a
// parameter other than a keyset cursor, and so is planned for its values on
// every call.
func NeedsCustomPlan(sql string) bool { return shapeOf(sql).custom }

// PlannedPerCall reports whether Planned sends sql with args to be planned
// for these values (the simple protocol): a range over a parameter, or a
// page under a given array filter.
func PlannedPerCall(sql string, args []any) bool {
	_, args = Statement(sql, args)
	return len(args) > 0 && args[0] == pgx.QueryExecModeSimpleProtocol
}

var (
	// nullTest matches the test of an optional filter, "$2::bigint IS NULL".
	nullTest = regexp.MustCompile(`\$([0-9]+)::([a-z_0-9]+)(\[\])? IS NULL\b`)
	// anyParam matches an array parameter's use, "= ANY($5)".
	anyParam = regexp.MustCompile(`= ANY\(\$([0-9]+)\)`)
	// rangeOverParameter matches <, <=, > or >= before a parameter, not <>.
	rangeOverParameter = regexp.MustCompile(`(^|[^<>])(<=?|>=?)\s*\$[0-9]`)
	// keysetCursor matches "id > $1" or "e.id > $1", not "organization_id > $1".
	keysetCursor = regexp.MustCompile(`(^|[^\w.])(\w+\.)?id\s*[<>]\s*\$[0-9]+`)
)

// genericMarker in a statement's text keeps its generic plan despite a range
// over a parameter: one index serves every value the same way.
const genericMarker = "/* plan: generic"

// maxFolded bounds the statements one query can become (2^maxFolded); a
// query with more optional filters is planned on every call instead.
const maxFolded = 5

// shape is what Statement needs to know of one statement text.
type shape struct {
	custom bool
	params []int                    // argument index of each distinct "$n ... IS NULL", in order
	arrays int                      // bits of the params tested as arrays ("$n::bigint[] IS NULL")
	paged  bool                     // the text has a LIMIT
	tests  []nullTestAt             // where the text tests them
	anys   []nullTestAt             // where it uses an array param as "= ANY($n)" (paged only)
	types  map[int]string           // element type of each array param, by bit
	texts  []atomic.Pointer[string] // by mask of null params (and single), built on first use
}

// nullTestAt is one "$n::type IS NULL" in a statement's text: its bytes, and
// the bit of its parameter in a mask (its index in shape.params).
type nullTestAt struct{ start, end, bit int }

// shapes remembers the shape per statement text (the generated constants of
// db/), up to maxRemembered texts; others are worked out on each call.
var (
	shapes        sync.Map
	remembered    atomic.Int32
	maxRemembered = int32(1000)
)

func shapeOf(sql string) *shape {
	if v, ok := shapes.Load(sql); ok {
		return v.(*shape)
	}
	st := &shape{}
	for _, m := range nullTest.FindAllStringSubmatchIndex(sql, -1) {
		n, _ := strconv.Atoi(sql[m[2]:m[3]])
		bit := slices.Index(st.params, n-1)
		if bit < 0 {
			bit = len(st.params)
			st.params = append(st.params, n-1)
		}
		if m[6] >= 0 { // "[]"
			st.arrays |= 1 << bit
			if st.types == nil {
				st.types = map[int]string{}
			}
			st.types[bit] = sql[m[4]:m[5]]
		}
		st.tests = append(st.tests, nullTestAt{start: m[0], end: m[1], bit: bit})
	}
	st.custom = !strings.Contains(sql, genericMarker) && rangeOverParameter.MatchString(keysetCursor.ReplaceAllString(sql, ""))
	st.paged = strings.Contains(sql, "LIMIT")
	if st.paged && st.arrays != 0 {
		for _, m := range anyParam.FindAllStringSubmatchIndex(sql, -1) {
			n, _ := strconv.Atoi(sql[m[2]:m[3]])
			if bit := slices.Index(st.params, n-1); bit >= 0 && st.arrays&(1<<bit) != 0 {
				st.anys = append(st.anys, nullTestAt{start: m[0], end: m[1], bit: bit})
			}
		}
	}
	if len(st.params) > maxFolded {
		st.params, st.tests, st.anys, st.arrays, st.custom = nil, nil, nil, 0, true
	}
	st.texts = make([]atomic.Pointer[string], 2<<len(st.params))
	if remembered.Add(1) <= maxRemembered {
		if v, loaded := shapes.LoadOrStore(sql, st); loaded {
			return v.(*shape)
		}
	}
	return st
}

// variant is sql with each "$n::type IS NULL" replaced by TRUE when bit i
// of mask (i the index of n in params) says the argument is NULL, else FALSE;
// with single, each given array's "= ANY($n)" by "= ($n::type[])[1]".
func (st *shape) variant(sql string, mask int, single bool) string {
	key := mask
	if single {
		key |= 1 << len(st.params)
	}
	if p := st.texts[key].Load(); p != nil {
		return *p
	}
	edits := slices.Clone(st.tests)
	if single {
		for _, a := range st.anys {
			if mask&(1<<a.bit) == 0 {
				edits = append(edits, a)
			}
		}
		slices.SortFunc(edits, func(a, b nullTestAt) int { return a.start - b.start })
	}
	var b strings.Builder
	last := 0
	for _, t := range edits {
		b.WriteString(sql[last:t.start])
		switch {
		case strings.HasPrefix(sql[t.start:t.end], "= ANY("):
			n := sql[t.start+len("= ANY(") : t.end-1]
			b.WriteString("= (" + n + "::" + st.types[t.bit] + "[])[1]")
		case mask&(1<<t.bit) != 0:
			b.WriteString("TRUE")
		default:
			b.WriteString("FALSE")
		}
		last = t.end
	}
	b.WriteString(sql[last:])
	text := b.String()
	st.texts[key].Store(&text)
	return text
}

// arrayLen is the length of a slice argument, -1 for anything else.
func arrayLen(v any) int {
	if ids, ok := v.([]int64); ok {
		return len(ids)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return -1
}

// isNull reports whether pgx sends v as NULL: nil, a nil pointer (sqlc's
// nullable parameters), or a driver.Valuer whose value is nil.
func isNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case *int64:
		return v == nil
	case *int32:
		return v == nil
	case *string:
		return v == nil
	case *bool:
		return v == nil
	case *float64:
		return v == nil
	case driver.Valuer:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return true
		}
		x, err := v.Value()
		return err == nil && x == nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
