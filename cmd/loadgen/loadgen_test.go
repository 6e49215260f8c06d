package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRequireLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/graphql", "http://localhost:1", "ws://[::1]:80/x", "postgres://u@127.0.0.2:5432/db"} {
		if err := requireLoopback(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1/graphql", "https://example.com/", "postgres://u@db.internal/x", "http:///nohost"} {
		if err := requireLoopback(u); err == nil {
			t.Errorf("%s: accepted, want refused", u)
		}
	}
}

// percentileCont must match PostgreSQL's percentile_cont (linear
// interpolation between the closest ranks).
func TestPercentileCont(t *testing.T) {
	v := []float64{1, 2, 3, 4, 10}
	for _, tt := range []struct{ p, want float64 }{{0, 1}, {0.5, 3}, {0.95, 8.8}, {1, 10}, {0.25, 2}} {
		if got := percentileCont(v, tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("percentile_cont(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	var r Result
	r.summarize(d, 2*time.Second)
	if r.Count != 100 || r.RPS != 50 || r.P50 != 50 || r.P90 != 90 || r.P99 != 99 || r.Max != 100 || r.Mean != 50.5 {
		t.Fatalf("summarize: %+v", r)
	}
}

// The report compares servers by their median round; round 10 sorts after
// round 2.
func TestLoadRoundsTakesTheMedianRound(t *testing.T) {
	dir := t.TempDir()
	for round, res := range map[int]Result{1: {RPS: 300, P99: 3}, 2: {RPS: 100, P99: 1}, 10: {RPS: 200, P99: 2}} {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("c32.pg.org.r%d.json", round)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &report{dir: dir}
	got, rates := loadRounds(r, "c32.pg.org")
	if len(r.errs) > 0 || got == nil {
		t.Fatalf("loadRounds: %v", r.errs)
	}
	if got.RPS != 200 || got.P99 != 2 {
		t.Errorf("median round = %+v, want the one at 200 rps", *got)
	}
	if want := []float64{300, 100, 200}; !slices.Equal(rates, want) {
		t.Errorf("rates = %v, want %v (round order)", rates, want)
	}
}

// Rounds ran back to back are compared round by round: the median of the
// ratios, not the ratio of the medians.
func TestPairedRatio(t *testing.T) {
	got, ratios := pairedRatio(1552, 1060, []float64{1552, 1784, 1505}, []float64{1060, 1134, 896})
	if math.Abs(got-1784.0/1134) > 1e-9 || len(ratios) != 3 {
		t.Errorf("pairedRatio = %v %v, want the middle round ratio %v", got, ratios, 1784.0/1134)
	}
	if got, ratios := pairedRatio(10, 4, nil, nil); got != 2.5 || ratios != nil {
		t.Errorf("pairedRatio without rounds = %v %v, want 2.5 (the rates' ratio)", got, ratios)
	}
}
