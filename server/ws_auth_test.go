package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"orgpulse/auth"
	"orgpulse/realtime"
	"orgpulse/resolvers"
	"orgpulse/server"
	"orgpulse/testsupport"
)

// A connection_init whose credential is refused closes the socket with
// 4403 Forbidden before any connection_ack (graphql-transport-ws: the
// server refuses connection_init so), on both subprotocols; an accepted
// one is acknowledged. Serve's default ANONYMOUS_ROLE=none: no token, no
// socket.
func TestWebSocketInitRefusesBadTokens(t *testing.T) {
	s := liveOne(t, nil)
	expired := testsupport.TokenWith(t, auth.IssueConfig{Role: auth.RoleMember, OrgIDs: []int64{3},
		TTL: time.Minute, Now: time.Now().Add(-time.Hour)})
	noHeader := http.Header{"Authorization": {""}}
	tests := []struct {
		name     string
		url      string
		header   http.Header
		protos   []string
		payload  map[string]any
		wantWhy  string // in the close reason; "" = acknowledged
		accepted bool
	}{
		{name: "no token", header: noHeader, wantWhy: "missing"},
		{name: "no token, graphql-ws", header: noHeader, protos: []string{"graphql-ws"}, wantWhy: "missing"},
		{name: "badly signed", header: noHeader, payload: map[string]any{"Authorization": "Bearer nope.nope.nope"}, wantWhy: "Forbidden"},
		{name: "not a bearer", header: noHeader, payload: map[string]any{"Authorization": "Basic abc"}, wantWhy: "malformed"},
		{name: "expired", header: noHeader, payload: map[string]any{"Authorization": "Bearer " + expired}, wantWhy: "expired"},
		{name: "init's bad token wins over the upgrade's good one", payload: map[string]any{"Authorization": "Bearer nope"}, wantWhy: "Forbidden"},
		{name: "token in the URL", url: "?access_token=x", wantWhy: "query string"},
		{name: "the upgrade's token", accepted: true},
		{name: "init's token", header: noHeader, payload: map[string]any{"Authorization": "Bearer " + testsupport.Token(t, auth.RoleMember, 3)}, accepted: true},
		{name: "init's token, graphql-ws", header: noHeader, protos: []string{"graphql-ws"},
			payload: map[string]any{"Authorization": "Bearer " + testsupport.APIToken}, accepted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testsupport.DialWS(t, s.WSURL+tt.url, testsupport.WSDialOptions{Header: tt.header, Subprotocols: tt.protos})
			payload := tt.payload
			if payload == nil {
				payload = map[string]any{}
			}
			c.Send(map[string]any{"type": "connection_init", "payload": payload})
			if tt.accepted {
				c.Expect("connection_ack", 5*time.Second)
				return
			}
			code, why := c.WaitClosed(10 * time.Second)
			if code != 4403 || !strings.HasPrefix(why, "Forbidden") || !strings.Contains(why, tt.wantWhy) {
				t.Errorf("closed with %d %q, want 4403 Forbidden ... %q", code, why, tt.wantWhy)
			}
			for {
				m, ok := c.TryNext(0)
				if !ok {
					break
				}
				if m.Type == "connection_ack" {
					t.Errorf("a refused connection_init was acknowledged")
				}
			}
		})
	}

	// A role for anonymous callers lets a socket without a token in.
	open := liveOne(t, func(c *server.Config, _ *resolvers.Config, _ *realtime.Config) { c.AnonymousRole = auth.RoleMember })
	c := testsupport.DialWS(t, open.WSURL, testsupport.WSDialOptions{Header: noHeader})
	c.Init(nil)
}
