package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	gqlast "github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"orgpulse/auth"
	"orgpulse/resolvers"
)

// One execution per distinct subscription. Subscribers of the same document
// with the same variables (and the same role and scope) would get the same
// result for every event, so they share one graphql-go subscription: the
// event's selection set is executed and encoded once, and only the framing
// ({"id":...,"type":"next","payload":...}) is written per subscriber. With
// 1,000 subscribers of one project, executing per subscriber was over half
// the server's CPU of a fan-out (pprof during loadgen fanout). The feed
// below (resolvers/subscription.go) already shares the event and its
// statements; this shares the execution.
//
// A subscription that resumes (after: a cursor) shares with no one: its
// first results are the log's events after its own cursor, which a
// subscriber joining it, or one it joined, would miss or get twice.
//
// A shared subscription starts with its first subscriber and ends with its
// last one, or when its source ends (then every member gets the error or
// complete it would have got alone). One member's full send queue never
// holds up the others: its message waits in its own line (enqueue), and
// the member is dropped as a slow consumer as before.

// shareKey identifies subscriptions that get the same results.
type shareKey [sha256.Size]byte

func newShareKey(query, opName string, vars map[string]any, p auth.Principal) (shareKey, bool) {
	v, err := json.Marshal(vars) // encoding/json sorts map keys: equal variables, equal bytes
	if err != nil {
		return shareKey{}, false
	}
	h := sha256.New()
	// Only subscribers who see the same rows and fields share: the role
	// and sorted scope.
	for _, part := range [][]byte{[]byte(p.CacheKey()), []byte(opName), []byte(query), v} {
		var n [8]byte
		for i, l := 0, uint64(len(part)); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:]) // length-prefixed: no two splits of the same bytes collide
		h.Write(part)
	}
	var k shareKey
	h.Sum(k[:0])
	return k, true
}

// shares are the shared subscriptions of one Server.
type shares struct {
	mu     sync.Mutex
	groups map[shareKey]*shared
}

// shared is one graphql-go subscription and the operations it feeds.
type shared struct {
	key    shareKey
	cancel context.CancelFunc

	mu      sync.Mutex
	members map[*shareMember]struct{}
	ended   bool // the source ended or is ending: no one joins any more
}

// shareMember is one client operation fed by a shared subscription.
type shareMember struct {
	wc   *wsConn
	op   *wsOp
	ctx  context.Context // the operation's: done when the client completes it or the socket closes
	stop func() bool     // stops the context.AfterFunc that makes it leave
}

// subscribeShared feeds operation op of wc from the shared subscription of
// its document, starting one when none runs.
// alone: the operation resumes from a cursor and shares with no one.
func (wc *wsConn) subscribeShared(opCtx context.Context, op *wsOp, query, opName string, vars map[string]any, p auth.Principal, alone bool) {
	s := wc.s
	key, ok := newShareKey(query, opName, vars, p)
	if !ok {
		wc.sendErrors(op.id, []*gqlerrors.QueryError{{Message: "variables could not be encoded", Extensions: map[string]any{"code": resolvers.CodeBadUserInput}}})
		wc.finish(op)
		return
	}
	m := &shareMember{wc: wc, op: op, ctx: opCtx}
	sh := &s.shares
	for {
		sh.mu.Lock()
		g := sh.groups[key]
		if g == nil || alone {
			ctx, cancel := context.WithCancel(context.Background())
			g = &shared{key: key, cancel: cancel, members: map[*shareMember]struct{}{m: {}}}
			if sh.groups == nil {
				sh.groups = map[shareKey]*shared{}
			}
			if !alone {
				sh.groups[key] = g
			}
			s.wss.subs.Add(1)
			m.stop = context.AfterFunc(opCtx, func() { s.leaveShared(g, m) })
			sh.mu.Unlock()
			s.startShared(ctx, g, query, opName, vars, p, wc.id+":"+op.id)
			return
		}
		sh.mu.Unlock()
		g.mu.Lock()
		if !g.ended {
			g.members[m] = struct{}{}
			s.wss.subs.Add(1)
			m.stop = context.AfterFunc(opCtx, func() { s.leaveShared(g, m) })
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		sh.drop(g) // ending: it leaves the map in a moment; start a new one
	}
}

// resumes reports whether doc's subscription field has an after:
// argument (directly, or through fragments at the root).
func resumes(doc *document) bool {
	if doc == nil || doc.op == nil {
		return false
	}
	return hasAfter(doc, doc.op.SelectionSet, 0)
}

func hasAfter(doc *document, set gqlast.SelectionSet, depth int) bool {
	if depth > 8 {
		return true // fragments this deep at the root: do not share
	}
	for _, sel := range set {
		switch x := sel.(type) {
		case *gqlast.Field:
			if x.Arguments.ForName("after") != nil {
				return true
			}
		case *gqlast.InlineFragment:
			if hasAfter(doc, x.SelectionSet, depth+1) {
				return true
			}
		case *gqlast.FragmentSpread:
			if f := doc.doc.Fragments.ForName(x.Name); f != nil && hasAfter(doc, f.SelectionSet, depth+1) {
				return true
			}
		}
	}
	return false
}

// drop takes g out of the map, unless a newer one took its place.
func (sh *shares) drop(g *shared) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.groups[g.key] == g {
		delete(sh.groups, g.key)
	}
}

// startShared subscribes g's document and pumps its results to the
// members until the source ends.
func (s *Server) startShared(ctx context.Context, g *shared, query, opName string, vars map[string]any, p auth.Principal, reqID string) {
	sctx, status := resolvers.WithSubscriptionStatus(resolvers.WithPrincipal(ctx, p))
	status.Pace() // pumpShared calls Took for each result: the cursor
	ch, err := s.subscribe(sctx, query, opName, vars)
	if err != nil {
		s.endShared(g, []*gqlerrors.QueryError{{Message: err.Error(), Extensions: map[string]any{"code": resolvers.CodeInternal}}})
		return
	}
	s.wss.shared.Add(1)
	go s.pumpShared(g, ch, status, reqID, s.eventOpName(query, opName)) // tracing.go
}

// pumpShared sends each result to every member, encoding it once.
func (s *Server) pumpShared(g *shared, ch <-chan any, status *resolvers.SubscriptionStatus, reqID, opName string) {
	defer s.wss.shared.Add(-1)
	var refusal []*gqlerrors.QueryError
	for v := range ch {
		res, ok := v.(*graphql.Response)
		if !ok {
			continue
		}
		if !status.Started() {
			// Validation or the arguments refused it before any event.
			refusal = s.translateErrors(context.Background(), reqID, res.Errors)
			continue
		}
		s.deliverShared(g, res, status, reqID, opName)
	}
	if refusal != nil {
		s.endShared(g, refusal)
		return
	}
	var final []*gqlerrors.QueryError
	if err := status.Err(); err != nil {
		var coded *resolvers.Error
		qe := &gqlerrors.QueryError{Message: err.Error(), Extensions: map[string]any{"code": resolvers.CodeInternal}}
		if errors.As(err, &coded) {
			qe.Extensions = coded.Extensions()
		}
		final = []*gqlerrors.QueryError{qe}
	}
	s.endShared(g, final)
}

// deliverShared encodes one event's result once and sends it to every
// member, under the event's span (tracing.go).
func (s *Server) deliverShared(g *shared, res *graphql.Response, status *resolvers.SubscriptionStatus, reqID, opName string) {
	members := g.snapshot()
	ctx := context.Background()
	if span := s.startEvent(opName, len(members)); span != nil {
		ctx = trace.ContextWithSpan(ctx, span)
		defer span.End()
	}
	out := response{Data: res.Data, Errors: s.translateErrors(ctx, reqID, res.Errors)}
	if cursor := status.Took(); cursor != "" {
		out.Extensions = map[string]any{"cursor": cursor}
	}
	payload := s.encodeResponse(out)
	payload = payload[:len(payload)-1] // the newline
	for _, m := range members {
		if m.ctx.Err() != nil {
			continue // completed by the client; it leaves the group on its own
		}
		m.wc.deliver(m.wc.resultMessage(m.op.id, payload))
	}
}

func (g *shared) snapshot() []*shareMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*shareMember, 0, len(g.members))
	for m := range g.members {
		out = append(out, m)
	}
	return out
}

// endShared ends g: every member still there gets errs (complete when
// none) and its operation finishes.
func (s *Server) endShared(g *shared, errs []*gqlerrors.QueryError) {
	g.mu.Lock()
	g.ended = true
	members := g.members
	g.members = nil
	g.mu.Unlock()
	s.shares.drop(g)
	g.cancel()
	s.wss.subs.Add(-int64(len(members)))
	for m := range members {
		m.stop()
		if m.ctx.Err() != nil {
			m.wc.finish(m.op) // completed by the client, or the socket is closing
			continue
		}
		if len(errs) > 0 {
			m.wc.sendErrors(m.op.id, errs)
		} else {
			m.wc.send(wsOut{ID: m.op.id, Type: "complete"})
		}
		m.wc.finish(m.op)
	}
}

// leaveShared takes m out of g when its operation ends (the client's
// complete, or the socket closing); the last one out ends g's
// subscription.
func (s *Server) leaveShared(g *shared, m *shareMember) {
	g.mu.Lock()
	if _, ok := g.members[m]; !ok {
		g.mu.Unlock()
		return // endShared took it
	}
	delete(g.members, m)
	s.wss.subs.Add(-1)
	last := len(g.members) == 0 && !g.ended
	if last {
		g.ended = true
	}
	g.mu.Unlock()
	m.wc.finish(m.op)
	if !last {
		return
	}
	s.shares.drop(g)
	g.cancel() // the pump drains and ends with no member left
}
