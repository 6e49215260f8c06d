package seed

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"orgpulse/db"
)

func TestOrgNamesUnique(t *testing.T) {
	n := 3*orgNameSpace + 17
	seen := make(map[string]int64, n)
	slugs := make(map[string]int64, n)
	for i := range n {
		name := orgName(i)
		if j, dup := seen[name]; dup {
			t.Fatalf("orgName(%d) = orgName(%d) = %q", i, j, name)
		}
		seen[name] = i
		s := slug(name)
		if j, dup := slugs[s]; dup {
			t.Fatalf("slug of orgName(%d) = slug of orgName(%d) = %q", i, j, s)
		}
		slugs[s] = i
		if (i < orgNameSpace) == strings.ContainsAny(name, "0123456789") {
			t.Fatalf("orgName(%d) = %q: numeric suffix only after the %d combinations", i, name, orgNameSpace)
		}
	}
}

func TestWordListsDistinct(t *testing.T) {
	lists := map[string][]string{
		"firstNames": firstNames[:], "lastNames": lastNames[:], "orgFirstWords": orgFirstWords[:],
		"orgSecondWords": orgSecondWords[:], "orgSuffixes": orgSuffixes[:], "industries": industries[:],
		"projectCodenames": projectCodenames[:],
	}
	for name, l := range lists {
		seen := map[string]bool{}
		for _, w := range l {
			if seen[w] {
				t.Errorf("%s lists %q twice", name, w)
			}
			seen[w] = true
		}
	}
	for _, w := range orgFirstWords {
		for _, v := range orgSecondWords {
			if w == v {
				t.Errorf("%q is both a first and a second organization word", w)
			}
		}
	}
	for _, d := range departments {
		for _, ti := range d.titles {
			if ti.min < 45000 || ti.max > 220000 || ti.min >= ti.max {
				t.Errorf("%s/%s: salary band %d..%d", d.name, ti.name, ti.min, ti.max)
			}
		}
	}
}

// Rows must not depend on how the work is cut into chunks: generating a
// table in one piece or in odd-sized pieces, in a fresh generator or a used
// one, gives the same rows.
func TestRowsIndependentOfChunking(t *testing.T) {
	s, err := Options{Orgs: 7, EmployeesPerOrg: 13, ProjectsPerOrg: 5, MembersPerProject: 4, Metrics: 101,
		Now: time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)}.sizes()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, total int64, gen func(g *generator, start, n int64) any, join func(parts []any) any) {
		t.Helper()
		whole := gen(newGenerator(s), 0, total)
		g := newGenerator(s)
		gen(g, 0, total) // warm caches
		var parts []any
		for start, step := int64(0), int64(1); start < total; start, step = start+step, step%7+2 {
			parts = append(parts, gen(g, start, min(step, total-start)))
		}
		if got := join(parts); !reflect.DeepEqual(got, whole) {
			t.Errorf("%s: chunked rows differ from whole rows", name)
		}
	}
	check("organizations", s.orgs,
		func(g *generator, start, n int64) any { return g.organizations(nil, start, n) },
		func(p []any) any { return joinParts[db.CopyOrganizationsParams](p) })
	check("employees", s.orgs*s.employeesPerOrg,
		func(g *generator, start, n int64) any { return g.employees(nil, start, n) },
		func(p []any) any { return joinParts[db.CopyEmployeesParams](p) })
	check("projects", s.orgs*s.projectsPerOrg,
		func(g *generator, start, n int64) any { return g.projects(nil, start, n) },
		func(p []any) any { return joinParts[db.CopyProjectsParams](p) })
	check("members", s.orgs*s.projectsPerOrg*s.membersPerProject,
		func(g *generator, start, n int64) any { return g.members(nil, start, n) },
		func(p []any) any { return joinParts[teamRow](p) })
	check("metrics", s.metrics,
		func(g *generator, start, n int64) any { return g.metrics(nil, start, n) },
		func(p []any) any { return joinParts[db.CopyPerformanceMetricsParams](p) })
}

func joinParts[T any](parts []any) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p.([]T)...)
	}
	return out
}
