package resolvers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"orgpulse/monitor"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
	"orgpulse/wire"
)

// wireUnknown reads orgpulse_wire_format_unknown_total{kind} from a
// server's /metrics.
func wireUnknown(t *testing.T, baseURL, kind string) int64 {
	t.Helper()
	res, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	want := fmt.Sprintf("%s{kind=%q} ", wire.MetricUnknown, kind)
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return int64(n)
		}
	}
	_, _ = io.Copy(io.Discard, res.Body)
	t.Fatalf("/metrics has no %s", want)
	return 0
}

// TestCachedValueOfUnknownFormatIsAMiss writes, under the real key of a
// cached allOrganizations, what another release could have written: a
// later format version, and the unversioned row JSON of releases before
// formats had versions. Each is a miss, read from PostgreSQL, counted, and
// then replaced by this release's format.
func TestCachedValueOfUnknownFormatIsAMiss(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	rdb, prefix := testsupport.MustRedisClient(t)
	withMonitor, _ := testsupport.WithMonitor(t, db, monitor.Config{})
	srv := testsupport.MustStartServer(t, db, testsupport.SharedCache(rdb, prefix), withMonitor)
	const q = `{ allOrganizations { name } }`
	want := string(srv.Query(t, q, nil).Data)
	ctx := context.Background()

	for _, tc := range []struct{ name, value string }{
		{"a later version", `{"v":99,"d":{"organisations":[{"name":"from a later release"}]}}`},
		{"no version", `[{"ID":1,"Name":"from an earlier release","IsActive":true}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := rdb.Keys(ctx, prefix+"orgs:active:*").Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("cached allOrganizations keys %v, %v: want one", keys, err)
			}
			if err := rdb.Set(ctx, keys[0], tc.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			before := wireUnknown(t, srv.URL, "cache_organizations")

			res := srv.Query(t, q, nil)
			if got := string(res.Data); len(res.Errors) > 0 || got != want {
				t.Fatalf("answered %s, want %s from PostgreSQL", res.Raw, want)
			}
			if d := res.Extensions.Debug; d == nil || d.CacheMisses != 1 || d.SQLCount == 0 {
				t.Errorf("debug %+v: want one cache miss and SQL", d)
			}
			if got := wireUnknown(t, srv.URL, "cache_organizations") - before; got != 1 {
				t.Errorf("%s counted %d more, want 1", wire.MetricUnknown, got)
			}
			stored, err := rdb.Get(ctx, keys[0]).Result()
			if err != nil || !strings.HasPrefix(stored, `{"v":1,"d":[{"id":`) {
				t.Errorf("after the miss the key holds %.60q, %v: want this release's format", stored, err)
			}
		})
	}
}

// TestEventOfUnknownFormatIsSkipped publishes, on the real channel, events
// another release could publish; the subscriber skips them (counted) and
// still gets the next event in this release's format.
func TestEventOfUnknownFormatIsSkipped(t *testing.T) {
	db := testsupport.MustOpenSeededDB(t)
	withMonitor, _ := testsupport.WithMonitor(t, db, monitor.Config{})
	srv := testsupport.MustStartLiveServer(t, db, testsupport.LiveOptions{
		Tweak: func(c *server.Config, r *resolvers.Config, _ *realtime.Config) { withMonitor(c, r) },
	})
	orgID := db.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	c := testsupport.DialWS(t, srv.WSURL, testsupport.WSDialOptions{})
	c.Init(nil)
	c.Subscribe("org", `subscription { organizationUpdated { id name } }`, nil)
	c.Sync()
	testsupport.Eventually(t, 5*time.Second, "the subscription reaches the hub", func() bool {
		return srv.Resolver.LiveStats().Subscriptions == 1
	})

	before := wireUnknown(t, srv.URL, "event")
	for _, raw := range []string{
		fmt.Sprintf(`{"v":2,"d":{"action":"UPDATED","organization":{"id":%d,"name":"from a later release"}}}`, orgID),
		fmt.Sprintf(`{"Action":"UPDATED","OrganizationID":%d,"Organization":{"ID":%d,"Name":"from an earlier release"}}`, orgID, orgID),
	} {
		if err := srv.Hub.Publish(context.Background(), resolvers.TopicOrganization, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	res := srv.Mutate(t, fmt.Sprintf(`mutation { updateOrganization(id: %d, input: {name: "This release"}) { id } }`, orgID), nil)
	res.MustDecode(t, &struct{}{})

	m := c.NextFor("org", 10*time.Second)
	// The event's cursor follows its data.
	if want := fmt.Sprintf(`{"data":{"organizationUpdated":{"id":"%d","name":"This release"}},"extensions":{"cursor":"`, orgID); m.Type != "next" || !strings.HasPrefix(string(m.Payload), want) {
		t.Fatalf("got %s %s, want next %s: the skipped events were delivered or the subscription ended", m.Type, m.Payload, want)
	}
	if got := wireUnknown(t, srv.URL, "event") - before; got != 2 {
		t.Errorf("%s{kind=\"event\"} counted %d more, want 2", wire.MetricUnknown, got)
	}
}
