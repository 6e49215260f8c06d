package resolvers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// commitTruthSQL makes PostgreSQL sleep while a transaction inserts an
// organization (an ordinary trigger: the request deadline ends a running
// statement) or while it commits (a deferred constraint trigger: it runs
// inside COMMIT). The organization's name says where and how long.
const commitTruthSQL = `
CREATE FUNCTION truth_sleep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF strpos(NEW.name, TG_ARGV[0]) > 0 THEN
    PERFORM pg_sleep(substring(NEW.name from 'sleep=([0-9.]+)')::float8);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER truth_at_insert AFTER INSERT ON organizations
  FOR EACH ROW EXECUTE FUNCTION truth_sleep('at-insert');
CREATE CONSTRAINT TRIGGER truth_at_commit AFTER INSERT ON organizations
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION truth_sleep('at-commit');
`

// TestMutationAnswerMatchesCommit: whatever the deadline does to a
// mutation, its answer says success exactly when its row was committed --
// above all when COMMIT finishes after REQUEST_TIMEOUT (issue #16.3).
func TestMutationAnswerMatchesCommit(t *testing.T) {
	db := testsupport.MustOpenDB(t)
	db.MustExec(t, commitTruthSQL)
	const requestTimeout = 400 * time.Millisecond
	srv := testsupport.MustStartServer(t, db, testsupport.NoCache, func(c *server.Config, _ *resolvers.Config) {
		c.RequestTimeout = requestTimeout
	})
	// Where PostgreSQL sleeps, and for how long: commits that end before
	// the deadline, commits that end after it (the case that answered
	// TIMEOUT although committed), and statements the deadline cuts short.
	plans := []struct {
		where string
		sleep float64
	}{
		{"at-commit", 0}, {"at-commit", 0.1}, {"at-commit", 0.5}, {"at-commit", 0.8},
		{"at-commit", 1.5}, {"at-insert", 0.8}, {"at-insert", 0.1},
	}
	// Odd runs go over the WebSocket, which has its own framing of the
	// same execution.
	ws := testsupport.DialWS(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", testsupport.WSDialOptions{})
	ws.Init(map[string]any{"Authorization": "Bearer " + testsupport.APIToken})
	mutate := func(overWS bool, name string) *testsupport.Response {
		const m = `mutation($name: String!) { createOrganization(input: {name: $name}) { id name } }`
		vars := map[string]any{"name": name}
		if !overWS {
			return srv.Mutate(t, m, vars)
		}
		id := "m-" + name
		ws.Subscribe(id, m, vars)
		msg := ws.NextFor(id, 15*time.Second)
		res := &testsupport.Response{Raw: msg.Payload}
		switch msg.Type {
		case "next":
			if err := json.Unmarshal(msg.Payload, res); err != nil {
				t.Fatalf("%s: %v", msg.Payload, err)
			}
		case "error":
			if err := json.Unmarshal(msg.Payload, &res.Errors); err != nil {
				t.Fatalf("%s: %v", msg.Payload, err)
			}
		default:
			t.Fatalf("over the WebSocket: %s %s", msg.Type, msg.Payload)
		}
		return res
	}
	const runs = 20
	var disagree, committedOK, lateCommits, rolledBack int
	codes := map[string]int{}
	for i := range runs {
		plan := plans[i%len(plans)]
		name := fmt.Sprintf("truth %d %s sleep=%.1f", i, plan.where, plan.sleep)
		start := time.Now()
		res := mutate(i%2 == 1, name)
		elapsed := time.Since(start)
		var data struct {
			CreateOrganization *struct{ ID, Name string }
		}
		if len(res.Data) > 0 {
			if err := json.Unmarshal(res.Data, &data); err != nil {
				t.Fatalf("run %d: %v: %s", i, err, res.Raw)
			}
		}
		answeredOK := len(res.Errors) == 0 && data.CreateOrganization != nil && data.CreateOrganization.Name == name
		// A transaction the server gave up on may still be sleeping: wait
		// for it to end before reading the row.
		testsupport.Eventually(t, 10*time.Second, "the transaction of "+name+" ends", func() bool {
			return db.MustQueryInt64(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`) == 0
		})
		committed := db.MustQueryInt64(t, "SELECT count(*) FROM organizations WHERE name = $1", name) == 1
		switch {
		case res.Code() == resolvers.CodeOutcomeUnknown:
			// Honest, and not a claim either way.
		case answeredOK != committed:
			disagree++
			t.Errorf("run %d (%s, %v): answered ok=%v but committed=%v: %s", i, name, elapsed.Round(time.Millisecond), answeredOK, committed, res.Raw)
		}
		switch {
		case answeredOK && elapsed > requestTimeout:
			lateCommits++
			committedOK++
		case answeredOK:
			committedOK++
		default:
			rolledBack++
			codes[res.Code()]++
		}
	}
	t.Logf("%d runs: %d disagreements; %d answered with data (%d of them after the %v deadline), %d errors %v",
		runs, disagree, committedOK, lateCommits, requestTimeout, rolledBack, codes)
	if lateCommits == 0 {
		t.Errorf("no commit ended after the deadline: the test did not exercise the case")
	}
	if rolledBack == 0 {
		t.Errorf("no mutation was cut short by the deadline: the test did not exercise the rollback")
	}
}
