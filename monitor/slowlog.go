package monitor

import (
	"sync"
	"sync/atomic"
	"time"
)

// SlowLog rate-limits the WARN line of slow requests: at most one line per
// operation per interval. One slow operation at concurrency 32 wrote 1,825
// WARN lines (each with its SQL) in one load run, which buried everything
// else in the log. The lines left out are counted: in total (Suppressed,
// exported as MetricSlowLogsSuppressed) and per operation, reported on its
// next line.
type SlowLog struct {
	every      time.Duration
	suppressed atomic.Int64

	mu  sync.Mutex
	ops map[string]*slowOp
}

type slowOp struct {
	last       time.Time // when its last line was written
	suppressed int64     // lines left out since
}

// maxSlowLogOps bounds the operations remembered (their names come from
// clients); when it is reached, operations quiet for an interval are
// forgotten, and beyond that every new name shares one entry.
const maxSlowLogOps = 1000

// slowLogOverflow is the shared entry of operations beyond maxSlowLogOps.
const slowLogOverflow = "\x00other"

// NewSlowLog returns a limiter allowing one line per operation per every
// (default 5s).
func NewSlowLog(every time.Duration) *SlowLog {
	if every <= 0 {
		every = 5 * time.Second
	}
	return &SlowLog{every: every, ops: map[string]*slowOp{}}
}

// Allow reports whether a slow request of operation op may be logged now,
// and how many lines of op were left out since its last one.
func (l *SlowLog) Allow(op string, now time.Time) (ok bool, suppressed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.ops[op]
	if e == nil {
		if len(l.ops) >= maxSlowLogOps {
			l.forget(now)
		}
		if len(l.ops) >= maxSlowLogOps {
			op = slowLogOverflow
			e = l.ops[op]
		}
		if e == nil {
			e = &slowOp{}
			l.ops[op] = e
		}
	}
	if !e.last.IsZero() && now.Sub(e.last) < l.every {
		e.suppressed++
		l.suppressed.Add(1)
		return false, 0
	}
	suppressed, e.last, e.suppressed = e.suppressed, now, 0
	return true, suppressed
}

// forget drops the operations whose last line is an interval old: their
// next line is allowed anyway (their pending count is lost; the total in
// Suppressed keeps it).
func (l *SlowLog) forget(now time.Time) {
	for op, e := range l.ops {
		if now.Sub(e.last) >= l.every {
			delete(l.ops, op)
		}
	}
}

// Suppressed is the number of lines left out so far.
func (l *SlowLog) Suppressed() int64 { return l.suppressed.Load() }
