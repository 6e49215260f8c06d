package testsupport

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisLogKeep bounds the go-redis log lines kept for a failed run.
const redisLogKeep = 200

// redisLog is go-redis's logger in tests. Outage tests make go-redis log
// every refused dial, which flooded the output of passing runs; the lines
// are kept (the last redisLogKeep) and printed only when a test failed.
// Every error go-redis logs is also returned to its caller, so a test
// still fails on it.
type redisLog struct {
	mu    sync.Mutex
	lines []string
	total int
}

func captureRedisLog() *redisLog {
	l := &redisLog{}
	redis.SetLogger(l)
	return l
}

// Printf implements go-redis's internal.Logging.
func (l *redisLog) Printf(_ context.Context, format string, v ...any) {
	line := strings.TrimRight(fmt.Sprintf(format, v...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.lines) == redisLogKeep {
		l.lines = append(l.lines[:0], l.lines[1:]...)
	}
	l.lines = append(l.lines, line)
}

func (l *redisLog) dump(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total == 0 {
		return
	}
	fmt.Fprintf(w, "go-redis logged %d lines during this failed run; the last %d:\n", l.total, len(l.lines))
	for _, line := range l.lines {
		fmt.Fprintln(w, "  "+line)
	}
}
