package resolvers

import (
	"context"
	"errors"

	"orgpulse/db"
)

// Resuming a subscription (after: a cursor). The subscription joins its
// live feed first, holding the live values (chanSink.held), then reads the
// change log after the cursor in keyset pages (ListReplayChanges) and
// hands every matching event to the subscription in commit order, through
// the same pick as live events, so the same arguments and the same
// principal's scope decide what it sees. It stops reading at the end of
// the log, or as soon as it read the position of the first held live
// value (the feed delivers in position order from there on); then the held
// values follow and the subscription is live. Values at or before the
// last one queued are repeats and are dropped (chanSink), so the switch
// has neither a gap nor a duplicate, whatever arrives meanwhile. When more
// than heldMax live values arrive during the catch-up, they are dropped
// and the log is read further, where they are too.

// replayPage is how many log rows one read returns.
const replayPage = 500

var (
	errReplayFailed = Errorf(CodeServiceUnavailable, "",
		"the change log could not be read to resume this subscription; subscribe again with the same after")
	errGoneFromLog = Errorf(CodeCursorExpired, "after",
		"events after this cursor are no longer in the change log (REPLAY_WINDOW), or a bulk change followed it: refetch, then subscribe without after")
)

// checkCursor decodes an after: argument and checks that the log still
// holds every change after it. The relay prunes the oldest positions
// first, so it does when it still holds the cursor's own position (whose
// further events on the topic may be due) or, once it is empty, when no
// position was numbered after the cursor's. A cursor whose own change was
// pruned is older than REPLAY_WINDOW: expired, even when nothing after it
// was (positions skip the numbers of failed commits, so no read could
// tell a gap from a pruned change).
func (l *live) checkCursor(ctx context.Context, after string) (Cursor, error) {
	c, err := ParseCursor("after", after)
	if err != nil {
		return Cursor{}, err
	}
	b, err := l.r.q.GetReplayBounds(ctx)
	if err != nil {
		return Cursor{}, errReplayFailed
	}
	if c.Position > b.Latest {
		return Cursor{}, Errorf(CodeCursorExpired, "after", "this cursor is from another change log (position %d; the last is %d): refetch, then subscribe without after", c.Position, b.Latest)
	}
	if (b.Oldest == 0 && b.Latest > c.Position) || b.Oldest > c.Position {
		return Cursor{}, errGoneFromLog
	}
	return c, nil
}

// replay feeds s the events of topic after from, then lets it go live.
func replay[T any](ctx context.Context, l *live, s *chanSink[T], topic string, from Cursor) {
	// The events of from's own change after its index may still be due:
	// its row is read again (the sink drops what is not after from).
	read := from.Position - 1
	for {
		last, err := replayLog(ctx, l, s, topic, read)
		if err != nil {
			if ctx.Err() == nil && !s.isEnded() {
				if !errors.Is(err, errGoneFromLog) {
					l.log.Warn("replay the change log", "topic", topic, "after", read, "err", err)
					err = errReplayFailed
				}
				l.interrupt(s, err)
			}
			return
		}
		read = last
		caughtUp, ok := s.release(ctx)
		if !ok || caughtUp {
			return
		}
	}
}

// replayLog reads the log after position read until its end or the first
// held live value, and returns the last position read.
func replayLog[T any](ctx context.Context, l *live, s *chanSink[T], topic string, read int64) (int64, error) {
	tables := topicTables[topic]
	for {
		rows, err := l.r.q.ListReplayChanges(ctx, db.ListReplayChangesParams{AfterPosition: read, Tables: tables, LimitCount: replayPage})
		if err != nil {
			return read, err
		}
		if len(rows) > 0 && rows[0].Oldest > read+1 {
			return read, errGoneFromLog
		}
		// A replay runs for one subscriber, whose events span
		// organizations: its loaders take that subscriber's own scope.
		res, rctx, _ := l.eventResolver(scopeOf(ctx)) // its own timer ends it
		for _, row := range rows {
			c := ChangeFromLog(db.ListChangesAfterRow{Position: row.Position, CommittedAt: row.CommittedAt, TableName: row.TableName,
				Op: row.Op, RowID: row.RowID, EmployeeID: row.EmployeeID, OrganizationID: row.OrganizationID,
				OldOrganizationID: row.OldOrganizationID, TeamSize: row.TeamSize, NewRow: row.NewRow, OldRow: row.OldRow})
			if c.Op == OpReset {
				return read, errGoneFromLog
			}
			if !replayChange(ctx, l, s, topic, c, res, rctx) {
				return read, ctx.Err()
			}
			read = c.Position
		}
		if len(rows) < replayPage {
			return read, nil
		}
		if f, ok := s.firstHeld(); ok && read >= f.Position {
			return read, nil
		}
	}
}

// replayChange hands s the events of c on topic that it matches; false
// when the subscription ended.
func replayChange[T any](ctx context.Context, l *live, s *chanSink[T], topic string, c Change, res *Resolver, rctx context.Context) bool {
	evs, err := EventsOf(c)
	if err != nil {
		l.log.Error("skip an undecodable change", "position", c.Position, "err", err)
		return true
	}
	for _, te := range evs {
		if te.Topic != topic {
			continue
		}
		// The events of one page share a resolver: their statements run
		// once per key and page.
		e := &liveEvent{l: l, ev: te.Event, res: res, ctx: rctx}
		v, ok := s.pick(e)
		if ok && !s.pushWait(ctx, sinkItem[T]{v: v, cur: Cursor{Position: c.Position, Index: te.Event.Index}}) {
			return false
		}
	}
	return true
}
