// Command orgpulse serves the orgpulse GraphQL API and manages its database.
//
//	orgpulse [serve]            run the server (default)
//	orgpulse migrate up|down|status
//	orgpulse seed [--reset] [--orgs N ...]
//	orgpulse subscribe DOC
//	orgpulse token --role member --org 3 [--org 4] [--ttl 1h] [--sub alice]
//	orgpulse documents scripts/curl/*.graphql > manifest.json
//
// Every flag defaults to an environment variable; `orgpulse <cmd> --help`
// lists both. main only parses the command line; package app builds and
// runs the service.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"orgpulse/app"
)

const usage = `orgpulse: a GraphQL API over organizations, employees, projects and metrics.

Usage:
  orgpulse [serve] [flags]         run the server (default command)
  orgpulse migrate up|down|status  apply, roll back or list database migrations
  orgpulse seed [flags]            load deterministic sample data
  orgpulse subscribe [flags] DOC   print each event of a subscription as a JSON line
  orgpulse token --role R [--org N]... [--ttl 1h] [--sub S]
                                   print a bearer token signed with JWT_SECRET
  orgpulse documents FILE.graphql... print a trusted-documents manifest (TRUSTED_DOCUMENTS)

Run 'orgpulse <command> --help' for the flags of a command and the
environment variable behind each.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "orgpulse:", err)
		os.Exit(1)
	}
}

// run dispatches one command line. Settings that do not parse end it with
// an error naming the variable, before anything is opened or listened on.
func run(ctx context.Context, args []string, env app.Env, out io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := app.ParseServe(args, env, out)
		if err != nil {
			return err
		}
		return app.Serve(ctx, cfg)
	case "migrate":
		return app.Migrate(ctx, args, env, out)
	case "seed":
		return app.Seed(ctx, args, env, out)
	case "subscribe":
		return runSubscribe(ctx, args, env, out)
	case "token":
		return app.Token(args, env, out, os.Stdout)
	case "documents":
		return app.Documents(args, out, os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(out, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func runSubscribe(ctx context.Context, args []string, env app.Env, out io.Writer) error {
	fs := app.NewFlagSet("subscribe [flags] 'subscription { ... }'",
		"Run a GraphQL operation over WebSocket (graphql-transport-ws) and print each result as a JSON line until the server completes it or Ctrl-C. Prints \"subscribed\" on stderr once the server has the operation set up, and reconnects with backoff when the socket drops.", out)
	url, ok := env("ORGPULSE_URL")
	if !ok {
		url = "http://localhost:8080"
	}
	fs.StringVar(&url, "url", url, "server URL (http(s):// or ws(s)://; /graphql is added when missing) (env ORGPULSE_URL)")
	varsJSON := fs.String("variables", "", "variables as a JSON object")
	token, _ := env("ORGPULSE_TOKEN")
	fs.StringVar(&token, "token", token, "bearer token sent with the upgrade (API_TOKEN or a JWT from orgpulse token) (env ORGPULSE_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("subscribe needs one GraphQL document")
	}
	var vars map[string]any
	if *varsJSON != "" {
		if err := json.Unmarshal([]byte(*varsJSON), &vars); err != nil {
			return fmt.Errorf("--variables is not a JSON object: %w", err)
		}
	}
	return app.Subscribe(ctx, url, token, fs.Arg(0), vars, os.Stdout, os.Stderr)
}
