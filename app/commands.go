package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"orgpulse/auth"
	"orgpulse/cache"
	"orgpulse/migrations"
	"orgpulse/seed"
	"orgpulse/server"
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

// orgIDList is --org, given once per organization.
type orgIDList struct{ ids *[]int64 }

func (v orgIDList) String() string { return "" }

func (v orgIDList) Set(s string) error {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("want a positive organization id, got %q", s)
	}
	*v.ids = append(*v.ids, id)
	return nil
}

// Token runs `orgpulse token --role R [--org N ...] [--ttl D] [--sub S]`:
// it prints an HS256 token signed with JWT_SECRET (with JWT_ISSUER and
// JWT_AUDIENCE as iss and aud when set).
func Token(args []string, env Env, out, stdout io.Writer) error {
	cfg := DefaultConfig()
	ic := auth.IssueConfig{TTL: time.Hour}
	role := ""
	fs := NewFlagSet("token", "Print a bearer token (HS256, signed with JWT_SECRET) for a role and its organizations.", out)
	fs.StringVar(&role, "role", "", "admin, manager or member (required)")
	fs.Var(orgIDList{&ic.OrgIDs}, "org", "an organization the token is scoped to (repeat for several; manager and member)")
	fs.Var(durationValue{&ic.TTL, time.Second, 366 * day}, "ttl", "lifetime of the token")
	fs.StringVar(&ic.Subject, "sub", "", "subject (who the token is for)")
	settings := []setting{serveSetting("JWT_SECRET"), serveSetting("JWT_ISSUER"), serveSetting("JWT_AUDIENCE")}
	if err := parse(fs, &cfg, env, settings, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token takes no arguments, got %q", fs.Args())
	}
	r, err := auth.ParseRole(role, false)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	if r != auth.RoleAdmin && len(ic.OrgIDs) == 0 {
		return errors.New("--org: a manager or member token needs at least one organization")
	}
	ic.Role, ic.Secret, ic.Issuer, ic.Audience = r, cfg.JWTSecret, cfg.JWTIssuer, cfg.JWTAudience
	tok, err := auth.Issue(ic)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// Documents runs `orgpulse documents FILE.graphql...`: it prints the
// trusted-documents manifest of the files (TRUSTED_DOCUMENTS), each file's
// text keyed by its SHA-256, as GraphQL Codegen's persisted-documents.json.
func Documents(args []string, out, stdout io.Writer) error {
	fs := NewFlagSet("documents FILE.graphql...", "Print the trusted-documents manifest (TRUSTED_DOCUMENTS) of GraphQL documents: {\"<sha256>\": \"<document>\"}.", out)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("documents needs at least one .graphql file")
	}
	docs := make(map[string]string, fs.NArg())
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("documents: %w", err)
		}
		docs[f] = string(b)
	}
	m, err := server.ManifestOf(docs)
	if err != nil {
		return fmt.Errorf("documents: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// serveSetting is serve's setting of the variable env.
func serveSetting(env string) setting {
	for _, s := range serveSettings {
		if s.env == env {
			return s
		}
	}
	panic("no setting " + env)
}
