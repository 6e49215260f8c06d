package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Decoding a GraphQL request: the POST body (decodePost reads it, in
// server.go), the GET parameters, the variables.

var errBatch = &codedError{code: CodeBadRequest, msg: "batched requests are not supported: send one operation per request"}

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
		DocumentID    *string         `json:"documentId"`
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
	if wire.DocumentID != nil {
		req.DocumentID = *wire.DocumentID
	}
	if err := decodeVariables(wire.Variables, maxVars, req); err != nil {
		return errStatus(err), err
	}
	if err := decodeExtensions(wire.Extensions, req); err != nil {
		return http.StatusBadRequest, err
	}
	return 0, nil
}

func decodeExtensions(raw []byte, req *request) error {
	if len(raw) > 0 && !isNull(raw) {
		if err := json.Unmarshal(raw, &req.Extensions); err != nil {
			return errors.New("extensions must be a JSON object")
		}
	}
	return nil
}

func wantType(field string) string {
	if field == "query" || field == "operationName" || field == "documentId" {
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

func decodeGet(q url.Values, maxVars int, req *request) error {
	req.Query = q.Get("query")
	req.OperationName = q.Get("operationName")
	req.DocumentID = q.Get("documentId")
	// Apollo's persisted-query link sends extensions as JSON in the URL.
	if err := decodeExtensions([]byte(q.Get("extensions")), req); err != nil {
		return err
	}
	if v := q.Get("variables"); v != "" {
		return decodeVariables([]byte(v), maxVars, req) // limits.go
	}
	return nil
}

// hasDocument reports whether GET parameters name a document (else a
// browser's GET is shown GraphiQL).
func hasDocument(q url.Values) bool {
	return q.Get("query") != "" || q.Get("extensions") != "" || q.Get("documentId") != ""
}

// persisted reports whether the request names its document by hash or id
// (persisted.go), and so may come without query.
func (r *request) persisted() bool {
	_, ok := r.Extensions["persistedQuery"]
	return ok || r.DocumentID != ""
}

// normalizeNumbers turns json.Number into the int32/float64 values
// graphql-go's input coercion expects, keeping integers exact.
func normalizeNumbers(m map[string]any) {
	for k, v := range m {
		m[k] = normalizeNumber(v)
	}
}

func normalizeNumber(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			if i >= -1<<31 && i < 1<<31 {
				return int32(i)
			}
			return float64(i)
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		normalizeNumbers(t)
	case []any:
		for i := range t {
			t[i] = normalizeNumber(t[i])
		}
	}
	return v
}
