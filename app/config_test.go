package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"orgpulse/app"
)

// badValues has, for every variable serve reads, values that must stop it
// with a message naming the variable. TestEveryVariableHasBadValues keeps
// the table complete.
var badValues = map[string][]string{
	"DATABASE_URL":           {"postgres://host:notaport/db", "mysql://x"},
	"DATABASE_LISTEN_URL":    {"postgres://host:notaport/db", "mysql://x"},
	"REPLAY_WINDOW":          {"1", "0s", "-1h", "1y"},
	"DB_MAX_CONNS":           {"-5", "0", "abc", "1.5"},
	"STATEMENT_TIMEOUT":      {"10", "banana", "-1s", "0s"},
	"DB_RANDOM_PAGE_COST":    {"cheap", "-2", "0", "NaN"},
	"REDIS_URL":              {"http://localhost:6379", "redis://h:notaport"},
	"REDIS_PREFIX":           {"", "  "},
	"ADDR":                   {"8080", "localhost:99999", "host:port"},
	"DEBUG":                  {"yes", "on", "2"},
	"LOG_FORMAT":             {"xml", "JSON "},
	"LOG_LEVEL":              {"verbose", "loud"},
	"REQUEST_TIMEOUT":        {"10", "0s", "forever"},
	"MAX_BODY_BYTES":         {"1MB", "-1", "100"},
	"MAX_VARIABLES_BYTES":    {"64k", "-1"},
	"MAX_QUERY_LENGTH":       {"long", "0"},
	"MAX_DEPTH":              {"abc", "0", "-3", "1000"},
	"MAX_SELECTIONS":         {"many", "0"},
	"MAX_ALIASES":            {"-1", "x"},
	"MAX_COST":               {"0", "1e6", "99999999999"},
	"CORS_ORIGINS":           {"app.example.com", "https://app.example.com/path", "ftp://x.example.com"},
	"INTROSPECTION":          {"maybe", "yes"},
	"LOADER_WAIT":            {"1", "-1ms", "1h"},
	"NAIVE_LOADING":          {"sometimes"},
	"API_TOKEN":              nil, // any string is a token
	"JWT_SECRET":             {"short", "0123456789abcdef"},
	"JWT_JWKS_FILE":          {"/nonexistent/jwks.json", "/etc/passwd", "/"},
	"JWT_ISSUER":             {" https://idp.example.com", "aud "},
	"JWT_AUDIENCE":           {" orgpulse"},
	"ANONYMOUS_ROLE":         {"guest", "Admin", ""},
	"GRAPHIQL_TOKEN":         {"has space", `quote"`, "abc"}, // abc: without DEBUG
	"CACHE_TTL":              {"banana", "5", "0s"},
	"RESPONSE_CACHE":         {"enabled"},
	"SUMMARY_CACHE_TTL":      {"5", "0s"},
	"WS_INIT_TIMEOUT":        {"3", "0s"},
	"WS_MAX_CONNECTIONS":     {"0", "lots"},
	"WS_MAX_SUBSCRIPTIONS":   {"0", "-1"},
	"GRAPHIQL_ASSETS":        nil, // a directory; checked when GraphiQL is set up
	"REPLICA_ID":             {"", "has space", "semi;colon"},
	"SHUTDOWN_DRAIN":         {"2", "-1s"},
	"SHUTDOWN_TIMEOUT":       {"15", "0s"},
	"METRICS_SAMPLE_RATE":    {"1.5", "-0.1", "half"},
	"METRICS_BUFFER":         {"0", "big"},
	"METRICS_FLUSH_INTERVAL": {"1", "0s"},
	"METRICS_RETENTION":      {"7d", "-1h"},
	"RETENTION_INTERVAL":     {"10", "0s"},
	"SLOW_REQUEST_MS":        {"500ms", "0", "-1"},
	"GOGC":                   {"fast", "-5"},
	"GOMEMLIMIT":             {"lots", "512MB", "-1"},
	"BODY_READ_TIMEOUT":      {"10", "0s", "slow"},
	"RESPONSE_WRITE_TIMEOUT": {"10", "0s", "slow"},
	"MAX_INFLIGHT":           {"0", "-1", "many"},
	"READY_REQUIRES_REDIS":   {"strict"},
	"DOCUMENT_CACHE_SIZE":    {"-1", "lots", "2000000"},
	"TRUSTED_DOCUMENTS":      {"/nonexistent/manifest.json", "/etc/passwd", "testdata/manifest-wrong-hash.json"},
	"TRUSTED_DOCUMENTS_ONLY": {"strict", "true"}, // true: without TRUSTED_DOCUMENTS
	"PERSISTED_QUERY_TTL":    {"1", "0s", "forever"},
	"CACHE_CONTROL":          {"public", "public, max-age=60", "private, s-maxage=60", "max-age=soon"},

	"OTEL_EXPORTER_OTLP_ENDPOINT":        {"localhost:4318", "ftp://collector:4318", "http://"},
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": {"collector:4318/v1/traces", "udp://collector"},
	"OTEL_EXPORTER_OTLP_PROTOCOL":        {"http/json", "udp"},
	"OTEL_SERVICE_NAME":                  nil, // any name; empty keeps orgpulse
	"OTEL_TRACES_SAMPLER":                {"jaeger_remote", "sometimes"},
	"OTEL_TRACES_SAMPLER_ARG":            {"1.5", "-0.1", "half"},
	"OTEL_RESOURCE_ATTRIBUTES":           {"novalue", "=x", "k=%zz"},
}

func envOf(m map[string]string) app.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const testDB = "postgres://u@127.0.0.1:1/db"

func TestBadValuesNameTheirVariable(t *testing.T) {
	for name, values := range badValues {
		for _, v := range values {
			t.Run(name+"="+v, func(t *testing.T) {
				env := map[string]string{"DATABASE_URL": testDB, name: v}
				var out bytes.Buffer
				_, err := app.ParseServe(nil, envOf(env), &out)
				if err == nil {
					t.Fatalf("%s=%q was accepted", name, v)
				}
				if !strings.Contains(err.Error(), name) {
					t.Errorf("the error does not name %s: %v", name, err)
				}
				if !strings.Contains(err.Error(), "want") {
					t.Errorf("the error does not say which form is accepted: %v", err)
				}
			})
		}
	}
}

func TestBadFlagValuesAreRefused(t *testing.T) {
	var out bytes.Buffer
	_, err := app.ParseServe([]string{"--max-depth", "abc"}, envOf(map[string]string{"DATABASE_URL": testDB}), &out)
	if err == nil || !strings.Contains(err.Error(), "max-depth") || !strings.Contains(err.Error(), "whole number") {
		t.Fatalf("got %v, want an error naming max-depth and the accepted form", err)
	}
}

func TestGoodValuesAreRead(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": testDB, "MAX_DEPTH": "12", "CACHE_TTL": "90s", "DB_RANDOM_PAGE_COST": "-1",
		"INTROSPECTION": "false", "CORS_ORIGINS": "https://a.example.com, *", "SLOW_REQUEST_MS": "250",
		"METRICS_RETENTION": "0", "GOMEMLIMIT": "512MiB", "DEBUG": "1",
	}
	cfg, err := app.ParseServe([]string{"--max-aliases", "7"}, envOf(env), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.MaxDepth, 12; got != want {
		t.Errorf("MaxDepth = %d, want %d", got, want)
	}
	if got, want := cfg.MaxAliases, 7; got != want {
		t.Errorf("MaxAliases = %d, want %d (flag)", got, want)
	}
	if got, want := cfg.CacheTTL, 90*time.Second; got != want {
		t.Errorf("CacheTTL = %v, want %v", got, want)
	}
	if cfg.Introspection == nil || *cfg.Introspection {
		t.Errorf("Introspection = %v, want false", cfg.Introspection)
	}
	if got, want := cfg.CORSOrigins, []string{"https://a.example.com", "*"}; !slices.Equal(got, want) {
		t.Errorf("CORSOrigins = %q, want %q", got, want)
	}
	if got, want := cfg.SlowRequest, 250*time.Millisecond; got != want {
		t.Errorf("SlowRequest = %v, want %v", got, want)
	}
	if !cfg.Debug || cfg.RandomPageCost != -1 || cfg.MetricsRetention != 0 {
		t.Errorf("Debug %v, RandomPageCost %v, MetricsRetention %v", cfg.Debug, cfg.RandomPageCost, cfg.MetricsRetention)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := app.ParseServe(nil, envOf(map[string]string{"DATABASE_URL": testDB}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	def := app.DefaultConfig()
	def.DatabaseURL = testDB
	if got, want := cfg.MaxDepth, def.MaxDepth; got != want {
		t.Errorf("MaxDepth = %d, want the default %d", got, want)
	}
}

func TestMissingDatabaseURL(t *testing.T) {
	_, err := app.ParseServe(nil, envOf(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("got %v, want an error naming DATABASE_URL", err)
	}
}

// TestEveryVariableHasBadValues: every variable of the README's
// configuration table is a setting serve binds, and has a row in
// badValues.
func TestEveryVariableHasBadValues(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Configuration")
	if start < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var documented []string
	row := regexp.MustCompile("(?m)^\\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, v := range strings.Split(m[1], ", ") {
			documented = append(documented, strings.Trim(v, "`"))
		}
	}
	if len(documented) < 30 {
		t.Fatalf("found only %d variables in README's Configuration table: %q", len(documented), documented)
	}
	for _, v := range documented {
		if _, ok := badValues[v]; !ok {
			t.Errorf("README documents %s, but badValues has no row for it", v)
		}
	}
	for v := range badValues {
		if !slices.Contains(documented, v) {
			t.Errorf("badValues has %s, but README's Configuration table does not document it", v)
		}
	}
	for _, v := range app.Variables() {
		if !slices.Contains(documented, v) {
			t.Errorf("serve reads %s, but README's Configuration table does not document it", v)
		}
	}
}

// TestManifestWithAWrongHashStopsServe: a manifest entry whose 64-hex key
// is not its document's SHA-256 stops serve, naming the variable and the
// entry.
func TestManifestWithAWrongHashStopsServe(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testDB, "TRUSTED_DOCUMENTS": "testdata/manifest-wrong-hash.json"}
	_, err := app.ParseServe(nil, envOf(env), &bytes.Buffer{})
	if err == nil {
		t.Fatal("a manifest with a wrong hash was accepted")
	}
	const entry = "0000000000000000000000000000000000000000000000000000000000000001"
	for _, want := range []string{"TRUSTED_DOCUMENTS", entry, "want the SHA-256"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}

// TestDocumentsWritesAManifest: `orgpulse documents` keys each file's text
// by its SHA-256, and refuses a file the server would not parse, naming it.
func TestDocumentsWritesAManifest(t *testing.T) {
	dir := t.TempDir()
	good, bad := dir+"/good.graphql", dir+"/bad.graphql"
	const doc = "{ allOrganizations { id } }\n"
	if err := os.WriteFile(good, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("{ allOrganizations { id "), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.Documents([]string{good}, &bytes.Buffer{}, &out); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("not a JSON manifest: %v\n%s", err, out.String())
	}
	sum := sha256.Sum256([]byte(doc))
	if len(m) != 1 || m[hex.EncodeToString(sum[:])] != doc {
		t.Fatalf("manifest %v, want the document under its SHA-256", m)
	}
	err := app.Documents([]string{good, bad}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("an unparsable file: %v, want an error naming %s", err, bad)
	}
}
