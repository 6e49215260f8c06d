package seed_test

import (
	"context"
	"os"
	"testing"
	"time"

	"orgpulse/seed"
	"orgpulse/testsupport"
)

// BenchmarkRunMillionEmployees loads 2,000 organizations x 500 employees
// (1,000,000 employees, 4,000 projects, 32,000 team rows, 100,000 metrics)
// into a fresh database per iteration. The goal is under a minute on a
// 2-core machine:
//
//	DATABASE_URL=... go test -run '^$' -bench RunMillionEmployees -benchtime 1x ./seed/
//
// Progress goes to stderr with -v.
func BenchmarkRunMillionEmployees(b *testing.B) {
	opts := seed.Options{
		Orgs:            2000,
		EmployeesPerOrg: 500,
		ProjectsPerOrg:  2,
		Metrics:         100000,
		Now:             time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC),
	}
	if testing.Verbose() {
		opts.Progress = os.Stderr
	}
	var rows int64
	for b.Loop() {
		b.StopTimer()
		d := testsupport.MustOpenDB(b)
		b.StartTimer()
		res, err := seed.Run(context.Background(), d.Pool, opts)
		if err != nil {
			b.Fatal(err)
		}
		if res.Employees != 1_000_000 {
			b.Fatalf("employees = %d, want 1000000", res.Employees)
		}
		rows += res.Rows()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
