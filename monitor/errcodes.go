package monitor

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxErrorCodes bounds the code label of MetricErrors. Codes are the
// server's own (extensions.code), a few dozen at most; the bound only
// guards against a bug turning free text into labels.
const maxErrorCodes = 64

// errorCodes counts the GraphQL errors answered, by extensions.code.
type errorCodes struct {
	vec  *prometheus.CounterVec
	mu   sync.Mutex
	seen map[string]prometheus.Counter
}

func newErrorCodes() *errorCodes {
	return &errorCodes{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricErrors,
			Help: "GraphQL errors of executed operations, by extensions.code (CANCELLED: the client went away; SERVICE_UNAVAILABLE: PostgreSQL did not answer).",
		}, []string{"code"}),
		seen: map[string]prometheus.Counter{},
	}
}

func (e *errorCodes) inc(code string) {
	e.mu.Lock()
	c, ok := e.seen[code]
	if !ok {
		if len(e.seen) >= maxErrorCodes {
			code = OtherOperation
		}
		c = e.vec.WithLabelValues(code)
		if len(e.seen) < maxErrorCodes {
			e.seen[code] = c
		}
	}
	e.mu.Unlock()
	c.Inc()
}

// CountError counts one GraphQL error with extensions.code code. It does
// nothing on a nil Monitor.
func (m *Monitor) CountError(code string) {
	if m == nil {
		return
	}
	m.Metrics.errors.inc(code)
}

// RegisterSlowLog exports the lines the slow-request limiter left out as
// MetricSlowLogsSuppressed. It does nothing on a nil Monitor.
func (m *Monitor) RegisterSlowLog(l *SlowLog) error {
	if m == nil {
		return nil
	}
	return m.Metrics.RegisterCounterFunc(MetricSlowLogsSuppressed,
		"Slow-request WARN lines left out by the per-operation limit (the request still has its INFO line).",
		l.Suppressed)
}
