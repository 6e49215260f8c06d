package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Bearer tokens are JWTs (github.com/golang-jwt/jwt/v5): HS256 signed with
// JWT_SECRET (`orgpulse token` issues them), and RS256/ES256 signed by an
// identity provider whose public keys are in the JWKS file JWT_JWKS_FILE
// (parsed by github.com/MicahParks/keyfunc/v3, which picks the key by kid
// and checks it is meant for the token's alg; read again when it changes,
// jwksfile.go). exp is
// required and checked with nbf at every request, within Leeway; only the
// configured algorithms are accepted (never "none").

// Leeway is the clock skew allowed between the token's issuer and the
// replica when checking exp and nbf.
const Leeway = 10 * time.Second

// MaxOrgIDs bounds a token's org_ids.
const MaxOrgIDs = 1000

// VerifierConfig is what tokens are checked against.
type VerifierConfig struct {
	Secret   string // HS256 key; empty: no HS256 tokens
	JWKSFile string // RS256/ES256 public keys; empty: none
	Issuer   string // required iss when set
	Audience string // required in aud when set
	Now      func() time.Time
	// JWKSRecheck is how often, at most, the JWKS file is looked at again
	// for a token its keys cannot verify (default DefaultJWKSRecheck).
	JWKSRecheck time.Duration
	// Log gets what happens to the JWKS file (default slog.Default()).
	Log *slog.Logger
}

// Verifier checks bearer tokens.
type Verifier struct {
	cfg     VerifierConfig
	jwks    *jwksFile
	methods []string
	parser  *jwt.Parser
	seen    verifiedCache
}

// NewVerifier reads the JWKS file, if any. With neither a secret nor a
// JWKS file, every JWT is refused (API_TOKEN may still be used).
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{cfg: cfg}
	if cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	if cfg.JWKSRecheck <= 0 {
		v.cfg.JWKSRecheck = DefaultJWKSRecheck
	}
	if cfg.Log == nil {
		v.cfg.Log = slog.Default()
	}
	if cfg.Secret != "" {
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSFile != "" {
		j, err := newJWKSFile(cfg.JWKSFile, v.cfg.JWKSRecheck, v.cfg.Now, v.cfg.Log)
		if err != nil {
			return nil, err
		}
		v.jwks = j
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return v.cfg.Now() })}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// LoadJWKS reads a JWKS file (a JSON object with "keys") that holds at
// least one usable key.
func LoadJWKS(path string) (jwt.Keyfunc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("want a readable JWKS JSON file: %w", err)
	}
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("want a JWKS JSON file ({\"keys\": [...]}): %v", err)
	}
	all, err := kf.Storage().KeyReadAll(context.Background())
	if err != nil || len(all) == 0 {
		return nil, errors.New("want a JWKS JSON file with at least one RSA or EC public key, got none")
	}
	return kf.Keyfunc, nil
}

// Error is why a token was refused: Reason is one of the Reason*
// constants, and Error() says it without quoting the token.
type Error struct{ Reason string }

// The reasons a credential is refused.
const (
	ReasonMissing   = "missing"
	ReasonMalformed = "malformed"
	ReasonExpired   = "expired"
	ReasonNotYet    = "not yet valid"
	ReasonSignature = "badly signed"
	ReasonAlgorithm = "signed with an algorithm this server does not accept"
	ReasonIssuer    = "issued by another issuer"
	ReasonAudience  = "meant for another audience"
	ReasonClaims    = "invalid claims"
)

func (e *Error) Error() string { return "the bearer token is " + e.Reason }

// claims are a token's claims: the registered ones, role and org_ids.
type claims struct {
	jwt.RegisteredClaims
	Role   *string         `json:"role"`
	OrgIDs json.RawMessage `json:"org_ids,omitempty"`
}

// Verify checks token and returns its principal, or an *Error. A token
// verified before is not verified again while it holds (verified.go).
func (v *Verifier) Verify(token string) (Principal, error) {
	if len(v.methods) == 0 {
		return Principal{}, &Error{Reason: ReasonSignature + " (no JWT_SECRET or JWT_JWKS_FILE is set)"}
	}
	key := sha256.Sum256([]byte(token))
	if p, ok := v.seen.get(key, v.cfg.Now()); ok {
		return p, nil
	}
	p, nbf, err := v.verify(token)
	if err == nil {
		v.seen.put(key, verifiedToken{p: p, notBefore: nbf})
	}
	return p, err
}

// verify checks token in full: its principal, and when it becomes valid
// (nbf minus the leeway; zero without nbf).
func (v *Verifier) verify(token string) (Principal, time.Time, error) {
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return Principal{}, time.Time{}, classify(tok, v.methods, err)
	}
	if c.Role == nil {
		return Principal{}, time.Time{}, &Error{Reason: ReasonClaims + ": role is missing"}
	}
	role, err := ParseRole(*c.Role, false)
	if err != nil {
		return Principal{}, time.Time{}, &Error{Reason: ReasonClaims + ": role: " + err.Error()}
	}
	var ids []int64
	if role != RoleAdmin {
		if ids, err = parseOrgIDs(c.OrgIDs); err != nil {
			return Principal{}, time.Time{}, &Error{Reason: ReasonClaims + ": org_ids: " + err.Error()}
		}
	}
	p := NewPrincipal(role, ids)
	p.Subject, p.Token = c.Subject, true
	if c.ExpiresAt != nil {
		p.Expires = c.ExpiresAt.Add(Leeway)
	}
	var nbf time.Time
	if c.NotBefore != nil {
		nbf = c.NotBefore.Add(-Leeway)
	}
	return p, nbf, nil
}

// key is the key of a token whose alg the parser already accepted.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if t.Method.Alg() == jwt.SigningMethodHS256.Alg() {
		return []byte(v.cfg.Secret), nil
	}
	return v.jwks.key(t)
}

func classify(tok *jwt.Token, methods []string, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &Error{Reason: ReasonMalformed}
	case tok != nil && tok.Method != nil && !slices.Contains(methods, tok.Method.Alg()):
		return &Error{Reason: ReasonAlgorithm + " (accepted: " + strings.Join(methods, ", ") + ")"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return &Error{Reason: ReasonSignature}
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Reason: ReasonExpired}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return &Error{Reason: ReasonNotYet}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return &Error{Reason: ReasonIssuer}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &Error{Reason: ReasonAudience}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && strings.Contains(err.Error(), "iss claim"):
		return &Error{Reason: ReasonIssuer + " (iss is missing)"}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && strings.Contains(err.Error(), "aud claim"):
		return &Error{Reason: ReasonAudience + " (aud is missing)"}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return &Error{Reason: ReasonClaims + ": exp is required"}
	}
	return &Error{Reason: ReasonClaims}
}

// parseOrgIDs reads org_ids: an array of positive whole numbers (JSON
// numbers or decimal strings, as identity providers emit either).
func parseOrgIDs(raw json.RawMessage) ([]int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("missing: a manager or member needs an array of organization ids")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("not an array of organization ids")
	}
	if len(items) > MaxOrgIDs {
		return nil, fmt.Errorf("more than %d organization ids", MaxOrgIDs)
	}
	ids := make([]int64, 0, len(items))
	for _, it := range items {
		s := string(it)
		if len(it) > 0 && it[0] == '"' {
			_ = json.Unmarshal(it, &s) // a JSON string: its text
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, errors.New("each organization id must be a positive whole number")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// IssueConfig is what `orgpulse token` signs.
type IssueConfig struct {
	Secret   string
	Role     Role
	OrgIDs   []int64
	Subject  string
	TTL      time.Duration
	Issuer   string
	Audience string
	Now      time.Time
}

// Issue signs an HS256 token.
func Issue(c IssueConfig) (string, error) {
	if c.Secret == "" {
		return "", errors.New("JWT_SECRET is not set: tokens are signed with it")
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	cl := claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   c.Subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
		Issuer:    c.Issuer,
	}}
	if c.Audience != "" {
		cl.Audience = jwt.ClaimStrings{c.Audience}
	}
	role := string(c.Role)
	cl.Role = &role
	if c.Role != RoleAdmin {
		ids := c.OrgIDs
		if ids == nil {
			ids = []int64{}
		}
		cl.OrgIDs, _ = json.Marshal(ids)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString([]byte(c.Secret))
}
