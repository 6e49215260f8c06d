package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbq "orgpulse/db"
	"orgpulse/resolvers"
	"orgpulse/testsupport"
)

// interopScript drives the graphql-ws client library (the one GraphiQL
// uses) against the server: a query over the socket, then a subscription
// until its first event.
const interopScript = `
const { createClient } = require(process.argv[1]);
const client = createClient({ url: process.argv[2], webSocketImpl: WebSocket, retryAttempts: 0, lazy: true,
  connectionParams: { Authorization: 'Bearer ' + process.argv[4] } });
const run = (payload, onFirst) => new Promise((resolve, reject) => {
  let last;
  const dispose = client.subscribe(payload, {
    next: (v) => { last = v; if (onFirst) { console.log(JSON.stringify({ event: v })); dispose(); resolve(v); } },
    error: (e) => reject(e),
    complete: () => resolve(last),
  });
});
(async () => {
  const q = await run({ query: process.argv[3] });
  console.log(JSON.stringify({ query: q }));
  await run({ query: 'subscription { metricRecorded(metricType: "database") { value endpoint } }' }, true);
  await client.dispose();
})().catch((e) => { console.error('ERR', e && (e.message || (e.code && e.code + ' ' + e.reason)) || JSON.stringify(e)); process.exit(1); });
`

func TestGraphQLWSLibraryInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	lib, _ := filepath.Abs(filepath.Join("..", "node_modules", "graphql-ws"))
	if _, err := os.Stat(filepath.Join(lib, "package.json")); err != nil {
		t.Skip("graphql-ws is not installed: run npm ci")
	}
	flags := []string{"--experimental-websocket"}
	if exec.Command(node, append(flags, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)")...).Run() != nil {
		flags = nil
		if exec.Command(node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)").Run() != nil {
			t.Skip("this node has no WebSocket")
		}
	}

	a, b := livePair(t, nil)
	orgID := a.DB.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	name := a.DB.MustQueryStrings(t, "SELECT name FROM organizations WHERE id = $1", orgID)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, append(flags, "-e", interopScript, lib, a.WSURL,
		fmt.Sprintf("{ organization(id: %d) { name } }", orgID), testsupport.APIToken)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The client says nothing when its subscription is live: publish
	// until it has its event.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("node: %v\n%s%s", err, out.String(), stderr.String())
			}
			waiting = false
		case <-tick.C:
			ev, _ := resolvers.EncodeEvent(resolvers.Event{Action: resolvers.ActionCreated, Metric: &dbq.PerformanceMetric{MetricType: "database", Value: 7, Endpoint: "db:interop"}})
			_ = b.Hub.Publish(context.Background(), resolvers.TopicMetric, ev)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("node printed:\n%s%s", out.String(), stderr.String())
	}
	assertJSON(t, "query through graphql-ws", json.RawMessage(lines[0]), fmt.Sprintf(`{"query":{"data":{"organization":{"name":%q}},"extensions":{"cost":1}}}`, name))
	assertJSON(t, "event through graphql-ws", json.RawMessage(lines[1]), `{"event":{"data":{"metricRecorded":{"value":7,"endpoint":"db:interop"}}}}`)
}
