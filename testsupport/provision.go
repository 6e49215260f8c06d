package testsupport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Main is the TestMain of every package whose tests need PostgreSQL or
// Redis:
//
//	func TestMain(m *testing.M) { testsupport.Main(m) }
//
// With DATABASE_URL and REDIS_URL set (scripts/test.sh sets both) it only
// runs the tests. Otherwise it provides what is missing: a PostgreSQL
// cluster and a redis-server private to this checkout, shared by every
// package's test process of the run (go test runs packages as parallel
// processes) and stopped when the last of them exits. Their files stay
// in $TMPDIR/orgpulse-gotest-<uid>-<hash> (/tmp as root), so the next run
// only starts them, seeded template included.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	redisLog := captureRedisLog()
	release, err := provision()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testsupport: %v\n", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		redisLog.dump(os.Stderr)
	}
	if err := release(); err != nil {
		fmt.Fprintf(os.Stderr, "testsupport: %v\n", err)
	}
	return code
}

// goTestDir is where Main keeps the servers it starts: under the system's
// temporary directory (/tmp as root, so that the postgres OS user can
// enter it), one per user and checkout.
func goTestDir() string {
	base := os.TempDir()
	if os.Geteuid() == 0 {
		base = "/tmp"
	}
	sum := sha256.Sum256([]byte(repoRoot()))
	return filepath.Join(base, fmt.Sprintf("orgpulse-gotest-%d-%s", os.Geteuid(), hex.EncodeToString(sum[:])[:10]))
}

// provisionState is goTestDir/state.json: the ports the servers listen on.
type provisionState struct {
	PGPort    int `json:"pgPort"`
	RedisPort int `json:"redisPort"`
}

// provision makes DATABASE_URL and REDIS_URL point at running servers,
// starting goTestDir's own when either is unset. The lock file serializes
// starting and stopping between test processes; each process holds a
// shared lock on the users file while its tests run, so the one that can
// take it exclusively at the end is the last user.
func provision() (release func() error, err error) {
	needPG, needRedis := os.Getenv("DATABASE_URL") == "", os.Getenv("REDIS_URL") == ""
	if !needPG && !needRedis {
		return func() error { return nil }, nil
	}
	dir := goTestDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := flockFile(filepath.Join(dir, "lock"), syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	var st provisionState
	b, _ := os.ReadFile(filepath.Join(dir, "state.json"))
	_ = json.Unmarshal(b, &st) // missing or damaged: start afresh
	if needPG {
		if err := ensurePostgres(dir, &st); err != nil {
			return nil, fmt.Errorf("DATABASE_URL is not set, and starting PostgreSQL in %s failed (set DATABASE_URL, or run scripts/test.sh): %w", dir, err)
		}
		os.Setenv("DATABASE_URL", pgURL(st.PGPort))
	}
	if needRedis {
		if err := ensureRedis(dir, &st); err != nil {
			return nil, fmt.Errorf("REDIS_URL is not set, and starting redis-server in %s failed (set REDIS_URL, or run scripts/test.sh): %w", dir, err)
		}
		os.Setenv("REDIS_URL", "redis://"+redisAddr(st.RedisPort))
	}
	b, _ = json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644); err != nil {
		return nil, err
	}
	users, err := flockFile(filepath.Join(dir, "users"), syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	return func() error { return releaseServers(dir, users, st) }, nil
}

// releaseServers drops this process's use and stops the servers if no
// other test process is using them.
func releaseServers(dir string, users *os.File, st provisionState) error {
	users.Close() // drops the shared lock
	lock, err := flockFile(filepath.Join(dir, "lock"), syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	last, err := flockFile(filepath.Join(dir, "users"), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil // another package's tests still run
	}
	if err != nil {
		return err
	}
	defer last.Close()
	var errs []error
	if pgOwned(dir, st.PGPort) {
		bin, err := findPostgresBin()
		if err == nil {
			err = pgRun(bin, pgOSUser(), "", "pg_ctl", "-D", filepath.Join(dir, "pg", "data"), "-m", "fast", "-w", "-t", "60", "stop")
		}
		errs = append(errs, err)
	}
	if redisOwned(dir, st.RedisPort) {
		errs = append(errs, stopRedis(st.RedisPort))
	}
	return errors.Join(errs...)
}

func flockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func pgURL(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func redisAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// pgOwned reports whether the server on port is the cluster in dir: a
// server this checkout did not start is never used or stopped.
func pgOwned(dir string, port int) bool {
	if port == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL(port))
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	var dataDir string
	err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir)
	return err == nil && filepath.Clean(dataDir) == filepath.Join(dir, "pg", "data")
}

// ensurePostgres starts the cluster in dir/pg (initializing it on first
// use) unless it already runs, on the port of st when that is free.
func ensurePostgres(dir string, st *provisionState) error {
	if pgOwned(dir, st.PGPort) {
		return nil
	}
	bin, err := findPostgresBin()
	if err != nil {
		return err
	}
	asUser := pgOSUser()
	pgDir := filepath.Join(dir, "pg")
	data := filepath.Join(pgDir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		// First use, or an initdb that did not finish: start over.
		if err := os.RemoveAll(pgDir); err != nil {
			return err
		}
		if err := mkdirOwned(asUser, pgDir, filepath.Join(pgDir, "sock")); err != nil {
			return err
		}
		if err := pgRun(bin, asUser, pgDir, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
			return err
		}
	} else if pgRun(bin, asUser, pgDir, "pg_ctl", "-D", data, "status") == nil {
		// Running, but not where state.json says: stop it to start it
		// on a known port.
		if err := pgRun(bin, asUser, pgDir, "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"); err != nil {
			return err
		}
	}
	if st.PGPort == 0 || !portFree(st.PGPort) {
		if st.PGPort, err = freeLowPort(); err != nil {
			return err
		}
	}
	// The settings of scripts/lib.sh's local cluster: fast and throwaway.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"+
		" -c synchronous_commit=off -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0",
		st.PGPort, filepath.Join(pgDir, "sock"))
	return pgRun(bin, asUser, pgDir, "pg_ctl", "-D", data, "-l", filepath.Join(pgDir, "postgres.log"),
		"-o", opts, "-w", "-t", "60", "start")
}

// mkdirOwned creates directories owned by the OS user asUser (when set).
func mkdirOwned(asUser string, dirs ...string) error {
	uid, gid := -1, -1
	if asUser != "" {
		u, err := user.Lookup(asUser)
		if err != nil {
			return fmt.Errorf("running as root needs the %s OS user to run PostgreSQL: %w", asUser, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// pgOSUser is the OS user PostgreSQL runs as: postgres when the tests run
// as root (PostgreSQL refuses root), else the current user ("").
func pgOSUser() string {
	if os.Geteuid() == 0 {
		return "postgres"
	}
	return ""
}

// pgCommand runs a PostgreSQL program of bin, as asUser when set.
func pgCommand(bin, asUser, name string, args ...string) *exec.Cmd {
	path := filepath.Join(bin, name)
	if asUser != "" {
		return exec.Command("runuser", append([]string{"-u", asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func pgRun(bin, asUser, dir, name string, args ...string) error {
	cmd := pgCommand(bin, asUser, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// redisOwned reports whether the server on port is the redis-server of
// dir (its working directory is dir/redis).
func redisOwned(dir string, port int) bool {
	if port == 0 {
		return false
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(port), MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	got, err := rdb.ConfigGet(ctx, "dir").Result()
	want, _ := filepath.EvalSymlinks(filepath.Join(dir, "redis"))
	return err == nil && want != "" && got["dir"] == want
}

// ensureRedis starts a redis-server working in dir/redis unless it runs.
// It keeps nothing on disk: tests need no data from an earlier run.
func ensureRedis(dir string, st *provisionState) error {
	if redisOwned(dir, st.RedisPort) {
		return nil
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return errors.New("redis-server is not installed")
	}
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return err
	}
	if st.RedisPort == 0 || !portFree(st.RedisPort) {
		var err error
		if st.RedisPort, err = freeLowPort(); err != nil {
			return err
		}
	}
	out, err := exec.Command("redis-server",
		"--port", strconv.Itoa(st.RedisPort), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", rdir,
		"--daemonize", "yes", "--logfile", filepath.Join(rdir, "redis.log")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-server: %w\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !redisOwned(dir, st.RedisPort) {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(rdir, "redis.log"))
			return fmt.Errorf("redis-server on %s does not answer:\n%s", redisAddr(st.RedisPort), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func stopRedis(port int) error {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(port), MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// SHUTDOWN answers nothing: the connection closes when it worked.
	if err := rdb.ShutdownNoSave(ctx).Err(); err != nil && !strings.Contains(err.Error(), "EOF") &&
		!errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		return fmt.Errorf("stop redis-server on %s: %w", redisAddr(port), err)
	}
	return nil
}

// freeLowPort returns a loopback port nothing listens on, below Linux's
// ephemeral range (32768-60999): a port from that range can be held at
// any moment by an outgoing connection, which makes a server restarted on
// it fail to bind.
func freeLowPort() (int, error) {
	const lo, hi = 27000, 32000
	start := lo + rand.IntN(hi-lo)
	for i := 0; i < hi-lo; i++ {
		if p := lo + (start-lo+i)%(hi-lo); portFree(p) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 in %d-%d", lo, hi)
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", redisAddr(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
