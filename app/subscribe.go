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
	return c.Subscribe(ctx, client.Request{Query: doc, Variables: vars}, client.Handler{
		// Scripts wait for this line before they cause the first event.
		Live: func() { fmt.Fprintln(stderr, "subscribed") },
		// Events published while no socket is open are missed until
		// issue #18 gives results a cursor; Resume is where to send it.
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
			_, err := stdout.Write(line.Bytes())
			return err
		},
	})
}
