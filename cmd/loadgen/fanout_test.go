package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orgpulse/testsupport"
)

// A small fan-out run against a real server: every subscriber receives
// every event, and the identical subscriptions share one execution.
func TestFanout(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{Quiet: true})
	project := db.MustQueryInt64(t, "SELECT project_id FROM project_members GROUP BY project_id ORDER BY project_id LIMIT 1")
	out := filepath.Join(t.TempDir(), "fanout.json")
	err := runFanout(context.Background(), []string{"-url", srv.URL, "-subscribers", "12", "-small", "3", "-events", "2",
		"-project", fmt.Sprint(project), "-token", testsupport.APIToken, "-o", out})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res fanoutResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Expected != 24 || res.Delivered != 24 || res.Executing != 1 || len(res.SQLPerEvent) != 2 {
		t.Errorf("expected %d, delivered %d, executing %d, sql per event %v; want 24, 24, 1 and two counts",
			res.Expected, res.Delivered, res.Executing, res.SQLPerEvent)
	}
	if !strings.Contains(res.Payload, `"projectUpdated"`) {
		t.Errorf("payload sample %q", res.Payload)
	}
}
