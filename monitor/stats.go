// Package monitor measures the service itself: per-request statement counts
// and timings (the N+1 detector), Prometheus metrics, and the recording of
// performance samples in performance_metrics by a background writer that
// never makes a request wait, with a retention job that keeps the table
// small.
package monitor

import (
	"context"
	"sync"
	"time"
)

// maxStatementsKept bounds the per-request statement list: a pathological
// request must not grow memory without limit, while its count stays exact.
const maxStatementsKept = 200

// Statement is one SQL statement a request ran. Bound values are never kept.
type Statement struct {
	SQL        string  `json:"statement"`
	DurationMs float64 `json:"durationMs"`
	Rows       int64   `json:"rows"`
	// Pipelined marks a statement sent with others in one round trip
	// (postgres.Pipeline); its duration runs from the previous result.
	Pipelined bool `json:"pipelined,omitempty"`
}

// RequestStats collects what one request did. It is safe for concurrent use
// because graphql-go resolves sibling fields in parallel goroutines.
type RequestStats struct {
	mu          sync.Mutex
	sqlCount    int
	sqlTime     time.Duration
	statements  []Statement
	cacheHits   int
	cacheMisses int
}

type statsKey struct{}

// WithRequestStats returns a context that collects statistics into a new
// RequestStats, and that RequestStats.
func WithRequestStats(ctx context.Context) (context.Context, *RequestStats) {
	s := &RequestStats{}
	return context.WithValue(ctx, statsKey{}, s), s
}

// StatsFrom returns the RequestStats of ctx, or nil outside a request.
func StatsFrom(ctx context.Context) *RequestStats {
	s, _ := ctx.Value(statsKey{}).(*RequestStats)
	return s
}

func (s *RequestStats) addStatement(st Statement, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sqlCount++
	s.sqlTime += d
	if len(s.statements) < maxStatementsKept {
		s.statements = append(s.statements, st)
	}
}

// AddCache counts cache hits and misses of the request.
func (s *RequestStats) AddCache(hits, misses int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.cacheHits += hits
	s.cacheMisses += misses
	s.mu.Unlock()
}

// Snapshot is a copy of RequestStats at one moment, ready for JSON.
type Snapshot struct {
	SQLCount    int         `json:"sqlCount"`
	SQLMs       float64     `json:"sqlMs"`
	CacheHits   int         `json:"cacheHits"`
	CacheMisses int         `json:"cacheMisses"`
	DurationMs  float64     `json:"durationMs"`
	SQL         []Statement `json:"sql"`
}

// Snapshot copies the statistics collected so far.
func (s *RequestStats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{
		SQLCount:    s.sqlCount,
		SQLMs:       ms(s.sqlTime),
		CacheHits:   s.cacheHits,
		CacheMisses: s.cacheMisses,
		SQL:         append([]Statement(nil), s.statements...),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
