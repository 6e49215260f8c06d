package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/coder/websocket"
)

// setupTimeout bounds the dial, the connection_init handshake and the
// ping round trip that confirms the operation.
const setupTimeout = 10 * time.Second

// Handler receives what Client.Subscribe sees of its operation.
type Handler struct {
	// Live, when set, is called once the server has set the operation
	// up: events published from then on reach Next. It is not called
	// when the server ended the operation (refused or answered it) before
	// confirming; a refusal that comes later follows a call to Live.
	Live func()
	// Next is called with each result, in order. An error from Next ends
	// Subscribe with that error.
	Next func(*Response) error
	// Reconnect, when set, makes Subscribe open a new socket and start
	// the operation again when the socket of a live operation drops (see
	// Dropped) instead of returning. It is called before each attempt
	// with the count of attempts since the operation was last live (1,
	// 2, ...) and the cause; an error from it ends Subscribe with that
	// error. Subscribe then waits Backoff(attempt).
	Reconnect func(attempt int, cause error) error
	// Resume, when set, returns the request to start on each new socket,
	// given the one started last. This is the hook for resuming from a
	// cursor (issue #18): the request with the cursor of the last result
	// Next saw.
	Resume func(Request) Request
}

// opID is the id of Subscribe's one operation on its socket.
const opID = "1"

// Subscribe runs one operation (normally a subscription) over a new
// WebSocket until the server completes it, it fails, or ctx ends. It
// returns nil on completion and when ctx ends (the operation is then
// completed and the socket closed politely); the GraphQL errors (an
// Errors) when the server refuses the operation; and an error carrying
// the close frame when the server closes the socket (see CloseError),
// unless Handler.Reconnect says to reconnect.
func (c *Client) Subscribe(ctx context.Context, req Request, h Handler) error {
	live, err := c.session(ctx, req, h)
	for attempt := 1; err != nil && ctx.Err() == nil; attempt++ {
		var drop *droppedError
		if h.Reconnect == nil || !errors.As(err, &drop) || (!live && attempt == 1) {
			return err
		}
		if live {
			attempt = 1
		}
		if rerr := h.Reconnect(attempt, err); rerr != nil {
			return rerr
		}
		t := time.NewTimer(Backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if h.Resume != nil {
			req = h.Resume(req)
		}
		live, err = c.session(ctx, req, h)
	}
	return nil
}

// Backoff is the wait before reconnect attempt n (1, 2, ...): 100ms
// doubling up to 10s, less up to a fifth at random so that clients
// dropped together do not come back together.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	if n < 8 {
		d = min(d, 100*time.Millisecond<<(n-1))
	}
	return d - rand.N(d/5+1)
}

// Dropped reports whether err ended a socket in a way worth a new one:
// the server going away or restarting (1001, 1012, 1013), failing
// (1011, 1014), or the connection breaking without a close frame; the
// server ending an operation it had confirmed with SERVICE_UNAVAILABLE
// only (it fell behind, or its event stream broke: subscribe again, with
// Resume's cursor); and, while reconnecting, any failure to set the
// operation up again.
func Dropped(err error) bool {
	var drop *droppedError
	return errors.As(err, &drop)
}

// droppedError marks a socket that dropped (see Dropped).
type droppedError struct{ err error }

func (e *droppedError) Error() string { return e.err.Error() }
func (e *droppedError) Unwrap() error { return e.err }

// dropped marks err, an error of the socket, as a drop when it is one.
// afterLive says the operation had been live; before that any failure to
// set up counts as one (the server may still be starting).
func dropped(err error, afterLive bool) error {
	if err == nil {
		return nil
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusGoingAway, websocket.StatusServiceRestart, websocket.StatusTryAgainLater,
		websocket.StatusInternalError, websocket.StatusBadGateway, -1:
		return &droppedError{err: err}
	}
	if !afterLive {
		return &droppedError{err: err}
	}
	return err
}

// session runs the operation over one socket; live says whether the
// server confirmed it.
func (c *Client) session(ctx context.Context, req Request, h Handler) (live bool, _ error) {
	conn, confirmed, err := c.setUp(ctx, req, h)
	if err != nil {
		return false, dropped(err, false)
	}
	defer conn.CloseNow()

	// On ctx end: complete the operation and close the socket normally.
	// The reads below use their own context, as ending a read's context
	// drops the connection without either.
	stop := context.AfterFunc(ctx, func() {
		_ = conn.Complete(context.Background(), opID)
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
	defer stop()
	return true, conn.deliver(h, confirmed)
}

// setUp dials, initialises, starts the operation and confirms it with a
// ping round trip, then calls h.Live; confirmed is false when the server
// ended the operation before the pong.
func (c *Client) setUp(ctx context.Context, req Request, h Handler) (_ *Conn, confirmed bool, _ error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	conn, _, err := c.Dial(ctx, DialOptions{})
	if err != nil {
		return nil, false, err
	}
	err = conn.Init(ctx, nil)
	if err == nil {
		err = conn.Subscribe(ctx, opID, req)
	}
	if err == nil {
		err = conn.Sync(ctx)
	}
	if err != nil {
		_ = conn.CloseNow()
		return nil, false, closedError(err)
	}
	ended := conn.pendingHas(func(m Message) bool {
		return m.ID == opID && (m.Type == TypeError || m.Type == TypeComplete)
	})
	if h.Live != nil && !ended {
		h.Live()
	}
	return conn, !ended, nil
}

// deliver reads the operation's results until it ends; confirmed says
// the server had set it up (see Dropped).
func (conn *Conn) deliver(h Handler, confirmed bool) error {
	for {
		m, err := conn.Read(context.Background())
		var de *DecodeError
		if errors.As(err, &de) {
			return err // the server's fault: a new socket would not help
		}
		if err != nil {
			return dropped(closedError(err), true)
		}
		if m.ID != opID {
			if m.Type == TypePong {
				continue
			}
			return fmt.Errorf("unexpected %q message from the server", m.Type)
		}
		switch m.Type {
		case TypeNext:
			r, err := m.Response()
			if err == nil && h.Next != nil {
				err = h.Next(r)
			}
			if err != nil {
				return err
			}
		case TypeError:
			_ = conn.Close(websocket.StatusNormalClosure, "")
			errs := m.Errors()
			err := fmt.Errorf("the operation failed: %w", errs)
			if confirmed && onlyUnavailable(errs) {
				return &droppedError{err: err}
			}
			return err
		case TypeComplete:
			_ = conn.Close(websocket.StatusNormalClosure, "")
			return nil
		default:
			return fmt.Errorf("unexpected %q message from the server", m.Type)
		}
	}
}

// onlyUnavailable reports whether every error is SERVICE_UNAVAILABLE: the
// server ended the operation for a reason of its own, worth a new one.
func onlyUnavailable(errs Errors) bool {
	for _, e := range errs {
		if e.Code() != "SERVICE_UNAVAILABLE" {
			return false
		}
	}
	return len(errs) > 0
}

// closedError words a read error, keeping the close frame in the chain.
func closedError(err error) error {
	if _, ok := CloseError(err); ok {
		return fmt.Errorf("the server closed the connection: %w", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer from the server within %s: %w", setupTimeout, err)
	}
	return err
}
