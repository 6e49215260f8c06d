package testsupport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"orgpulse/migrations"
	"orgpulse/postgres"
)

// PostgresProcess is a private PostgreSQL cluster, started by the test on a
// free loopback port, that the test may stop and start again: outage tests
// use it instead of the shared server behind DATABASE_URL.
type PostgresProcess struct {
	tb      testing.TB
	bin     string // directory of initdb and pg_ctl
	dir     string // holds data/, sock/ and postgres.log, owned by the server's OS user
	port    int
	asUser  string // OS user to run as (postgres when the test runs as root)
	mu      sync.Mutex
	running bool
}

// MustStartPostgres initializes a new cluster in a temporary directory,
// starts it, and stops and removes it when the test ends. The binaries are
// found in $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin, else
// PATH. As root, initdb and pg_ctl run as the postgres OS user (PostgreSQL
// refuses to run as root).
func MustStartPostgres(tb testing.TB) *PostgresProcess {
	tb.Helper()
	p := &PostgresProcess{tb: tb, bin: postgresBinDir(tb)}
	base := os.TempDir()
	if os.Geteuid() == 0 {
		p.asUser = "postgres"
		base = "/tmp" // TMPDIR may be a directory the postgres user cannot enter
	}
	var err error
	p.dir, err = os.MkdirTemp(base, "orgpulse-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.stop("immediate")
		os.RemoveAll(p.dir)
	})
	if err := os.Mkdir(filepath.Join(p.dir, "sock"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if p.asUser != "" {
		u, err := user.Lookup(p.asUser)
		if err != nil {
			tb.Fatalf("running as root needs the %s OS user to run PostgreSQL: %v", p.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{p.dir, filepath.Join(p.dir, "sock")} {
			if err := os.Chown(d, uid, gid); err != nil {
				tb.Fatal(err)
			}
		}
	}
	p.port = pgFreePort(tb)
	p.run(tb, "initdb", "-D", p.dataDir(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	p.Start()
	return p
}

// URL is the connection URL of the cluster's postgres database.
func (p *PostgresProcess) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Port is the TCP port the cluster listens on, on 127.0.0.1.
func (p *PostgresProcess) Port() int { return p.port }

// Start starts the cluster (again) and waits until it accepts connections.
func (p *PostgresProcess) Start() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
		p.port, filepath.Join(p.dir, "sock"))
	p.run(p.tb, "pg_ctl", "-D", p.dataDir(), "-l", filepath.Join(p.dataDir(), "postgres.log"),
		"-o", opts, "-w", "-t", "60", "start")
	p.running = true
}

// Stop shuts the cluster down (fast mode: open sessions are terminated) and
// waits until it is gone.
func (p *PostgresProcess) Stop() {
	p.tb.Helper()
	if err := p.stop("fast"); err != nil {
		p.tb.Fatal(err)
	}
}

func (p *PostgresProcess) stop(mode string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return nil
	}
	out, err := p.command("pg_ctl", "-D", p.dataDir(), "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	p.running = false
	return nil
}

// Log returns the server log so far, for failure messages.
func (p *PostgresProcess) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dataDir(), "postgres.log"))
	return string(b)
}

// MustOpenDB opens a pool on the cluster (with the service's settings) and
// applies the migrations. The pool closes when the test ends.
func (p *PostgresProcess) MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Open(ctx, p.URL(), postgres.Config{MaxConns: 10})
	if err != nil {
		tb.Fatalf("open private PostgreSQL: %v", err)
	}
	tb.Cleanup(pool.Close)
	m, err := migrations.New(pool)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(ctx, io.Discard); err != nil {
		tb.Fatal(err)
	}
	return &DB{Pool: pool, URL: p.URL(), Name: "postgres"}
}

func (p *PostgresProcess) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *PostgresProcess) command(name string, args ...string) *exec.Cmd {
	return pgCommand(p.bin, p.asUser, name, args...)
}

func (p *PostgresProcess) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	cmd := p.command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = p.dir
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s\n%s", name, err, out.String(), p.Log())
	}
}

func postgresBinDir(tb testing.TB) string {
	tb.Helper()
	d, err := findPostgresBin()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// findPostgresBin returns $PG_BINDIR, else the newest
// /usr/lib/postgresql/*/bin, else the directory of initdb on PATH.
func findPostgresBin() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", errors.New("initdb not found: install the PostgreSQL server package or set PG_BINDIR")
}

// versionOf reads the major version of /usr/lib/postgresql/<v>/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(binDir)), ".")[0])
	return v
}

func pgFreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freeLowPort()
	if err != nil {
		tb.Fatal(err)
	}
	return port
}
