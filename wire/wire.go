// Package wire frames what orgpulse replicas hand each other through
// Redis -- events and cached values -- in versioned formats of their own,
// so that what one replica writes does not follow another's database
// structs: during a rolling upgrade, replicas of two releases read each
// other's values.
//
// A value travels as {"v":<version>,"d":<payload>}. Each kind of value
// has one Format; its payload type, with explicit JSON names, lives next
// to the code that converts it from database rows. A change to a payload
// type that an older replica could misread needs a new version. A reader
// that meets a version it does not know skips the value: it counts it
// (orgpulse_wire_format_unknown_total{kind}), logs at most one line per
// kind a minute, and never fails on it.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricUnknown counts the values skipped for an unknown format version.
const MetricUnknown = "orgpulse_wire_format_unknown_total"

// ErrUnknownVersion is the error of a value whose format version this
// replica does not read (another release wrote it, or it is not ours).
var ErrUnknownVersion = errors.New("unknown wire format version")

// Format is one kind of value and the version of its encoding that this
// release writes and reads.
type Format struct {
	Kind    string
	Version int
}

// New returns the format of kind at version. Call it once per kind, at
// package initialisation: the kinds are the labels of MetricUnknown.
func New(kind string, version int) Format {
	kinds.LoadOrStore(kind, &kindStats{})
	return Format{Kind: kind, Version: version}
}

type kindStats struct {
	unknown atomic.Int64
	lastLog atomic.Int64 // unix nanoseconds of the last log line
}

// kinds holds the kindStats of every Format (a fixed set: one per kind
// the code defines).
var kinds sync.Map // string -> *kindStats

// logInterval bounds the log lines about unknown versions, per kind.
const logInterval = time.Minute

// Marshal encodes payload in f.
func (f Format) Marshal(payload any) ([]byte, error) {
	b, err := json.Marshal(struct {
		V int `json:"v"`
		D any `json:"d"`
	}{f.Version, payload})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", f.Kind, err)
	}
	return b, nil
}

// Unmarshal decodes data written in f into payload. Data of another
// version -- or no envelope at all, as values written before formats were
// versioned -- is counted and returns ErrUnknownVersion.
func (f Format) Unmarshal(data []byte, payload any) error {
	// What Marshal wrote is decoded in one pass: the envelope's head is
	// fixed for a version, so the payload is the bytes between it and the
	// closing brace. Anything else (another version, another writer's key
	// order, spacing or members) takes the general path below, which reads
	// the envelope first and the payload second.
	if d, ok := f.payload(data); ok && json.Unmarshal(d, payload) == nil {
		return nil
	}
	var env struct {
		V *int            `json:"v"`
		D json.RawMessage `json:"d"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.V == nil {
		f.unknown("none")
		return fmt.Errorf("%s: no format version: %w", f.Kind, ErrUnknownVersion)
	}
	if *env.V != f.Version {
		f.unknown(fmt.Sprint(*env.V))
		return fmt.Errorf("%s version %d (this release reads %d): %w", f.Kind, *env.V, f.Version, ErrUnknownVersion)
	}
	if err := json.Unmarshal(env.D, payload); err != nil {
		return fmt.Errorf("decode %s version %d: %w", f.Kind, f.Version, err)
	}
	return nil
}

// payload returns the payload of data if data starts with the head
// Marshal writes for f ({"v":N,"d":) and ends with a brace.
func (f Format) payload(data []byte) ([]byte, bool) {
	var buf [32]byte
	head := strconv.AppendInt(append(buf[:0], `{"v":`...), int64(f.Version), 10)
	head = append(head, `,"d":`...)
	if len(data) <= len(head) || !bytes.HasPrefix(data, head) || data[len(data)-1] != '}' {
		return nil, false
	}
	return data[len(head) : len(data)-1], true
}

func (f Format) unknown(version string) {
	v, _ := kinds.LoadOrStore(f.Kind, &kindStats{})
	st := v.(*kindStats)
	n := st.unknown.Add(1)
	now := time.Now().UnixNano()
	last := st.lastLog.Load()
	if now-last >= int64(logInterval) && st.lastLog.CompareAndSwap(last, now) {
		slog.Default().Warn("skipped a value of an unknown wire format version", "kind", f.Kind,
			"version", version, "reads_version", f.Version, "skipped_total", n)
	}
}

// Unknown returns how many values of kind were skipped for an unknown
// version since the process started.
func Unknown(kind string) int64 {
	if v, ok := kinds.Load(kind); ok {
		return v.(*kindStats).unknown.Load()
	}
	return 0
}

var unknownDesc = prometheus.NewDesc(MetricUnknown,
	"Values read from Redis (events, cached values) skipped because their wire format version is unknown to this release, by kind; process-wide.",
	[]string{"kind"}, nil)

// Collector exports MetricUnknown for every kind.
func Collector() prometheus.Collector { return collector{} }

type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- unknownDesc }

func (collector) Collect(ch chan<- prometheus.Metric) {
	kinds.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(unknownDesc, prometheus.CounterValue,
			float64(v.(*kindStats).unknown.Load()), k.(string))
		return true
	})
}
