// Package client is the project's one GraphQL client: requests over HTTP
// (POST or GET) and operations over a WebSocket with graphql-transport-ws.
// `orgpulse subscribe`, the tests (testsupport), the load generator and
// the cluster test all talk to the server through it. It imports no
// package of the project, so it speaks to any GraphQL server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DefaultMaxResponseBytes bounds a response body or WebSocket message
// when Options.MaxResponseBytes is 0.
const DefaultMaxResponseBytes = 64 << 20

// Options configure New.
type Options struct {
	// HTTPClient sends the requests and the WebSocket upgrade; nil is
	// http.DefaultClient.
	HTTPClient *http.Client
	// Header is sent with every request and with the upgrade
	// (Authorization, Accept, X-Debug, Origin).
	Header http.Header
	// MaxResponseBytes bounds a response body or WebSocket message.
	MaxResponseBytes int64
}

// Client sends GraphQL requests to one endpoint. It is safe for
// concurrent use; its methods that return a *Client return a copy.
type Client struct {
	endpoint url.URL // http or https
	http     *http.Client
	header   http.Header
	maxBytes int64
}

// New returns a client of the GraphQL endpoint at raw, an HTTP or
// WebSocket URL: http://host:8080, http://host:8080/graphql and
// ws://host:8080/graphql all name the same endpoint (/graphql is added
// when the path is empty).
func New(raw string, opts Options) (*Client, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid server URL %q: want http://host:port or ws://host:port/graphql", raw)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("invalid server URL %q: the scheme must be http, https, ws or wss", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/graphql"
	}
	c := &Client{endpoint: *u, http: opts.HTTPClient, header: opts.Header.Clone(), maxBytes: opts.MaxResponseBytes}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.header == nil {
		c.header = http.Header{}
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	return c, nil
}

// WithHeader returns a copy of c that also sends the header name: value
// (replacing any value c sends).
func (c *Client) WithHeader(name, value string) *Client {
	cp := *c
	cp.header = c.header.Clone()
	cp.header.Set(name, value)
	return &cp
}

// URL is the endpoint's HTTP URL.
func (c *Client) URL() string { return c.endpoint.String() }

// WebSocketURL is the endpoint's WebSocket URL.
func (c *Client) WebSocketURL() string {
	u := c.endpoint
	u.Scheme = "ws"
	if c.endpoint.Scheme == "https" {
		u.Scheme = "wss"
	}
	return u.String()
}

// Do POSTs req as JSON. A response whose body is a JSON object is
// returned with a nil error whatever its status (GraphQL over HTTP
// answers refused requests with 4xx and a GraphQL result); see
// Response.Err. Any other body is an error, returned with the response.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode the request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	return c.Send(hr)
}

// Get sends req as a GET with the request in the query string, as
// GraphQL over HTTP allows for queries. Results are as for Do.
func (c *Client) Get(ctx context.Context, req Request) (*Response, error) {
	q := url.Values{"query": {req.Query}}
	if req.OperationName != "" {
		q.Set("operationName", req.OperationName)
	}
	for name, v := range map[string]map[string]any{"variables": req.Variables, "extensions": req.Extensions} {
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode the %s: %w", name, err)
		}
		q.Set(name, string(b))
	}
	u := c.endpoint
	u.RawQuery = q.Encode()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	return c.Send(hr)
}

// Send sends a prepared HTTP request (any method, body or header; the
// client's headers are added where hr has none) and decodes the GraphQL
// result as Do does.
func (c *Client) Send(hr *http.Request) (*Response, error) {
	for name, vs := range c.header {
		if _, set := hr.Header[name]; !set {
			hr.Header[name] = vs
		}
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", hr.Method, hr.URL.Redacted(), err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, c.maxBytes+1))
	out := &Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err != nil {
		return out, fmt.Errorf("status %d, reading the body: %w", res.StatusCode, err)
	}
	if int64(len(raw)) > c.maxBytes {
		return out, fmt.Errorf("status %d: the body is larger than %d bytes", res.StatusCode, c.maxBytes)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return out, fmt.Errorf("status %d, the body is not a GraphQL result: %w: %.300s", res.StatusCode, err, raw)
	}
	return out, nil
}
