package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"syscall"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/jackc/pgx/v5/pgconn"

	"orgpulse/resolvers"
)

// Hardening of the HTTP edge: request limits, the error classes a client
// must see for outages and timeouts, CORS.

// introspectionBackstop is how much deeper than MaxDepth graphql-go's own
// depth check lets a document go. The limit proper is checked by
// checkLimits, where the ofType chains of an introspection query (nine
// levels in GraphiQL's) do not count; graphql-go's check counts them and
// only stops what the server's parser could not analyse.
const introspectionBackstop = 10

// applyLimitDefaults fills in the limits left zero.
func applyLimitDefaults(cfg *Config) {
	if cfg.MaxQueryLength <= 0 {
		cfg.MaxQueryLength = DefaultMaxQueryLength
	}
	if cfg.MaxSelections <= 0 {
		cfg.MaxSelections = DefaultMaxSelections
	}
	if cfg.MaxAliases <= 0 {
		cfg.MaxAliases = DefaultMaxAliases
	}
	if cfg.MaxCost <= 0 {
		cfg.MaxCost = DefaultMaxCost
	}
	if cfg.MaxVariablesBytes <= 0 {
		cfg.MaxVariablesBytes = DefaultMaxVariablesBytes
	}
}

// introspectionAllowed: Config.Introspection, else on only with Debug.
func (cfg *Config) introspectionAllowed() bool {
	if cfg.Introspection != nil {
		return *cfg.Introspection
	}
	return cfg.Debug
}

// limitOptions are graphql-go's own limits: backstops behind checkLimits.
func limitOptions(cfg *Config) []graphql.SchemaOpt {
	allow := cfg.introspectionAllowed()
	return []graphql.SchemaOpt{
		graphql.MaxQueryLength(cfg.MaxQueryLength),
		graphql.MaxSelections(cfg.MaxSelections),
		graphql.RestrictIntrospection(func(context.Context) bool { return allow }),
	}
}

// limitCheck is what checkLimits found.
type limitCheck struct {
	known      bool   // the document was analysed; else graphql-go reports what is wrong with it
	kind, name string // the operation that would run, as graphql-go reads the document
	cost       int64  // its estimated cost
	refused    *refusal
}

// checkLimits measures a GraphQL document before it runs: the operation's
// kind and name as graphql-go reads the document (operationOf's lexer can
// differ from graphql-go's on odd strings: prefer these when known), its
// estimated cost, or the refusal to send instead of executing it. Every
// transport calls it (ws.go too).
func (s *Server) checkLimits(query, opName string, vars map[string]any) limitCheck {
	if len(query) > s.cfg.MaxQueryLength {
		return limitCheck{refused: &refusal{Code: CodeQueryTooLong,
			Message: fmt.Sprintf("the query is %d bytes long; the limit is %d", len(query), s.cfg.MaxQueryLength),
			Ext:     map[string]any{"length": len(query), "limit": s.cfg.MaxQueryLength}}}
	}
	st, ok, ref := s.info.check(query, opName, vars, limits{
		MaxDepth: s.cfg.MaxDepth, MaxSelections: s.cfg.MaxSelections, MaxAliases: s.cfg.MaxAliases,
		MaxCost: int64(s.cfg.MaxCost), Introspection: s.cfg.introspectionAllowed(),
	})
	return limitCheck{known: ok && st.Kind != "", kind: st.Kind, name: st.Name, cost: st.Cost, refused: ref}
}

// writeRefusal answers a document refused before execution the way
// graphql-go's validation errors are answered: 400 with
// application/graphql-response+json, 200 with application/json.
func (s *Server) writeRefusal(w http.ResponseWriter, media string, r *refusal) {
	status := http.StatusOK
	if media == mediaGraphQLResponse {
		status = http.StatusBadRequest
	}
	ext := map[string]any{"code": r.Code}
	for k, v := range r.Ext {
		ext[k] = v
	}
	s.writeJSON(w, media, status, response{Errors: []*gqlerrors.QueryError{{Message: r.Message, Extensions: ext}}})
}

// exec runs the document. graphql-go recovers resolver panics itself (see
// panicHandler) but not every panic of its own: one here fails this
// request with INTERNAL, never the process or the connection.
func (s *Server) exec(ctx context.Context, reqID string, req *request) (res *graphql.Response) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("graphql execution panic", "request_id", reqID, "value", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = &graphql.Response{Errors: []*gqlerrors.QueryError{{Message: "internal error", Err: panicError{value: v}}}}
		}
	}()
	res = s.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
	if len(res.Data) == 0 && resolvers.Committed(ctx) {
		// graphql-go dropped the data of a mutation that committed (its
		// context ended while the answer was read): never call it failed.
		e := resolvers.Errorf(resolvers.CodeCommitted, "", "the change was committed, but its answer could not be read before the deadline")
		res.Errors = []*gqlerrors.QueryError{{Message: e.Message, ResolverError: e, Extensions: e.Extensions()}}
	}
	return res
}

// subscribe is Schema.Subscribe with the same panic guard as exec: a
// document that crashes graphql-go fails its subscription, not the process.
func (s *Server) subscribe(ctx context.Context, query, opName string, vars map[string]any) (ch <-chan any, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("graphql subscribe panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
			ch, err = nil, errors.New("internal error")
		}
	}()
	return s.schema.Subscribe(ctx, query, opName, vars)
}

// statusFor is the HTTP status of an executed request's response.
// GraphQL-over-HTTP: with application/json always 200; with
// application/graphql-response+json a response without data is a 4xx when
// the client is at fault and a 5xx when the service is.
func statusFor(media string, data json.RawMessage, errs []*gqlerrors.QueryError) int {
	if media != mediaGraphQLResponse || len(data) > 0 || len(errs) == 0 {
		return http.StatusOK
	}
	switch code, _ := errs[0].Extensions["code"].(string); code {
	case codeTimeout:
		return http.StatusGatewayTimeout
	case resolvers.CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case resolvers.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

const codeTimeout = "TIMEOUT"

// isUnavailable reports whether err means PostgreSQL cannot be reached:
// a failed connect (the pool's acquire), a session the server ended
// (shutdown, too many connections), or a connection broken under a query.
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || // connection exception
			strings.HasPrefix(pe.Code, "57P") || // admin/crash shutdown, cannot connect now
			pe.Code == "53300" // too many connections
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// isUnstorableText reports whether PostgreSQL refused a string argument
// for a character it cannot hold in text (NUL, or one outside the
// database's encoding): the client's input, not a fault of the service.
func isUnstorableText(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05")
}

// isContextError reports whether a request-level error is graphql-go's
// report of the request's context ending (it drops the resolvers' errors
// and answers only ctx.Err()).
func isContextError(e *gqlerrors.QueryError, target error) bool {
	return e.ResolverError == nil && e.Rule == "" && e.Message == target.Error()
}

// codedError is a request error with its own extensions.code.
type codedError struct {
	code string
	msg  string
}

func (e *codedError) Error() string { return e.msg }

func errorCode(err error, def string) string {
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	return def
}

var errBatch = &codedError{code: "BAD_REQUEST", msg: "batched requests are not supported: send one operation per request"}

// decodeBody decodes a POST body: one JSON object, not an array (batching
// is not supported), with variables of at most maxVars bytes.
func decodeBody(body []byte, maxVars int, req *request) (int, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return http.StatusBadRequest, errBatch
	}
	var wire struct {
		Query         *string         `json:"query"`
		OperationName *string         `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return http.StatusBadRequest, fmt.Errorf("the request body is not a GraphQL JSON request: %s must be a %s, not a JSON %s", te.Field, wantType(te.Field), te.Value)
		}
		if errors.As(err, &te) {
			return http.StatusBadRequest, fmt.Errorf("the request body is not a GraphQL JSON request: it must be a JSON object, not a JSON %s", te.Value)
		}
		return http.StatusBadRequest, fmt.Errorf("the request body is not a GraphQL JSON request: %v", err)
	}
	if wire.Query != nil {
		req.Query = *wire.Query
	}
	if wire.OperationName != nil {
		req.OperationName = *wire.OperationName
	}
	if err := decodeVariables(wire.Variables, maxVars, req); err != nil {
		return errStatus(err), err
	}
	if len(wire.Extensions) > 0 && !isNull(wire.Extensions) {
		if err := json.Unmarshal(wire.Extensions, &req.Extensions); err != nil {
			return http.StatusBadRequest, errors.New("extensions must be a JSON object")
		}
	}
	return 0, nil
}

func wantType(field string) string {
	if field == "query" || field == "operationName" {
		return "string"
	}
	return "JSON object"
}

func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

func errStatus(err error) int {
	if errorCode(err, "") == CodeVariablesTooBig {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// decodeVariables decodes the variables object, numbers kept exact (see
// normalizeNumbers).
func decodeVariables(raw []byte, maxVars int, req *request) error {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	if len(raw) > maxVars {
		return &codedError{code: CodeVariablesTooBig,
			msg: fmt.Sprintf("the variables are %d bytes of JSON; the limit is %d", len(raw), maxVars)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var vars map[string]any
	if err := dec.Decode(&vars); err != nil {
		return fmt.Errorf("variables is not a JSON object: %v", err)
	}
	if dec.More() {
		return errors.New("variables is not a JSON object: trailing data")
	}
	normalizeNumbers(vars)
	req.Variables = vars
	return nil
}

// withCORS answers cross-origin requests from the configured origins only.
// A preflight from an allowed origin gets 204 and the Access-Control-*
// headers; any other origin gets no CORS header at all (the browser then
// refuses the response), same-origin requests are not affected.
func (s *Server) withCORS(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	allowed := map[string]bool{}
	anyOrigin := false
	for _, o := range s.cfg.CORSOrigins {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		if o == "*" {
			anyOrigin = true
		} else if o != "" {
			allowed[o] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !(anyOrigin || allowed[strings.ToLower(origin)]) {
			next.ServeHTTP(w, r)
			return
		}
		if anyOrigin {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, X-Orgpulse-Replica")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Accept, Authorization, Content-Type, X-Request-Id, X-Debug")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
