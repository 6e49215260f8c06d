package client

import (
	"context"
	"errors"
	"fmt"
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
}

// opID is the id of Subscribe's one operation on its socket.
const opID = "1"

// Subscribe runs one operation (normally a subscription) over a new
// WebSocket until the server completes it, it fails, or ctx ends. It
// returns nil on completion and when ctx ends (the operation is then
// completed and the socket closed politely); the GraphQL errors (an
// Errors) when the server refuses the operation; and an error carrying
// the close frame when the server closes the socket (see CloseError).
func (c *Client) Subscribe(ctx context.Context, req Request, h Handler) error {
	conn, err := c.setUp(ctx, req, h)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
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
	err = conn.deliver(h)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// setUp dials, initialises, starts the operation and confirms it with a
// ping round trip, then calls h.Live.
func (c *Client) setUp(ctx context.Context, req Request, h Handler) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	conn, _, err := c.Dial(ctx, DialOptions{})
	if err != nil {
		return nil, err
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
		return nil, closedError(err)
	}
	ended := conn.pendingHas(func(m Message) bool {
		return m.ID == opID && (m.Type == TypeError || m.Type == TypeComplete)
	})
	if h.Live != nil && !ended {
		h.Live()
	}
	return conn, nil
}

// deliver reads the operation's results until it ends.
func (conn *Conn) deliver(h Handler) error {
	for {
		m, err := conn.Read(context.Background())
		if err != nil {
			return closedError(err)
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
			return fmt.Errorf("the operation failed: %w", m.Errors())
		case TypeComplete:
			_ = conn.Close(websocket.StatusNormalClosure, "")
			return nil
		default:
			return fmt.Errorf("unexpected %q message from the server", m.Type)
		}
	}
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
