package realtime_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	dbq "orgpulse/db"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/testsupport"
)

func TestRunSubscribe(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{})
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")

	t.Run("query: one line, then done", func(t *testing.T) {
		var out bytes.Buffer
		err := realtime.RunSubscribe(context.Background(), srv.URL, `query($id: ID!) { organization(id: $id) { id } }`,
			map[string]any{"id": fmt.Sprint(orgID)}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"data":{"organization":{"id":"%d"}}}`+"\n", orgID); out.String() != want {
			t.Errorf("printed %q, want %q", out.String(), want)
		}
	})

	t.Run("subscription: a line per event until interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- realtime.RunSubscribe(ctx, srv.WSURL, `subscription { metricRecorded { value } }`, nil, pw)
			pw.Close()
		}()
		lines := make(chan string, 1000)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Nothing says when the subscription is live: publish until a
		// line comes.
		var got []string
		for v := 1; len(got) < 2; v++ {
			ev, _ := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{Value: float64(v)}})
			if err := srv.Hub.Publish(context.Background(), resolvers.TopicMetric, ev); err != nil {
				t.Fatal(err)
			}
			select {
			case l := <-lines:
				got = append(got, l)
			case <-time.After(200 * time.Millisecond):
				if v > 100 {
					t.Fatal("no event printed")
				}
			}
		}
		for _, l := range got {
			if !strings.HasPrefix(l, `{"data":{"metricRecorded":{"value":`) {
				t.Errorf("line %q", l)
			}
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("after interrupt: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("RunSubscribe did not return after its context ended")
		}
		testsupport.Eventually(t, 5*time.Second, "the server closed the operation", func() bool {
			return srv.App.WebSocketStats().Connections == 0
		})
	})

	t.Run("errors", func(t *testing.T) {
		err := realtime.RunSubscribe(context.Background(), srv.URL+"/graphql", `subscription { nope }`, nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "GRAPHQL_VALIDATION_FAILED") {
			t.Errorf("invalid document: %v", err)
		}
		if err := realtime.RunSubscribe(context.Background(), "ftp://x", `{ a }`, nil, io.Discard); err == nil {
			t.Error("an ftp URL was accepted")
		}
	})
}
