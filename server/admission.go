package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"orgpulse/monitor"
	"orgpulse/resolvers"
)

// Admission: what a GraphQL request over HTTP may hold before it runs.
// Only ReadHeaderTimeout bounded a client before: 200 clients trickling
// their bodies stayed open indefinitely, each pinning its partial body. A
// body must now arrive within BodyReadTimeout, and at most MaxInflight
// requests are handled at once per replica. WebSockets are not counted
// here (WS_MAX_CONNECTIONS bounds them, for their whole life) and get no
// read deadline: the upgrade carries no body.

// Defaults of the admission limits.
const (
	DefaultBodyReadTimeout = 10 * time.Second
	// DefaultResponseWriteTimeout is far above what a client that reads
	// needs for the largest answer (MAX_BODY_BYTES-sized documents answer
	// at most a few MiB) and far below "for ever".
	DefaultResponseWriteTimeout = 10 * time.Second
	// DefaultMaxInflight keeps the memory of in-flight bodies at most
	// 256 × MAX_BODY_BYTES (256 MiB at 1 MiB), and is still 8 times the
	// concurrency of the benchmarks (32): with DB_MAX_CONNS at 20, the
	// requests beyond would only wait for a connection.
	DefaultMaxInflight = 256
)

// overloadRetryAfter is the Retry-After of a request refused by
// MaxInflight: in-flight requests last milliseconds.
const overloadRetryAfter = 1 * time.Second

// admission counts the requests in flight.
type admission struct {
	inflight     atomic.Int64
	rejected     atomic.Int64 // refused by MaxInflight
	bodyTimeouts atomic.Int64 // bodies not read within BodyReadTimeout
	// responses not taken by their client within ResponseWriteTimeout
	writeTimeouts atomic.Int64
}

func (s *Server) newAdmission() *admission {
	if s.cfg.BodyReadTimeout <= 0 {
		s.cfg.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if s.cfg.MaxInflight <= 0 {
		s.cfg.MaxInflight = DefaultMaxInflight
	}
	if s.cfg.ResponseWriteTimeout <= 0 {
		s.cfg.ResponseWriteTimeout = DefaultResponseWriteTimeout
	}
	a := &admission{}
	if m := s.cfg.Monitor; m != nil {
		err := errors.Join(
			m.Metrics.RegisterGaugeFunc(monitor.MetricInflight, "GraphQL HTTP requests being handled (MAX_INFLIGHT bounds them).", a.inflight.Load),
			m.Metrics.RegisterCounterFunc(monitor.MetricOverloaded, "GraphQL HTTP requests refused with 503 because MAX_INFLIGHT were in flight.", a.rejected.Load),
			m.Metrics.RegisterCounterFunc(monitor.MetricBodyTimeouts, "Request bodies not read within BODY_READ_TIMEOUT (answered 408, connection closed).", a.bodyTimeouts.Load),
			m.Metrics.RegisterCounterFunc(monitor.MetricResponseWriteTimeouts, "HTTP responses their client did not take within RESPONSE_WRITE_TIMEOUT (connection closed).", a.writeTimeouts.Load),
		)
		if err != nil {
			s.log.Warn("register the admission metrics", "err", err)
		}
	}
	return a
}

// limitInflight bounds the GraphQL requests over HTTP in flight: one more than
// MaxInflight is answered 503 with Retry-After and SERVICE_UNAVAILABLE,
// before its body is read. A refusal is counted, not logged: under
// overload, a line per refusal would add to it.
func (s *Server) limitInflight(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if isWebSocket(r) {
			next(w, r)
			return
		}
		a := s.adm
		if a.inflight.Add(1) > int64(s.cfg.MaxInflight) {
			a.inflight.Add(-1)
			a.rejected.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(overloadRetryAfter.Seconds())))
			s.writeError(w, responseMedia(r), http.StatusServiceUnavailable, resolvers.CodeServiceUnavailable,
				fmt.Sprintf("the server is handling its limit of %d requests: retry after %v", s.cfg.MaxInflight, overloadRetryAfter))
			return
		}
		defer a.inflight.Add(-1)
		next(w, r)
	}
}

// readBody reads the body of a POST, at most limit bytes, within timeout.
// The read deadline is the connection's and is cleared once the body is
// read: left in place it would end the request's context during execution
// (net/http takes a failed read of the idle connection for a client that
// went away). After a timeout it stays: net/http then fails at once to
// discard the rest of the body and closes the connection, where with no
// deadline it would wait for the rest for ever.
//
// The buffer grows as bytes arrive, doubling, but never past the declared
// Content-Length: a slow client pins what it has sent, not its declared
// size ahead of time, and a whole 1 MiB body needs 1 MiB, not the 2 MiB a
// bytes.Buffer grows to when it is full (its ReadFrom wants 512 bytes
// free before each read).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf *[]byte, limit int64) ([]byte, int, error) {
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is larger than %d bytes", limit)
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyReadTimeout)) == nil
	want := limit + 1 // room to see the end without growing
	if r.ContentLength >= 0 {
		want = r.ContentLength + 1
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	b := (*buf)[:0]
	defer func() { *buf = b[:0] }()
	for {
		if len(b) == cap(b) {
			b = growBody(b, want)
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			if deadline {
				_ = rc.SetReadDeadline(time.Time{})
			}
			return b, 0, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.adm.bodyTimeouts.Add(1)
			w.Header().Set("Connection", "close")
			return nil, http.StatusRequestTimeout, &codedError{code: CodeBodyReadTimeout,
				msg: fmt.Sprintf("the request body did not arrive within %v", s.cfg.BodyReadTimeout)}
		default:
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is larger than %d bytes", limit)
			}
			return nil, http.StatusBadRequest, fmt.Errorf("read the request body: %v", err)
		}
	}
}

// growBody doubles b's capacity (from 4 KiB), up to want bytes.
func growBody(b []byte, want int64) []byte {
	c := int64(max(2*cap(b), 4<<10))
	if c > want {
		c = max(want, int64(cap(b))+1)
	}
	nb := make([]byte, len(b), c)
	copy(nb, b)
	return nb
}

// bodyBuffers recycles request body buffers; one that grew past
// maxPooledBody (a rare large request) is left to the garbage collector.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 64 << 10

func putBodyBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBody {
		bodyBuffers.Put(b)
	}
}
