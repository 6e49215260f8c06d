package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"orgpulse/testsupport"
)

// A built binary started far from the repository (an empty working
// directory, no GRAPHIQL_ASSETS, nothing but DATABASE_URL) serves GraphiQL
// and every file the page references, all from itself.
func TestBinaryServesGraphiQLFromAnyDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "orgpulse")
	build := exec.Command("go", "build", "-o", bin, "orgpulse")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := testsupport.MustOpenDB(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"DATABASE_URL=" + db.URL, "ADDR=127.0.0.1:0", "LOG_FORMAT=json"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base, logs := waitServing(t, stderr)
	for _, l := range logs {
		if strings.Contains(l, "GraphiQL") {
			t.Errorf("log line about GraphiQL: %s", l)
		}
	}

	resp, page := get(t, base+"/graphiql")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<title>orgpulse GraphiQL</title>") {
		t.Fatalf("GET /graphiql: status %d\n%s", resp.StatusCode, page)
	}
	var fetched int
	for _, ref := range pageRefs(t, page) {
		u, err := url.Parse(ref)
		if err != nil {
			t.Errorf("page references %q: %v", ref, err)
			continue
		}
		if u.Scheme == "data" {
			continue // inline (the empty icon): nothing to fetch
		}
		if u.Scheme != "" || u.Host != "" {
			t.Errorf("page references %q on another host", ref)
			continue
		}
		resp, body := get(t, base+u.Path)
		if resp.StatusCode != http.StatusOK || body == "" {
			t.Errorf("GET %s: status %d, %d bytes", u.Path, resp.StatusCode, len(body))
		}
		fetched++
	}
	if fetched != 5 { // React, ReactDOM, graphql-ws, GraphiQL and its stylesheet
		t.Errorf("fetched %d assets, want 5", fetched)
	}
}

// waitServing reads the binary's JSON log until it says where it listens,
// returning that base URL and the lines before it.
func waitServing(t *testing.T, stderr interface{ Read([]byte) (int, error) }) (string, []string) {
	t.Helper()
	type result struct {
		addr  string
		lines []string
	}
	done := make(chan result, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "serving" {
				done <- result{rec.Addr, lines}
				for sc.Scan() { // keep draining so the server never blocks on its log
				}
				return
			}
			lines = append(lines, sc.Text())
		}
		done <- result{"", lines}
	}()
	select {
	case r := <-done:
		if r.addr == "" {
			t.Fatalf("orgpulse serve exited before serving:\n%s", strings.Join(r.lines, "\n"))
		}
		return "http://" + r.addr, r.lines
	case <-time.After(30 * time.Second):
		t.Fatal("orgpulse serve did not log \"serving\" within 30s")
		return "", nil
	}
}
