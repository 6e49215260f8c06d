package server

// The operation names the service records (Prometheus's operation label,
// the samples' endpoint graphql:<name>) are the service's monitoring data,
// not the clients': a client without the API token, or a document that was
// refused or failed validation, is recorded under a fixed name, so that no
// anonymous client chooses what performanceSummary or /metrics show.
const (
	// OperationUnauthenticated records every request without a valid
	// bearer token (anonymous access included).
	OperationUnauthenticated = "unauthenticated"
	// OperationInvalid records an authenticated request whose document
	// was refused before execution or failed graphql-go's validation.
	OperationInvalid = "invalid"
	// OperationAnonymous records a valid, authenticated operation without
	// a name.
	OperationAnonymous = "anonymous"
	// MaxOperationName bounds a recorded name; a longer one is truncated.
	MaxOperationName = 100
)

// metricName is the name o is recorded under.
func metricName(c *call, d *document, o *outcome) string {
	switch {
	case !c.principal.Token:
		return OperationUnauthenticated
	case d.kind == "" || o.code != "" || failedValidation(o):
		return OperationInvalid
	case d.name == "":
		return OperationAnonymous
	}
	return sanitizeName(d.name)
}

// failedValidation reports whether graphql-go refused the document.
func failedValidation(o *outcome) bool {
	for _, e := range o.resp.Errors {
		switch e.Extensions["code"] {
		case CodeParseFailed, CodeValidationFailed, CodeDepthLimit, CodeTooManySels, CodeQueryTooLong:
			return true
		}
	}
	return false
}

// sanitizeName keeps the characters [A-Za-z0-9_] of name, dropping any
// other, and at most MaxOperationName of them. A name the parser accepted
// has no other characters (GraphQL names are ASCII); the filter keeps the
// rule whatever the parser does. A name left empty is OperationInvalid.
func sanitizeName(name string) string {
	clean := len(name) <= MaxOperationName && name != ""
	for i := 0; clean && i < len(name); i++ {
		clean = isNameByte(name[i])
	}
	if clean {
		return name
	}
	b := make([]byte, 0, min(len(name), MaxOperationName))
	for i := 0; i < len(name) && len(b) < MaxOperationName; i++ {
		if isNameByte(name[i]) {
			b = append(b, name[i])
		}
	}
	if len(b) == 0 {
		return OperationInvalid
	}
	return string(b)
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
