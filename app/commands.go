package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"orgpulse/cache"
	"orgpulse/migrations"
	"orgpulse/seed"
)

// Env looks up an environment variable (os.LookupEnv; tests pass a map).
type Env func(string) (string, bool)

// NewFlagSet is a flag set whose usage names the command and says that
// every flag defaults to its environment variable.
func NewFlagSet(name, summary string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orgpulse %s\n\n%s\n\nFlags (each defaults to its environment variable):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// ParseServe reads serve's settings from env and args, flags winning.
func ParseServe(args []string, env Env, out io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := NewFlagSet("serve", "Serve GraphQL at /graphql, GraphiQL at /graphiql, /healthz, /readyz and Prometheus /metrics.", out)
	if err := parse(fs, &cfg, env, serveAll(), args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	return cfg, cfg.check(true)
}

func parse(fs *flag.FlagSet, cfg *Config, env Env, settings []setting, args []string) error {
	if err := bind(fs, cfg, env, settings); err != nil {
		return err
	}
	return fs.Parse(args)
}

// Migrate runs `orgpulse migrate up|down|status`.
func Migrate(ctx context.Context, args []string, env Env, out io.Writer) error {
	cfg := DefaultConfig()
	fs := NewFlagSet("migrate up|down|status", "Apply (up), roll back one (down) or list (status) the embedded migrations.", out)
	if err := parse(fs, &cfg, env, dbSettings, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("migrate needs one of: up, down, status")
	}
	pool, err := OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	switch fs.Arg(0) {
	case "up":
		return m.Up(ctx, os.Stdout)
	case "down":
		return m.Down(ctx, os.Stdout)
	case "status":
		return m.Status(ctx, os.Stdout)
	default:
		return fmt.Errorf("unknown migrate command %q: use up, down or status", fs.Arg(0))
	}
}

// seedSettings are seed's own settings.
func seedSettings(o *seed.Options) []setting {
	n := func(p *int) func(*Config) flag.Value {
		return func(*Config) flag.Value { return intValue{p, 0, 1_000_000} }
	}
	return []setting{
		{"orgs", "SEED_ORGS", "organizations", n(&o.Orgs)},
		{"employees-per-org", "SEED_EMPLOYEES_PER_ORG", "employees per organization", n(&o.EmployeesPerOrg)},
		{"projects-per-org", "SEED_PROJECTS_PER_ORG", "projects per organization", n(&o.ProjectsPerOrg)},
		{"members-per-project", "SEED_MEMBERS_PER_PROJECT", "team members per project, from the same organization", n(&o.MembersPerProject)},
		{"metrics", "SEED_METRICS", "performance samples over the last 6 days (inside the default METRICS_RETENTION)", func(*Config) flag.Value { return intValue{&o.Metrics, 0, 100_000_000} }},
		{"reset", "SEED_RESET", "delete all data first", func(*Config) flag.Value { return boolValue{&o.Reset} }},
	}
}

// Seed runs `orgpulse seed`: deterministic sample data, then the cache of
// the servers sharing REDIS_URL and REDIS_PREFIX is retired.
func Seed(ctx context.Context, args []string, env Env, out io.Writer) error {
	cfg := DefaultConfig()
	opts := seed.Options{Orgs: 50, EmployeesPerOrg: 50, ProjectsPerOrg: 20, MembersPerProject: 8, Metrics: 10000, Progress: os.Stderr}
	fs := NewFlagSet("seed", "Load deterministic sample data with COPY. Skips when data is present unless --reset.", out)
	settings := append(append(append([]setting{}, dbSettings...), redisSettings...), seedSettings(&opts)...)
	if err := parse(fs, &cfg, env, settings, args); err != nil {
		return err
	}
	pool, err := OpenPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := requireMigrated(ctx, pool); err != nil {
		return err
	}
	res, err := seed.Run(ctx, pool, opts)
	if err != nil || res.Skipped || cfg.RedisURL == "" {
		return err
	}
	// The rows changed behind the mutations' back: retire what servers
	// sharing this Redis prefix cached from the old ones.
	rdb, err := OpenRedis(ctx, cfg.RedisURL, NewLogger(os.Stderr, "text", "info"))
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := cache.New(rdb, cache.Config{Prefix: cfg.RedisPrefix}).Reset(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: retired the cache under prefix %q\n", cfg.RedisPrefix)
	return nil
}
