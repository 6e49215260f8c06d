package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dbq "orgpulse/db"
	"orgpulse/resolvers"
	"orgpulse/testsupport"
)

// buildBinary builds orgpulse from this checkout, as a user runs it.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "orgpulse")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startSubscribe starts `orgpulse subscribe doc` against url and waits for
// "subscribed" on its stderr; it returns the command and its output lines.
func startSubscribe(ctx context.Context, t *testing.T, bin, url, doc string) (cmd *exec.Cmd, stdout, stderr *bufio.Scanner) {
	t.Helper()
	cmd = exec.CommandContext(ctx, bin, "subscribe", "--token", testsupport.APIToken, "--url", url, doc)
	cmd.Env = append(os.Environ(), "ORGPULSE_URL=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout, stderr = bufio.NewScanner(out), bufio.NewScanner(errOut)
	if !stderr.Scan() || stderr.Text() != "subscribed" {
		t.Fatalf("first stderr line %q, want subscribed", stderr.Text())
	}
	return cmd, stdout, stderr
}

// `orgpulse subscribe` says "subscribed" on stderr once the subscription
// is live, so a script can cause the first event then; it prints each
// event as a JSON line, reconnects when the server goes away (saying so,
// then "subscribed" again), and exits 0 on Ctrl-C.
func TestSubscribeCommand(t *testing.T) {
	bin := buildBinary(t)
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{})

	t.Run("subscribed, then events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd, lines, errLines := startSubscribe(ctx, t, bin, srv.URL, `subscription { metricRecorded { value } }`)
		// An event published at once must arrive.
		publishAndExpect := func(v int) {
			t.Helper()
			ev, err := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{Value: float64(v)}})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Hub.Publish(ctx, resolvers.TopicMetric, ev); err != nil {
				t.Fatal(err)
			}
			if !lines.Scan() {
				t.Fatalf("no event printed: %v", lines.Err())
			}
			if got, want := lines.Text(), fmt.Sprintf(`{"data":{"metricRecorded":{"value":%d}}}`, v); got != want {
				t.Errorf("printed %q, want %q", got, want)
			}
		}
		publishAndExpect(42)

		// The server going away (1001): a line saying so, then live again.
		srv.App.CloseWebSockets(ctx)
		if !errLines.Scan() || !strings.HasPrefix(errLines.Text(), "reconnecting (attempt 1): ") || !strings.Contains(errLines.Text(), "GoingAway") {
			t.Fatalf("stderr %q, want the reconnect", errLines.Text())
		}
		if !errLines.Scan() || errLines.Text() != "subscribed" {
			t.Fatalf("stderr %q after the reconnect, want subscribed", errLines.Text())
		}
		publishAndExpect(43)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("after Ctrl-C: %v", err)
		}
	})

	// The socket drops (1001) and changes commit before the command has a
	// new one: it resumes after the cursor of the last event it printed,
	// so it prints them all, in order, each once.
	t.Run("resumes after a dropped socket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		emp := db.MustQueryInt64(t, "SELECT min(id) FROM employees")
		cmd, lines, errLines := startSubscribe(ctx, t, bin, srv.URL, `subscription { employeeChanged { employee { id name } } }`)
		rename := func(i int) {
			db.MustExec(t, "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("Dropped %d", i), emp)
		}
		expect := func(i int) {
			t.Helper()
			if !lines.Scan() {
				t.Fatalf("no event printed: %v", lines.Err())
			}
			if want := fmt.Sprintf(`{"id":"%d","name":"Dropped %d"}`, emp, i); !strings.Contains(lines.Text(), want) || !strings.Contains(lines.Text(), `"cursor":"`) {
				t.Fatalf("printed %s, want %s and its cursor", lines.Text(), want)
			}
		}
		rename(0)
		expect(0)
		srv.App.CloseWebSockets(ctx)
		for i := 1; i <= 3; i++ { // while the command waits to reconnect
			rename(i)
		}
		if !errLines.Scan() || !strings.HasPrefix(errLines.Text(), "reconnecting (attempt 1): ") {
			t.Fatalf("stderr %q, want the reconnect", errLines.Text())
		}
		if !errLines.Scan() || errLines.Text() != "subscribed" {
			t.Fatalf("stderr %q after the reconnect, want subscribed", errLines.Text())
		}
		for i := 1; i <= 3; i++ {
			expect(i)
		}
		rename(4)
		expect(4)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("after Ctrl-C: %v", err)
		}
		if lines.Scan() {
			t.Errorf("printed more: %s", lines.Text())
		}
	})

	t.Run("a refused document fails with its code", func(t *testing.T) {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "subscribe", "--token", testsupport.APIToken, "--url", srv.WSURL, `subscription { nope }`)
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "GRAPHQL_VALIDATION_FAILED") {
			t.Errorf("exit %v, stderr %q", err, stderr.String())
		}
	})
}
