package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"orgpulse/client"
)

// subscribeAttempts bounds reconnecting in a row: about 4 minutes of
// backoff.
const subscribeAttempts = 30

// Subscribe runs `orgpulse subscribe`: doc over graphql-transport-ws at
// url, each result a JSON line on stdout, "subscribed" and reconnects on
// stderr. token ("" none) goes in the upgrade's Authorization header.
func Subscribe(ctx context.Context, url, token, doc string, vars map[string]any, stdout, stderr io.Writer) error {
	c, err := client.New(url, client.Options{})
	if err != nil {
		return err
	}
	if token != "" {
		c = c.WithHeader("Authorization", "Bearer "+token)
	}
	first := client.Request{Query: doc, Variables: vars}
	// cursor is the extensions.cursor of the last result printed: a new
	// socket resumes after it (after:), so the events committed while no
	// socket was open arrive then, in order, each once. Only Next and
	// Resume touch it, on Subscribe's goroutine.
	var cursor string
	return c.Subscribe(ctx, first, client.Handler{
		// Scripts wait for this line before they cause the first event.
		Live: func() { fmt.Fprintln(stderr, "subscribed") },
		Resume: func(last client.Request) client.Request {
			if cursor == "" {
				return last // no result yet, or one without a cursor (performanceSummaryUpdated)
			}
			req, err := client.WithAfter(first, cursor)
			if err != nil {
				fmt.Fprintf(stderr, "cannot resume after %s, subscribing afresh: %v\n", cursor, err)
				return first
			}
			return req
		},
		Reconnect: func(attempt int, cause error) error {
			if attempt > subscribeAttempts {
				return fmt.Errorf("gave up after %d attempts to reconnect: %w", subscribeAttempts, cause)
			}
			fmt.Fprintf(stderr, "reconnecting (attempt %d): %v\n", attempt, cause)
			return nil
		},
		Next: func(r *client.Response) error {
			var line bytes.Buffer
			if err := json.Compact(&line, r.Raw); err != nil {
				return fmt.Errorf("the server sent a result that is not JSON: %w", err)
			}
			line.WriteByte('\n')
			if _, err := stdout.Write(line.Bytes()); err != nil {
				return err
			}
			if c := r.Cursor(); c != "" {
				cursor = c
			}
			return nil
		},
	})
}
