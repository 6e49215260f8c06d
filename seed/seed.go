// Package seed fills the database with deterministic sample data.
//
// Every row is a pure function of the Options and its own position: each
// organization, employee, project, team and metric sample draws from its own
// PCG stream seeded with (table, index). The same Options therefore always
// produce byte-identical rows, whatever the chunk size or the order in which
// chunks are generated. Row content never depends on the clock: creation and
// hire dates lie before a fixed reference time, 2026-01-01T00:00:00Z, and
// metric samples are spread over the 6 days before Options.Now.
//
// Rows are generated lazily, one chunk at a time (the next chunk is built
// while the previous one is being copied), and loaded with the sqlc
// :copyfrom queries inside one transaction, so memory stays bounded however
// many rows are requested.
package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/db"
)

// Defaults for the zero values of Options.
const (
	DefaultOrgs              = 50
	DefaultEmployeesPerOrg   = 50
	DefaultProjectsPerOrg    = 20
	DefaultMembersPerProject = 8
	DefaultMetrics           = 10000
)

// MetricsWindow is how far before Options.Now the metric samples reach. It
// stays a day inside the default METRICS_RETENTION (168h): with 7 days, and
// Now truncated to the hour, the retention job deleted up to an hour of
// fresh samples as soon as the service started.
const MetricsWindow = 6 * 24 * time.Hour

// baseTime is the fixed reference time of the sample data: every
// created_at, updated_at, hired_at and joined_at lies before it.
var baseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// chunkSize is the number of rows generated and sent per CopyFrom call.
const chunkSize = 50000

// Options sizes the sample data. A zero numeric field takes its default (so
// no size can be set to zero); negative values are an error, and so is
// MembersPerProject greater than EmployeesPerOrg, because a project's team
// is made of distinct employees of the project's own organization.
type Options struct {
	Orgs              int // default 50
	EmployeesPerOrg   int // default 50
	ProjectsPerOrg    int // default 20
	MembersPerProject int // default 8; one of them is the lead
	Metrics           int // default 10000, spread over the MetricsWindow before Now
	// Now ends the window of the metric samples: their recorded_at lies in
	// [Now-MetricsWindow, Now). Zero: time.Now() truncated to the hour. Tests set it
	// to get byte-identical metrics; nothing else depends on it.
	Now time.Time
	// Reset truncates every table (restarting the identities) before
	// loading. Without it Run does nothing when organizations has rows.
	Reset    bool
	Progress io.Writer // nil: silent
}

// Result says what Run did.
type Result struct {
	Skipped                                              bool // data was present and Reset was false
	Organizations, Employees, Projects, Members, Metrics int64
}

// Rows is the total number of rows in r.
func (r Result) Rows() int64 {
	return r.Organizations + r.Employees + r.Projects + r.Members + r.Metrics
}

// sizes are the validated Options with the defaults applied.
type sizes struct {
	orgs, employeesPerOrg, projectsPerOrg, membersPerProject, metrics int64
	now                                                               time.Time
}

func (o Options) sizes() (sizes, error) {
	var s sizes
	for _, f := range []struct {
		name string
		v    int
		def  int64
		dst  *int64
	}{
		{"Orgs", o.Orgs, DefaultOrgs, &s.orgs},
		{"EmployeesPerOrg", o.EmployeesPerOrg, DefaultEmployeesPerOrg, &s.employeesPerOrg},
		{"ProjectsPerOrg", o.ProjectsPerOrg, DefaultProjectsPerOrg, &s.projectsPerOrg},
		{"MembersPerProject", o.MembersPerProject, DefaultMembersPerProject, &s.membersPerProject},
		{"Metrics", o.Metrics, DefaultMetrics, &s.metrics},
	} {
		switch {
		case f.v < 0:
			return s, fmt.Errorf("seed: %s must not be negative (got %d; 0 means the default, %d)", f.name, f.v, f.def)
		case f.v == 0:
			*f.dst = f.def
		default:
			*f.dst = int64(f.v)
		}
	}
	if s.membersPerProject > s.employeesPerOrg {
		return s, fmt.Errorf("seed: MembersPerProject (%d) exceeds EmployeesPerOrg (%d): a project's team is made of distinct employees of its own organization",
			s.membersPerProject, s.employeesPerOrg)
	}
	const maxRows = 1 << 40
	if s.employeesPerOrg > maxRows/s.orgs || s.projectsPerOrg > maxRows/s.orgs ||
		s.membersPerProject > maxRows/(s.orgs*s.projectsPerOrg) {
		return s, errors.New("seed: requested size is too large")
	}
	s.now = o.Now
	if s.now.IsZero() {
		s.now = time.Now().Truncate(time.Hour)
	}
	// PostgreSQL keeps microseconds; truncating here keeps the window exact.
	s.now = s.now.UTC().Truncate(time.Microsecond)
	return s, nil
}

// lockKey serializes concurrent seeders (pg_advisory_xact_lock), so a second
// one waits and then sees the first one's rows instead of colliding on ids.
const lockKey = 0x6f7267707573 // "orgpus"

// Run loads the sample data in one transaction: either all of it or, on any
// error, none. When organizations already has rows and opts.Reset is false it
// changes nothing and returns the existing counts with Skipped set.
func Run(ctx context.Context, pool *pgxpool.Pool, opts Options) (res Result, err error) {
	s, err := opts.sizes()
	if err != nil {
		return Result{}, err
	}
	p := &progress{w: opts.Progress, start: time.Now()}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("seed: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// Bulk loading outlives the pool's per-statement backstop.
	if _, err = tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		return Result{}, fmt.Errorf("seed: %w", err)
	}
	// A bulk load: the change log gets one RESET for the transaction (the
	// relay then retires every cached value) instead of a row per loaded
	// row (migrations/00005_change_log.sql).
	if _, err = tx.Exec(ctx, "SET LOCAL orgpulse.bulk = 'on'"); err != nil {
		return Result{}, fmt.Errorf("seed: %w", err)
	}
	if _, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
		return Result{}, fmt.Errorf("seed: lock: %w", err)
	}

	if !opts.Reset {
		var orgs int64
		if err = tx.QueryRow(ctx, "SELECT count(*) FROM organizations").Scan(&orgs); err != nil {
			return Result{}, fmt.Errorf("seed: count organizations: %w", err)
		}
		if orgs > 0 {
			res, err = counts(ctx, tx)
			if err != nil {
				return Result{}, err
			}
			res.Skipped = true
			p.printf("seed: database already has %d organizations; skipping (use --reset to reload)\n", orgs)
			return res, tx.Rollback(ctx)
		}
	} else {
		p.printf("seed: truncating every table (--reset)\n")
		if _, err = tx.Exec(ctx, "TRUNCATE performance_metrics, project_members, projects, employees, organizations RESTART IDENTITY CASCADE"); err != nil {
			return Result{}, fmt.Errorf("seed: truncate: %w", err)
		}
	}

	p.printf("seed: loading %d organizations x %d employees, %d projects x %d members each, %d metrics over %s..%s\n",
		s.orgs, s.employeesPerOrg, s.projectsPerOrg, s.membersPerProject, s.metrics,
		s.now.Add(-MetricsWindow).Format(time.RFC3339), s.now.Format(time.RFC3339))

	if res, err = loadAll(ctx, tx, p, s); err != nil {
		return Result{}, err
	}
	if err = tx.Commit(ctx); err != nil {
		return Result{}, fmt.Errorf("seed: commit: %w", err)
	}
	// Leave the tables as autovacuum would after so many inserts: with
	// statistics, and with the visibility map set, without which the
	// covering indexes of the metric summaries cannot answer from the index
	// alone (a day of sample data: 0.71 ms to scan from the heap, 0.42 ms
	// from the index; EXPLAIN ANALYZE). VACUUM cannot run in the load's
	// transaction.
	p.printf("seed: vacuuming and analyzing tables\n")
	if err = vacuum(ctx, pool); err != nil {
		return Result{}, fmt.Errorf("seed: vacuum: %w", err)
	}

	elapsed := time.Since(p.start)
	p.printf("seed: done in %s: %d organizations, %d employees, %d projects, %d project members, %d metrics (%d rows, %.0f rows/s)\n",
		elapsed.Round(time.Millisecond), res.Organizations, res.Employees, res.Projects, res.Members, res.Metrics,
		res.Rows(), float64(res.Rows())/elapsed.Seconds())
	return res, nil
}

// loadAll copies every table's rows in, then moves the id sequences past
// them.
func loadAll(ctx context.Context, tx pgx.Tx, p *progress, s sizes) (res Result, err error) {
	q := db.New(tx)
	g := newGenerator(s)
	steps := []struct {
		table string
		dst   *int64
		load  func() (int64, error)
	}{
		{"organizations", &res.Organizations, func() (int64, error) {
			return load(ctx, p, "organizations", s.orgs, g.organizations, q.CopyOrganizations)
		}},
		{"employees", &res.Employees, func() (int64, error) {
			return load(ctx, p, "employees", s.orgs*s.employeesPerOrg, g.employees, q.CopyEmployees)
		}},
		{"projects", &res.Projects, func() (int64, error) {
			return load(ctx, p, "projects", s.orgs*s.projectsPerOrg, g.projects, q.CopyProjects)
		}},
		{"project_members", &res.Members, func() (int64, error) {
			return load(ctx, p, "project_members", s.orgs*s.projectsPerOrg*s.membersPerProject, g.members, q.CopyProjectMembers)
		}},
		{"performance_metrics", &res.Metrics, func() (int64, error) {
			return load(ctx, p, "performance_metrics", s.metrics, g.metrics, q.CopyPerformanceMetrics)
		}},
	}
	for _, st := range steps {
		if *st.dst, err = st.load(); err != nil {
			return res, fmt.Errorf("seed: load %s: %w", st.table, err)
		}
	}

	// The ids were given explicitly: move the identities past them so the
	// application's own inserts do not collide.
	for _, table := range []string{"organizations", "employees", "projects", "performance_metrics"} {
		sql := fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), max(id)) FROM %[1]s", table)
		if _, err = tx.Exec(ctx, sql); err != nil {
			return res, fmt.Errorf("seed: advance %s id sequence: %w", table, err)
		}
	}
	return res, nil
}

func vacuum(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// On a session of its own: VACUUM outlives the per-statement backstop.
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0"); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "VACUUM (ANALYZE) organizations, employees, projects, project_members, performance_metrics")
	if _, rerr := conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout"); err == nil && rerr != nil {
		conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // the pool replaces it
	}
	return err
}

// counts reads the row count of every table.
func counts(ctx context.Context, tx pgx.Tx) (Result, error) {
	var r Result
	err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM organizations),
	       (SELECT count(*) FROM employees),
	       (SELECT count(*) FROM projects),
	       (SELECT count(*) FROM project_members),
	       (SELECT count(*) FROM performance_metrics)`).
		Scan(&r.Organizations, &r.Employees, &r.Projects, &r.Members, &r.Metrics)
	if err != nil {
		return Result{}, fmt.Errorf("seed: count rows: %w", err)
	}
	return r, nil
}

// load copies total rows into one table, chunkSize rows per CopyFrom. gen
// appends the rows [start, start+n) to buf; it runs in its own goroutine, one
// chunk ahead of the copy, with two buffers in rotation.
func load[T any](ctx context.Context, p *progress, table string, total int64,
	gen func(buf []T, start, n int64) []T,
	copyFrom func(context.Context, []T) (int64, error),
) (loaded int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	full := make(chan []T, 1)
	free := make(chan []T, 2)
	for range 2 {
		free <- make([]T, 0, min(total, chunkSize))
	}
	go func() {
		defer close(full)
		for start := int64(0); start < total; start += chunkSize {
			var buf []T
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			buf = gen(buf[:0], start, min(chunkSize, total-start))
			select {
			case full <- buf:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range full { // wait for the generator to stop
		}
	}()

	p.table(table, 0, total, true)
	for rows := range full {
		n, err := copyFrom(ctx, rows)
		loaded += n
		if err != nil {
			return loaded, err
		}
		free <- rows
		p.table(table, loaded, total, loaded == total)
	}
	if err := ctx.Err(); err != nil {
		return loaded, err // the generator stopped early
	}
	if loaded != total {
		return loaded, fmt.Errorf("copied %d rows, want %d", loaded, total)
	}
	return loaded, nil
}

// progress writes the progress lines; only the loading goroutine uses it.
type progress struct {
	w     io.Writer
	start time.Time
	last  time.Time
}

func (p *progress) printf(format string, args ...any) {
	if p.w != nil {
		fmt.Fprintf(p.w, format, args...)
	}
}

// table reports a table's progress: always when force is set (start and
// end), otherwise at most once a second.
func (p *progress) table(table string, done, total int64, force bool) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < time.Second {
		return
	}
	if done == 0 && total > chunkSize {
		// Big table: announce it; the chunks report from here on.
		p.last = now
		fmt.Fprintf(p.w, "seed: %s 0/%d (0%%)\n", table, total)
		return
	}
	if done == 0 {
		return // small table: its single line comes when it is done
	}
	p.last = now
	fmt.Fprintf(p.w, "seed: %s %d/%d (%d%%)\n", table, done, total, done*100/total)
}

// ---------------------------------------------------------------- generator

// Stream identifiers: each table draws from its own PCG streams.
const (
	streamOrg uint64 = iota + 1
	streamEmployee
	streamProject
	streamTeam
	streamMetric
)

// generator builds the rows. It is used by one goroutine at a time (the
// current table's producer).
type generator struct {
	s   sizes
	pcg rand.PCG // the stream of the row being built
	r   *rand.Rand
	// teams draw from their own source: building a team looks up its
	// members (employeeAt), which repositions pcg.
	teamPCG rand.PCG
	teamR   *rand.Rand

	org     orgInfo // cache: the organization of the previous row
	orgIdx  int64
	team    []teamRow // cache: the team of project teamIdx
	teamIdx int64
	pick    []int64 // scratch for sampling distinct employees
	seen    map[int64]struct{}
}

func newGenerator(s sizes) *generator {
	g := &generator{s: s, orgIdx: -1, teamIdx: -1, seen: map[int64]struct{}{}}
	g.r = rand.New(&g.pcg)
	g.teamR = rand.New(&g.teamPCG)
	return g
}

// splitmix64 scrambles an index into a well-spread PCG seed word.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng returns the generator's random source positioned at the start of the
// stream of row i of a table.
func (g *generator) rng(stream uint64, i int64) *rand.Rand {
	g.pcg.Seed(splitmix64(stream), splitmix64(uint64(i)))
	return g.r
}

// The weights of the lists in names.go, for pickWeighted.
var (
	departmentWeights    = mapSlice(departments[:], func(d department) int { return d.weight })
	titleWeights         = mapSlice(departments[:], func(d department) []int { return mapSlice(d.titles, func(t title) int { return t.weight }) })
	projectStatusWeights = mapSlice(projectStatuses[:], func(s projectStatus) int { return s.weight })
	metricKindWeights    = mapSlice(metricKinds[:], func(k metricKind) int { return k.weight })
	endpointWeights      = mapSlice(metricKinds[:], func(k metricKind) []int { return mapSlice(k.endpoints, func(e endpoint) int { return e.weight }) })
	httpStatusWeights    = mapSlice(httpStatuses[:], func(s httpStatus) int { return s.weight })
)

// mapSlice returns f applied to every element of xs.
func mapSlice[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// pickWeighted returns an index into weights, chosen with probability
// proportional to its weight.
func pickWeighted(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// between returns a time in [from, to), truncated to the second.
func between(r *rand.Rand, from, to time.Time) time.Time {
	d := to.Sub(from)
	if d <= time.Second {
		return from
	}
	return from.Add(time.Duration(r.Int64N(int64(d)))).Truncate(time.Second)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// orgInfo is what the rows of an organization's employees, projects and
// teams need to know about it.
type orgInfo struct {
	id        int64
	name      string
	slug      string // email domain label
	industry  string
	active    bool
	createdAt time.Time
	updatedAt time.Time
}

// Organization names enumerate the word combinations in a scrambled order:
// index i takes combination (i*orgStride + orgOffset) mod orgNameSpace, a
// bijection because orgStride is coprime to orgNameSpace. Past the last
// combination a numeric suffix (" 2", " 3", ...) keeps names unique.
const (
	orgNameSpace = int64(len(orgFirstWords) * len(orgSecondWords) * len(orgSuffixes))
	orgStride    = 12929
	orgOffset    = 4711
)

func orgName(i int64) string {
	c := (i%orgNameSpace*orgStride + orgOffset) % orgNameSpace
	a := c % int64(len(orgFirstWords))
	c /= int64(len(orgFirstWords))
	b := c % int64(len(orgSecondWords))
	sfx := c / int64(len(orgSecondWords))
	name := orgFirstWords[a] + " " + orgSecondWords[b] + " " + orgSuffixes[sfx]
	if round := i / orgNameSpace; round > 0 {
		name += " " + strconv.FormatInt(round+1, 10)
	}
	return name
}

// slug keeps the ASCII letters and digits of s, lowercased.
func slug(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// orgAt returns organization i (0-based; its id is i+1), cached.
func (g *generator) orgAt(i int64) orgInfo {
	if i == g.orgIdx {
		return g.org
	}
	r := g.rng(streamOrg, i)
	o := orgInfo{id: i + 1, name: orgName(i)}
	o.slug = slug(o.name)
	o.industry = industries[r.IntN(len(industries))]
	o.active = r.IntN(10) != 0 // about 90%
	// Founded (in the system) between 30 days and 12 years before baseTime.
	o.createdAt = between(r, baseTime.AddDate(-12, 0, 0), baseTime.AddDate(0, 0, -30))
	o.updatedAt = between(r, o.createdAt, baseTime)
	g.org, g.orgIdx = o, i
	return o
}

func (g *generator) organizations(buf []db.CopyOrganizationsParams, start, n int64) []db.CopyOrganizationsParams {
	for i := start; i < start+n; i++ {
		o := g.orgAt(i)
		buf = append(buf, db.CopyOrganizationsParams{
			ID:        o.id,
			Name:      o.name,
			Industry:  o.industry,
			IsActive:  o.active,
			CreatedAt: o.createdAt,
			UpdatedAt: o.updatedAt,
		})
	}
	return buf
}

// employeeInfo is employee i without its strings.
type employeeInfo struct {
	first, last, dept, title int
	salaryCents              int64
	active                   bool
	hiredAt, updatedAt       time.Time
}

// employeeAt returns employee i (0-based; its id is i+1) of organization o.
func (g *generator) employeeAt(i int64, o orgInfo) employeeInfo {
	r := g.rng(streamEmployee, i)
	var e employeeInfo
	e.first = r.IntN(len(firstNames))
	e.last = r.IntN(len(lastNames))
	e.dept = pickWeighted(r, departmentWeights)
	e.title = pickWeighted(r, titleWeights[e.dept])
	t := departments[e.dept].titles[e.title]
	// The mean of two uniforms: salaries cluster in the middle of the band.
	span := int64(t.max-t.min) * 100
	e.salaryCents = int64(t.min)*100 + (r.Int64N(span+1)+r.Int64N(span+1))/2
	e.active = r.IntN(10) != 0 // about 90%
	e.hiredAt = between(r, o.createdAt, baseTime)
	e.updatedAt = between(r, e.hiredAt, baseTime)
	return e
}

func (g *generator) employees(buf []db.CopyEmployeesParams, start, n int64) []db.CopyEmployeesParams {
	var sb strings.Builder
	for i := start; i < start+n; i++ {
		o := g.orgAt(i / g.s.employeesPerOrg)
		e := g.employeeAt(i, o)
		id := i + 1
		first, last := firstNames[e.first], lastNames[e.last]
		sb.Reset()
		sb.Grow(len(first) + len(last) + len(o.slug) + 32)
		sb.WriteString(emailFirst[e.first])
		sb.WriteByte('.')
		sb.WriteString(emailLast[e.last])
		sb.WriteByte('.')
		sb.WriteString(strconv.FormatInt(id, 10))
		sb.WriteByte('@')
		sb.WriteString(o.slug)
		sb.WriteString(".example")
		d := &departments[e.dept]
		buf = append(buf, db.CopyEmployeesParams{
			ID:             id,
			OrganizationID: o.id,
			Name:           first + " " + last,
			Email:          sb.String(),
			Department:     d.name,
			Title:          d.titles[e.title].name,
			// Cents/100 formats with at most two decimals (pgx encodes
			// numeric from the shortest decimal form of the float).
			Salary:    float64(e.salaryCents) / 100,
			IsActive:  e.active,
			HiredAt:   e.hiredAt,
			CreatedAt: e.hiredAt,
			UpdatedAt: e.updatedAt,
		})
	}
	return buf
}

// emailFirst and emailLast are the names as they appear in email addresses.
var emailFirst, emailLast = mapSlice(firstNames[:], slug), mapSlice(lastNames[:], slug)

type projectInfo struct {
	id, orgIdx           int64
	codename, initiative int
	status               int
	budgetCents          int64
	createdAt, updatedAt time.Time
}

// projectAt returns project i (0-based; its id is i+1).
func (g *generator) projectAt(i int64) projectInfo {
	p := projectInfo{id: i + 1, orgIdx: i / g.s.projectsPerOrg}
	o := g.orgAt(p.orgIdx)
	r := g.rng(streamProject, i)
	p.codename = r.IntN(len(projectCodenames))
	p.initiative = r.IntN(len(initiatives))
	p.status = pickWeighted(r, projectStatusWeights)
	// Log-normal around $150k, whole thousands, at least $5k.
	budget := 150000 * math.Exp(0.9*r.NormFloat64())
	p.budgetCents = max(5000, min(50_000_000, int64(math.Round(budget/1000))*1000)) * 100
	// Plans and running projects are recent; finished or paused ones may
	// date back to the organization's early days.
	from := o.createdAt
	switch projectStatuses[p.status].name {
	case "planning":
		from = later(from, baseTime.AddDate(0, -6, 0))
	case "active":
		from = later(from, baseTime.AddDate(-2, 0, 0))
	}
	p.createdAt = between(r, from, baseTime)
	p.updatedAt = between(r, p.createdAt, baseTime)
	return p
}

func (g *generator) projects(buf []db.CopyProjectsParams, start, n int64) []db.CopyProjectsParams {
	for i := start; i < start+n; i++ {
		p := g.projectAt(i)
		in := initiatives[p.initiative]
		buf = append(buf, db.CopyProjectsParams{
			ID:             p.id,
			OrganizationID: p.orgIdx + 1,
			Name:           projectCodenames[p.codename] + ": " + in.name,
			Description:    in.description,
			Status:         projectStatuses[p.status].name,
			Budget:         float64(p.budgetCents) / 100,
			CreatedAt:      p.createdAt,
			UpdatedAt:      p.updatedAt,
		})
	}
	return buf
}

type teamRow = db.CopyProjectMembersParams

// teamAt returns the team of project i in employee id order: membersPerProject
// distinct employees of the project's organization, one of them the lead.
func (g *generator) teamAt(i int64) []teamRow {
	if i == g.teamIdx {
		return g.team
	}
	p := g.projectAt(i)
	o := g.orgAt(p.orgIdx)
	k, n := g.s.membersPerProject, g.s.employeesPerOrg
	g.teamPCG.Seed(splitmix64(streamTeam), splitmix64(uint64(i)))
	r := g.teamR
	g.pick = g.pick[:0]
	if k*4 >= n {
		// Dense team: partial Fisher-Yates over all of the organization.
		for j := range n {
			g.pick = append(g.pick, j)
		}
		for j := range k {
			x := j + r.Int64N(n-j)
			g.pick[j], g.pick[x] = g.pick[x], g.pick[j]
		}
		g.pick = g.pick[:k]
	} else {
		// Sparse team: Floyd's sampling of k distinct out of n.
		clear(g.seen)
		for j := n - k; j < n; j++ {
			x := r.Int64N(j + 1)
			if _, dup := g.seen[x]; dup {
				x = j
			}
			g.seen[x] = struct{}{}
			g.pick = append(g.pick, x)
		}
	}
	lead := r.Int64N(k)
	g.team = g.team[:0]
	for j, x := range g.pick {
		empIdx := p.orgIdx*n + x
		e := g.employeeAt(empIdx, o)
		role := "lead"
		if int64(j) != lead {
			// Usually the role of the member's department.
			if r.IntN(4) != 0 {
				role = departments[e.dept].role
			} else {
				role = memberRoles[r.IntN(len(memberRoles))]
			}
		}
		joined := later(p.createdAt, e.hiredAt)
		g.team = append(g.team, teamRow{
			ProjectID:      p.id,
			EmployeeID:     empIdx + 1,
			Role:           role,
			JoinedAt:       between(r, joined, baseTime),
			OrganizationID: o.id, // the project's and the employee's (migrations/00006)
		})
	}
	slices.SortFunc(g.team, func(a, b teamRow) int { return int(a.EmployeeID - b.EmployeeID) })
	g.teamIdx = i
	return g.team
}

func (g *generator) members(buf []teamRow, start, n int64) []teamRow {
	k := g.s.membersPerProject
	for row := start; row < start+n; {
		team := g.teamAt(row / k)
		from := row % k
		take := min(k-from, start+n-row)
		buf = append(buf, team[from:from+take]...)
		row += take
	}
	return buf
}

// metrics builds samples start..start+n-1 of s.metrics, in recorded_at
// order: sample i lies in the i-th equal slice of [Now-MetricsWindow, Now).
func (g *generator) metrics(buf []db.CopyPerformanceMetricsParams, start, n int64) []db.CopyPerformanceMetricsParams {
	from := g.s.now.Add(-MetricsWindow)
	spanMicros := float64(MetricsWindow.Microseconds())
	total := float64(g.s.metrics)
	for i := start; i < start+n; i++ {
		r := g.rng(streamMetric, i)
		offset := int64((float64(i) + r.Float64()) / total * spanMicros)
		kind := pickWeighted(r, metricKindWeights)
		k := &metricKinds[kind]
		ep := &k.endpoints[pickWeighted(r, endpointWeights[kind])]
		var status int32
		if k.httpStatus {
			status = httpStatuses[pickWeighted(r, httpStatusWeights)].code
		}
		// Log-normal: most samples near the median, a long slow tail.
		v := ep.median * math.Exp(k.sigma*r.NormFloat64())
		switch {
		case k.name == "cache_hit":
			// v is the miss ratio: report the hit percentage.
			v = math.Round(100*(1-min(v, 1))*100) / 100
		case status >= 500:
			v = max(0.001, math.Round(v*(2+4*r.Float64())*1000)/1000) // timeouts and retries
		case status >= 400:
			v = max(0.001, math.Round(v*0.4*1000)/1000) // rejected early
		default:
			v = max(0.001, math.Round(v*1000)/1000)
		}
		buf = append(buf, db.CopyPerformanceMetricsParams{
			MetricType: k.name,
			Value:      v,
			Endpoint:   ep.name,
			StatusCode: status,
			RecordedAt: from.Add(time.Duration(min(offset, int64(spanMicros)-1)) * time.Microsecond),
		})
	}
	return buf
}
