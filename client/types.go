package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Request is one GraphQL request: the JSON body of a POST, the query
// string of a GET, or the payload of a graphql-transport-ws subscribe
// message.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
	Extensions    map[string]any `json:"extensions,omitempty"`
}

// Response is one GraphQL result: the body of an HTTP response, or the
// payload of a graphql-transport-ws next message.
type Response struct {
	Data       json.RawMessage `json:"data,omitempty"`
	Errors     []Error         `json:"errors,omitempty"`
	Extensions json.RawMessage `json:"extensions,omitempty"`

	// Status and Header are the HTTP response's; zero over WebSocket.
	Status int         `json:"-"`
	Header http.Header `json:"-"`
	// Raw is the result as received, with the server's field order.
	Raw []byte `json:"-"`
}

// Err is the result's GraphQL errors as an Errors, else an error for an
// HTTP status other than 200, else nil.
func (r *Response) Err() error {
	if len(r.Errors) > 0 {
		return Errors(r.Errors)
	}
	if r.Status != 0 && r.Status != http.StatusOK {
		return fmt.Errorf("status %d: %.300s", r.Status, r.Raw)
	}
	return nil
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Locations  []Location     `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Location is a position in the request's document.
type Location struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Code is extensions.code, or "".
func (e Error) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// Errors is a result's list of GraphQL errors as a Go error.
type Errors []Error

// Error joins the messages, each followed by its code in parentheses.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Message
		if code := e.Code(); code != "" {
			msgs[i] += " (" + code + ")"
		}
	}
	return strings.Join(msgs, "; ")
}

// Protocol is the WebSocket subprotocol the client speaks.
const Protocol = "graphql-transport-ws"

// Message types of graphql-transport-ws.
const (
	TypeConnectionInit = "connection_init"
	TypeConnectionAck  = "connection_ack"
	TypePing           = "ping"
	TypePong           = "pong"
	TypeSubscribe      = "subscribe"
	TypeNext           = "next"
	TypeError          = "error"
	TypeComplete       = "complete"
)

// Message is one message of graphql-transport-ws (or, in tests of the
// server's legacy support, of graphql-ws).
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Response decodes the payload of a next message.
func (m Message) Response() (*Response, error) {
	r := &Response{Raw: m.Payload}
	if err := json.Unmarshal(m.Payload, r); err != nil {
		return nil, fmt.Errorf("the payload of %s is not a GraphQL result: %.300s", m.Type, m.Payload)
	}
	return r, nil
}

// Errors decodes the payload of an error message (a list of GraphQL
// errors); a payload that is not one is returned as a single error.
func (m Message) Errors() Errors {
	var errs Errors
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
		return Errors{{Message: string(m.Payload)}}
	}
	return errs
}

// pongTag is the tag of a pong sent in answer to Conn.Ping, or "".
func (m Message) pongTag() string {
	if m.Type != TypePong {
		return ""
	}
	var p struct {
		Tag string `json:"tag"`
	}
	_ = json.Unmarshal(m.Payload, &p)
	return p.Tag
}

// IsPongFor reports whether m answers the Ping that carried tag.
func (m Message) IsPongFor(tag string) bool {
	return tag != "" && m.pongTag() == tag
}
