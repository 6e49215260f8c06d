package testsupport

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisProcess is a private redis-server on a loopback port, for tests that
// take Redis away and bring it back. Its keys live in an append-only file
// (fsync always) in a temporary directory, so Stop then Start keeps every
// key written before the outage while every command sent during it is
// truly lost. Pause/Resume (SIGSTOP/SIGCONT) is the other kind of outage:
// connections hang until the client's timeouts fire.
type RedisProcess struct {
	Addr string
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *bytes.Buffer
	done   chan struct{}
	paused bool
}

// MustStartRedisProcess starts a private redis-server and stops it when the
// test ends. The test is skipped when redis-server is not installed.
func MustStartRedisProcess(tb testing.TB) *RedisProcess {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Skip("redis-server is not installed")
	}
	p := &RedisProcess{dir: tb.TempDir()}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		p.port, err = freeLowPort()
		if err != nil {
			continue
		}
		p.Addr = "127.0.0.1:" + strconv.Itoa(p.port)
		if err = p.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("start private redis-server: %v", err)
	}
	tb.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.kill()
	})
	return p
}

// start runs redis-server and waits until it answers PING.
func (p *RedisProcess) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("redis-server on %s is already running", p.Addr)
	}
	out := &bytes.Buffer{}
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--dir", p.dir, "--daemonize", "no", "--protected-mode", "no")
	cmd.Stdout = &lockedWriter{w: out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.out, p.done, p.paused = cmd, out, done, false

	rdb := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			p.cmd = nil
			return fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("redis-server on %s does not answer PING: %v", p.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the process at once (SIGKILL); p.mu is held.
func (p *RedisProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// Stop shuts redis-server down (SIGTERM, which flushes the append-only
// file) and waits for it to exit: clients get "connection refused".
func (p *RedisProcess) Stop(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		tb.Fatalf("redis-server on %s is not running", p.Addr)
	}
	if p.paused {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("stop redis-server: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
		tb.Fatalf("redis-server on %s did not stop on SIGTERM", p.Addr)
	}
	p.cmd = nil
}

// Start runs redis-server again on the same port over the same data.
func (p *RedisProcess) Start(tb testing.TB) {
	tb.Helper()
	if err := p.start(); err != nil {
		tb.Fatal(err)
	}
}

// Pause freezes redis-server (SIGSTOP): connections stay open and commands
// are accepted by the kernel but not answered.
func (p *RedisProcess) Pause(tb testing.TB) {
	tb.Helper()
	p.signal(tb, syscall.SIGSTOP, true)
}

// Resume continues a paused redis-server (SIGCONT).
func (p *RedisProcess) Resume(tb testing.TB) {
	tb.Helper()
	p.signal(tb, syscall.SIGCONT, false)
}

func (p *RedisProcess) signal(tb testing.TB, sig syscall.Signal, paused bool) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		tb.Fatalf("redis-server on %s is not running", p.Addr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %v to redis-server: %v", sig, err)
	}
	p.paused = paused
}

// Client returns a client of the private Redis with short timeouts and no
// retries, so an outage costs a request at most a few hundred
// milliseconds. It is closed when the test ends.
func (p *RedisProcess) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{
		Addr:               p.Addr,
		MaxRetries:         -1,
		DialerRetries:      1,
		DialerRetryTimeout: 10 * time.Millisecond,
		DialTimeout:        200 * time.Millisecond,
		ReadTimeout:        200 * time.Millisecond,
		WriteTimeout:       200 * time.Millisecond,
		PoolTimeout:        300 * time.Millisecond,
	})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}
