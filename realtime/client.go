package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// RunSubscribe runs one GraphQL operation (normally a subscription) over a
// WebSocket with the graphql-transport-ws protocol, and writes the payload
// of every result ({"data":...,"errors":[...]}) to out as one JSON line.
//
// url is the server's HTTP or WebSocket URL: http://host:8080,
// http://host:8080/graphql, ws://host:8080/graphql all work. vars may be
// nil. It returns nil when the server completes the operation or ctx ends
// (the operation is then completed and the socket closed politely), and an
// error carrying the GraphQL errors or the close code and reason otherwise.
func RunSubscribe(ctx context.Context, url, document string, vars map[string]any, out io.Writer) error {
	wsURL, err := webSocketURL(url)
	if err != nil {
		return err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dialCtx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("connect to %s: %w", wsURL, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	if c.Subprotocol() != "graphql-transport-ws" {
		return fmt.Errorf("%s does not speak graphql-transport-ws", wsURL)
	}

	send := func(msg any) error {
		b, err := json.Marshal(msg)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	const id = "1"
	if err := send(map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		return fmt.Errorf("send connection_init: %w", err)
	}
	payload := map[string]any{"query": document}
	if vars != nil {
		payload["variables"] = vars
	}
	var subscribed atomic.Bool

	// On ctx end: complete the operation and close the socket normally.
	stop := context.AfterFunc(ctx, func() {
		if subscribed.Load() {
			_ = send(map[string]any{"id": id, "type": "complete"})
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
	defer stop()

	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Errorf("the server closed the connection: %d %s", ce.Code, ce.Reason)
			}
			return fmt.Errorf("read: %w", err)
		}
		var msg struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			return fmt.Errorf("the server sent a message that is not JSON: %q", data)
		}
		switch msg.Type {
		case "connection_ack":
			if err := send(map[string]any{"id": id, "type": "subscribe", "payload": payload}); err != nil {
				return fmt.Errorf("send subscribe: %w", err)
			}
			subscribed.Store(true)
		case "ping":
			if err := send(map[string]any{"type": "pong"}); err != nil {
				return fmt.Errorf("send pong: %w", err)
			}
		case "pong":
		case "next":
			if msg.ID != id {
				continue
			}
			if _, err := fmt.Fprintf(out, "%s\n", compactJSON(msg.Payload)); err != nil {
				return err
			}
		case "error":
			if msg.ID != id {
				continue
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
			return fmt.Errorf("the operation failed: %s", errorMessages(msg.Payload))
		case "complete":
			if msg.ID != id {
				continue
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
			return nil
		default:
			return fmt.Errorf("unexpected %q message from the server", msg.Type)
		}
	}
}

// webSocketURL turns an http(s) or ws(s) URL into the ws(s) URL of /graphql.
func webSocketURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("invalid server URL %q: want http://host:port or ws://host:port/graphql", raw)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("invalid server URL %q: the scheme must be http, https, ws or wss", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/graphql"
	}
	return u.String(), nil
}

// compactJSON puts a payload on one line, keeping its field order.
func compactJSON(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

func errorMessages(raw json.RawMessage) string {
	var errs []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &errs); err != nil || len(errs) == 0 {
		return string(raw)
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
		if code, ok := e.Extensions["code"].(string); ok {
			msgs[i] += " (" + code + ")"
		}
	}
	return strings.Join(msgs, "; ")
}
