package main

import (
	"math"
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
