package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// writeTimeout bounds one message written to the socket.
const writeTimeout = 10 * time.Second

// maxPending bounds the messages Sync and Init keep for Read while they
// wait for their answer.
const maxPending = 10_000

// DialOptions configure Client.Dial.
type DialOptions struct {
	// Subprotocols offered in the upgrade. Empty: graphql-transport-ws,
	// and Dial fails unless the server picks it. When set, whatever the
	// server picks is accepted (tests of the server's negotiation and of
	// its legacy graphql-ws support).
	Subprotocols []string
	// NoSubprotocol offers none (tests of the server's refusal).
	NoSubprotocol bool
	// KeepPings makes Read return the server's pings instead of
	// answering them with pongs.
	KeepPings bool
}

// Conn is one WebSocket connection to the endpoint. Send and the
// methods that only send may be called concurrently with each other
// and with one reader; Read, Init and Sync are that reader's.
type Conn struct {
	ws        *websocket.Conn
	keepPings bool
	pending   []Message // read by Init or Sync on Read's behalf
	pings     atomic.Int64
}

// Dial opens a WebSocket to the endpoint. The upgrade response is
// returned whether or not the upgrade succeeded (nil when no response
// came). ctx bounds the dial only.
func (c *Client) Dial(ctx context.Context, opts DialOptions) (*Conn, *http.Response, error) {
	protos := opts.Subprotocols
	strict := len(protos) == 0 && !opts.NoSubprotocol
	if strict {
		protos = []string{Protocol}
	}
	if opts.NoSubprotocol {
		protos = nil
	}
	ws, res, err := websocket.Dial(ctx, c.WebSocketURL(), &websocket.DialOptions{
		Subprotocols: protos, HTTPHeader: c.header.Clone(), HTTPClient: c.http,
	})
	if err != nil {
		return nil, res, fmt.Errorf("connect to %s: %w", c.WebSocketURL(), err)
	}
	ws.SetReadLimit(c.maxBytes)
	if strict && ws.Subprotocol() != Protocol {
		_ = ws.Close(websocket.StatusProtocolError, "")
		return nil, res, fmt.Errorf("%s does not speak %s", c.WebSocketURL(), Protocol)
	}
	return &Conn{ws: ws, keepPings: opts.KeepPings}, res, nil
}

// Protocol is the subprotocol the server picked ("" for none).
func (c *Conn) Protocol() string { return c.ws.Subprotocol() }

// Close closes the connection with a close handshake.
func (c *Conn) Close(code websocket.StatusCode, reason string) error {
	return c.ws.Close(code, reason)
}

// CloseNow closes the connection without a handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// SendRaw writes one text message as is. ctx bounds the write, and
// ending it closes the connection (as coder/websocket does).
func (c *Conn) SendRaw(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, msg)
}

// Send writes v (a Message, or anything else to test the server with)
// as JSON.
func (c *Conn) Send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode a message: %w", err)
	}
	return c.SendRaw(ctx, b)
}

// Subscribe starts operation id (a query, mutation or subscription).
func (c *Conn) Subscribe(ctx context.Context, id string, req Request) error {
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode the request: %w", err)
	}
	return c.Send(ctx, Message{ID: id, Type: TypeSubscribe, Payload: payload})
}

// Complete ends operation id.
func (c *Conn) Complete(ctx context.Context, id string) error {
	return c.Send(ctx, Message{ID: id, Type: TypeComplete})
}

// Ping sends a ping carrying tag; Message.IsPongFor recognises its
// answer. The server handles a socket's messages in order and sets an
// operation up before it reads the next message, so once the pong
// arrives every operation sent before the ping is live.
func (c *Conn) Ping(ctx context.Context, tag string) error {
	payload, err := json.Marshal(map[string]string{"tag": tag})
	if err != nil {
		return err
	}
	return c.Send(ctx, Message{Type: TypePing, Payload: payload})
}

// NewPingTag returns a tag no earlier Ping of c used.
func (c *Conn) NewPingTag() string {
	return "sync-" + strconv.FormatInt(c.pings.Add(1), 10)
}

// Init sends connection_init with payload (nil: {}) and waits for
// connection_ack. Messages read meanwhile are kept for Read.
func (c *Conn) Init(ctx context.Context, payload any) error {
	if payload == nil {
		payload = map[string]any{}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode the connection_init payload: %w", err)
	}
	if err := c.Send(ctx, Message{Type: TypeConnectionInit, Payload: b}); err != nil {
		return fmt.Errorf("send connection_init: %w", err)
	}
	return c.await(ctx, func(m Message) bool { return m.Type == TypeConnectionAck })
}

// Sync sends a ping and waits for its pong: afterwards every operation
// started before is live on the server (see Ping). Messages read
// meanwhile are kept for Read.
func (c *Conn) Sync(ctx context.Context) error {
	tag := c.NewPingTag()
	if err := c.Ping(ctx, tag); err != nil {
		return fmt.Errorf("send ping: %w", err)
	}
	return c.await(ctx, func(m Message) bool { return m.IsPongFor(tag) })
}

// await reads until a message that match accepts, keeping the others
// for Read. A close of the socket is an error.
func (c *Conn) await(ctx context.Context, match func(Message) bool) error {
	for {
		m, err := c.readSocket(ctx)
		if err != nil {
			return err
		}
		if match(m) {
			return nil
		}
		if len(c.pending) >= maxPending {
			return fmt.Errorf("more than %d messages before the answer", maxPending)
		}
		c.pending = append(c.pending, m)
	}
}

// pendingHas reports whether a message kept for Read matches.
func (c *Conn) pendingHas(match func(Message) bool) bool {
	return slices.ContainsFunc(c.pending, match)
}

// Read returns the next message. Pings are answered with pongs and not
// returned, unless DialOptions.KeepPings. ctx bounds the read, and
// ending it closes the connection (as coder/websocket does). A message
// that is not JSON is a *DecodeError; the connection stays usable.
func (c *Conn) Read(ctx context.Context) (Message, error) {
	if len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		return m, nil
	}
	return c.readSocket(ctx)
}

func (c *Conn) readSocket(ctx context.Context) (Message, error) {
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return Message{}, err
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			return Message{}, &DecodeError{Data: data, Err: err}
		}
		if m.Type == TypePing && !c.keepPings && c.Protocol() == Protocol {
			if err := c.Send(context.Background(), Message{Type: TypePong}); err != nil {
				return Message{}, fmt.Errorf("send pong: %w", err)
			}
			continue
		}
		return m, nil
	}
}

// DecodeError is a message that is not a JSON message.
type DecodeError struct {
	Data []byte
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("a message that is not JSON: %v: %.200q", e.Err, e.Data)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// CloseError returns the close frame the server sent, if err carries one.
func CloseError(err error) (websocket.CloseError, bool) {
	var ce websocket.CloseError
	ok := errors.As(err, &ce)
	return ce, ok
}
