package server

import (
	"context"

	graphql "github.com/graph-gophers/graphql-go"
)

// The limits on one operation: their defaults, and graphql-go's own
// limits behind the server's checks (cost.go).

// introspectionBackstop is how much deeper than MaxDepth graphql-go's own
// depth check lets a document go. The limit proper is the server's
// (cost.go), where the ofType chains of an introspection query (nine
// levels in GraphiQL's) do not count; graphql-go's check counts them, and
// is only a backstop.
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

// limitOptions are graphql-go's own limits: backstops behind the server's (cost.go).
func limitOptions(cfg *Config) []graphql.SchemaOpt {
	allow := cfg.introspectionAllowed()
	return []graphql.SchemaOpt{
		graphql.MaxQueryLength(cfg.MaxQueryLength),
		graphql.MaxSelections(cfg.MaxSelections),
		graphql.RestrictIntrospection(func(context.Context) bool { return allow }),
	}
}

// applyPersistedDefaults fills in the persisted-operation settings left
// zero.
func applyPersistedDefaults(cfg *Config) {
	if cfg.DocumentCacheSize == 0 {
		cfg.DocumentCacheSize = DefaultDocumentCacheSize
	}
	if cfg.Persisted.TTL <= 0 {
		cfg.Persisted.TTL = DefaultPersistedTTL
	}
	if cfg.CacheControl == "" {
		cfg.CacheControl = DefaultCacheControl
	}
}
