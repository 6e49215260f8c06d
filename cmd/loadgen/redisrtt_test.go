package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// loadgen redis stores a value through the cache, then looks it up (a hit
// every time, or an error) and reports the calls as loadgen http reports
// requests; PING the same.
func TestRedisRoundTrip(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("no REDIS_URL")
	}
	dir := t.TempDir()
	value := filepath.Join(dir, "org.response")
	if err := os.WriteFile(value, []byte(`{"data":{"organization":{"name":"Acme"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("loadgen-test-%d:", time.Now().UnixNano())
	for _, op := range []string{"lookup", "ping"} {
		out := filepath.Join(dir, op+".json")
		err := runRedis(context.Background(), []string{"-url", url, "-op", op, "-value", value, "-prefix", prefix,
			"-c", "4", "-n", "200", "-d", "10s", "-o", out})
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var res Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Count != 200 || res.Errors != 0 || res.P50 <= 0 || res.Concurrency != 4 {
			t.Errorf("%s: %+v, want 200 calls, no errors", op, res)
		}
	}
}
