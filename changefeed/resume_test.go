package changefeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/testsupport"
)

// Resumable subscriptions (issue #18, item 3), through WebSockets to
// replicas that run the relay: every result carries extensions.cursor,
// and after: a cursor replays the log from there, then goes live.

const resumeSub = `subscription($org: ID, $after: String) { employeeChanged(organizationId: $org, after: $after) { action employee { name } } }`

// event is one employeeChanged result: the employee's name and the
// result's cursor.
type event struct{ name, cursor string }

// nextEvents reads n results of operation id (within wait in all).
func nextEvents(t testing.TB, c *testsupport.WSClient, id string, n int, wait time.Duration) []event {
	t.Helper()
	var out []event
	deadline := time.Now().Add(wait)
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%d of %d events within %s: %v", len(out), n, wait, out)
		}
		m := c.NextFor(id, left)
		if m.Type != "next" {
			t.Fatalf("subscription %s: %s %s (after %d events)", id, m.Type, m.Payload, len(out))
		}
		out = append(out, decodeEvent(t, m.Payload))
	}
	return out
}

// nextEventsResuming is nextEvents for a subscriber that, as the protocol
// tells clients, subscribes again with after: its last cursor (after: the
// one it started from before its first event) when the server ends the
// subscription with SERVICE_UNAVAILABLE: on a loaded machine (-race, CI) a
// subscriber can fall more than the buffer behind a writer that never
// pauses, and the server then ends it rather than drop an event. The
// events must come out the same: none missed, none twice.
func nextEventsResuming(t testing.TB, s *testsupport.LiveServer, c *testsupport.WSClient, org int64, after string, n int, wait time.Duration) (out []event, resumes int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%d of %d events within %s: %v", len(out), n, wait, out)
		}
		m := c.NextFor("e", left)
		if m.Type == "error" && strings.Contains(string(m.Payload), `"code":"SERVICE_UNAVAILABLE"`) {
			if len(out) > 0 {
				after = out[len(out)-1].cursor
			}
			vars := map[string]any{"org": fmt.Sprint(org)}
			if after != "" {
				vars["after"] = after
			}
			c.Subscribe("e", resumeSub, vars)
			resumes++
			continue
		}
		if m.Type != "next" {
			t.Fatalf("subscription e: %s %s (after %d events)", m.Type, m.Payload, len(out))
		}
		out = append(out, decodeEvent(t, m.Payload))
	}
	return out, resumes
}

func decodeEvent(t testing.TB, payload []byte) event {
	t.Helper()
	var p struct {
		Data struct {
			EmployeeChanged struct {
				Employee *struct{ Name string }
			}
		}
		Extensions struct{ Cursor string }
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	ev := event{cursor: p.Extensions.Cursor}
	if e := p.Data.EmployeeChanged.Employee; e != nil {
		ev.name = e.Name
	}
	if ev.cursor == "" {
		t.Fatalf("a result without extensions.cursor: %s", payload)
	}
	return ev
}

// subscribeAfter opens a socket as token ("" the API token) and starts
// employeeChanged of org (0: all) after cursor ("" none).
func subscribeAfter(t testing.TB, s *testsupport.LiveServer, token string, org int64, cursor string) *testsupport.WSClient {
	t.Helper()
	var opts testsupport.WSDialOptions
	if token != "" {
		opts.Header = map[string][]string{"Authorization": {"Bearer " + token}}
	}
	c := testsupport.DialWS(t, s.WSURL, opts)
	c.Init(nil)
	vars := map[string]any{}
	if org != 0 {
		vars["org"] = fmt.Sprint(org)
	}
	if cursor != "" {
		vars["after"] = cursor
	}
	c.Subscribe("e", resumeSub, vars)
	return c
}

func rename(t testing.TB, s *testsupport.LiveServer, emp int64, name string) {
	t.Helper()
	s.DB.MustExec(t, "UPDATE employees SET name = $1 WHERE id = $2", name, emp)
}

func names(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.name
	}
	return out
}

// expectQuiet fails when operation "e" of c receives anything within d.
func expectQuiet(t *testing.T, c *testsupport.WSClient, d time.Duration) {
	t.Helper()
	if m, ok := c.TryNext(d); ok {
		t.Fatalf("unexpected %s %s", m.Type, m.Payload)
	}
}

// TestResumeAfterNEvents: a subscriber that saw 4 of 10 changes, then
// resumes on a new socket after the 4th cursor, receives exactly the
// other 6, in order, then the next live change, and nothing twice.
func TestResumeAfterNEvents(t *testing.T) {
	s := replicas(t, 1, nil, "", nil)[0]
	org, emp := anOrganization(t, s)
	first := subscribeAfter(t, s, "", org, "")
	for i := range 10 {
		rename(t, s, emp, fmt.Sprintf("Resume %02d", i))
	}
	all := nextEvents(t, first, "e", 10, 10*time.Second)
	for i, e := range all {
		if want := fmt.Sprintf("Resume %02d", i); e.name != want {
			t.Fatalf("live event %d is %q, want %q", i, e.name, want)
		}
	}
	second := subscribeAfter(t, s, "", org, all[3].cursor)
	got := nextEvents(t, second, "e", 6, 10*time.Second)
	if strings.Join(names(got), ",") != strings.Join(names(all[4:]), ",") {
		t.Fatalf("resumed after the 4th: got %v, want %v", names(got), names(all[4:]))
	}
	for i := range got {
		if got[i].cursor != all[4+i].cursor {
			t.Errorf("event %d: cursor %q on resume, %q live", 4+i, got[i].cursor, all[4+i].cursor)
		}
	}
	rename(t, s, emp, "Resume live")
	if e := nextEvents(t, second, "e", 1, 10*time.Second)[0]; e.name != "Resume live" {
		t.Fatalf("after the replay: %q, want the live change", e.name)
	}
	expectQuiet(t, second, 300*time.Millisecond)
	t.Logf("resumed: %d replayed, then live", len(got))
}

// TestResumeWhileEventsArrive: while a writer commits changes without
// pause, subscribers resume after cursors of a subscriber that stayed
// live; each gets exactly the live subscriber's events after its cursor,
// in order: no gap and no duplicate where the replay meets live events.
func TestResumeWhileEventsArrive(t *testing.T) {
	s := replicas(t, 1, nil, "", nil)[0]
	org, emp := anOrganization(t, s)
	live := subscribeAfter(t, s, "", org, "")
	const total = 400
	var wg sync.WaitGroup
	werr := make(chan error, 1)
	wg.Go(func() {
		for i := range total {
			if _, err := s.DB.Pool.Exec(context.Background(), "UPDATE employees SET name = $1 WHERE id = $2", fmt.Sprintf("Busy %03d", i), emp); err != nil {
				werr <- err
				return
			}
		}
	})
	var seen []event
	var resumed []*testsupport.WSClient
	var from []int
	for len(seen) < total {
		after := ""
		if len(seen) > 0 {
			after = seen[len(seen)-1].cursor
		}
		evs, _ := nextEventsResuming(t, s, live, org, after, 1, 20*time.Second)
		seen = append(seen, evs...)
		// Resume at a few points while the writer is still at it.
		if n := len(seen); n == 20 || n == 90 || n == 200 {
			resumed = append(resumed, subscribeAfter(t, s, "", org, seen[n-15].cursor))
			from = append(from, n-15)
		}
	}
	wg.Wait()
	select {
	case err := <-werr:
		t.Fatal(err)
	default:
	}
	for i, c := range resumed {
		want := seen[from[i]+1:]
		got, resumes := nextEventsResuming(t, s, c, org, seen[from[i]].cursor, len(want), 20*time.Second)
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("subscriber resumed after event %d: event %d is %v, want %v", from[i], from[i]+1+j, got[j], want[j])
			}
		}
		expectQuiet(t, c, 200*time.Millisecond)
		t.Logf("resumed after event %d: %d events, in order, none twice (subscribed again %d times on SERVICE_UNAVAILABLE)", from[i], len(got), resumes)
	}
}

// TestResumeCursorExpired: a cursor whose changes the log no longer holds
// (pruned as the relay prunes, oldest first) is refused with
// CURSOR_EXPIRED; one from another log too.
func TestResumeCursorExpired(t *testing.T) {
	s := replicas(t, 1, nil, "", nil)[0]
	org, emp := anOrganization(t, s)
	c := subscribeAfter(t, s, "", org, "")
	rename(t, s, emp, "Expire 1")
	rename(t, s, emp, "Expire 2")
	evs := nextEvents(t, c, "e", 2, 10*time.Second)
	testsupport.Eventually(t, 5*time.Second, "the relay recorded both", func() bool {
		return s.DB.MustQueryInt64(t, "SELECT position FROM change_relay") >= s.DB.MustQueryInt64(t, "SELECT max(position) FROM change_log")
	})
	s.DB.MustExec(t, "DELETE FROM change_log WHERE position <= (SELECT max(position) FROM change_log) - 1")

	for _, cursor := range []string{evs[0].cursor, "MS45OTk5OTk5OTkuMQ"} { // the second: 1.999999999.1
		r := subscribeAfter(t, s, "", org, cursor)
		m := r.NextFor("e", 5*time.Second)
		if m.Type != "error" || !strings.Contains(string(m.Payload), `"code":"CURSOR_EXPIRED"`) {
			t.Fatalf("after %s: %s %s, want an error with CURSOR_EXPIRED", cursor, m.Type, m.Payload)
		}
	}
	// The cursor of the change still held resumes.
	r := subscribeAfter(t, s, "", org, evs[1].cursor)
	rename(t, s, emp, "Expire 3")
	if e := nextEvents(t, r, "e", 1, 10*time.Second)[0]; e.name != "Expire 3" {
		t.Fatalf("after the newest cursor: %q", e.name)
	}
}

// TestResumeJunkCursor: a cursor the server did not issue is BAD_USER_INPUT.
func TestResumeJunkCursor(t *testing.T) {
	s := replicas(t, 1, nil, "", nil)[0]
	for _, junk := range []string{"", "junk", "MS4xMA", "Mi4xLjE", "MS4wMS4x", "MS4tMS4x", strings.Repeat("A", 200)} {
		c := subscribeAfter(t, s, "", 0, "")
		c.Subscribe("j", resumeSub, map[string]any{"after": junk})
		m := c.NextFor("j", 5*time.Second)
		if m.Type != "error" || !strings.Contains(string(m.Payload), `"code":"BAD_USER_INPUT"`) {
			t.Errorf("after %q: %s %s, want an error with BAD_USER_INPUT", junk, m.Type, m.Payload)
		}
	}
}

// TestResumeKeepsTheScope: a member of one organization who resumes
// without naming an organization replays only that organization's
// changes, as live.
func TestResumeKeepsTheScope(t *testing.T) {
	s := replicas(t, 1, nil, "", nil)[0]
	orgs := s.DB.MustQueryInt64s(t, "SELECT DISTINCT organization_id FROM employees ORDER BY 1 LIMIT 2")
	mine, other := orgs[0], orgs[1]
	empMine := s.DB.MustQueryInt64(t, "SELECT min(id) FROM employees WHERE organization_id = $1", mine)
	empOther := s.DB.MustQueryInt64(t, "SELECT min(id) FROM employees WHERE organization_id = $1", other)
	admin := subscribeAfter(t, s, "", 0, "")
	rename(t, s, empMine, "Scope start")
	start := nextEvents(t, admin, "e", 1, 10*time.Second)[0]
	for i := range 3 {
		rename(t, s, empOther, fmt.Sprintf("Not yours %d", i))
		rename(t, s, empMine, fmt.Sprintf("Yours %d", i))
	}
	nextEvents(t, admin, "e", 6, 10*time.Second) // all of them were published

	member := subscribeAfter(t, s, testsupport.Token(t, auth.RoleMember, mine), 0, start.cursor)
	got := nextEvents(t, member, "e", 3, 10*time.Second)
	if want := "Yours 0,Yours 1,Yours 2"; strings.Join(names(got), ",") != want {
		t.Fatalf("the member replayed %v, want %s", names(got), want)
	}
	expectQuiet(t, member, 300*time.Millisecond)
}

// TestPubSubBlipEndsSubscriptionsAndResumeFillsTheGap: Redis stays up, but
// the replica's pub/sub connection is cut (CLIENT KILL TYPE pubsub).
// go-redis reconnects at once, yet what was published in between is lost
// to that connection: the open subscription must end with
// SERVICE_UNAVAILABLE rather than stay open with a silent gap, and a
// resume from its last cursor gets every change committed since, in order.
func TestPubSubBlipEndsSubscriptionsAndResumeFillsTheGap(t *testing.T) {
	p := testsupport.MustStartRedisProcess(t) // its own: the kill must not reach other tests
	rdb := p.Client(t)
	s := replicas(t, 1, rdb, "t:", nil)[0]
	org, emp := anOrganization(t, s)
	sub := subscribeAfter(t, s, "", org, "")
	rename(t, s, emp, "Blip before")
	before := nextEvents(t, sub, "e", 1, 10*time.Second)[0]

	if err := rdb.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rename(t, s, emp, fmt.Sprintf("Blip %02d", i))
	}
	for {
		m := sub.NextFor("e", 10*time.Second)
		if m.Type == "next" {
			continue // published before the cut reached the hub
		}
		if m.Type != "error" || !strings.Contains(string(m.Payload), "SERVICE_UNAVAILABLE") {
			t.Fatalf("after the cut: %s %s, want an error with code SERVICE_UNAVAILABLE", m.Type, m.Payload)
		}
		break
	}
	resumed := subscribeAfter(t, s, "", org, before.cursor)
	got := names(nextEvents(t, resumed, "e", 5, 15*time.Second))
	want := []string{"Blip 00", "Blip 01", "Blip 02", "Blip 03", "Blip 04"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("resumed after the cut: got %v, want %v", got, want)
	}
}
