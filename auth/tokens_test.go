package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"orgpulse/auth"
)

const secret = "0123456789abcdef0123456789abcdef-test"

var now = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "role": "member", "org_ids": []int64{3}, "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func verifier(t *testing.T, cfg auth.VerifierConfig) *auth.Verifier {
	t.Helper()
	cfg.Now = func() time.Time { return now }
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksFile writes a JWKS of an RSA and an EC public key.
func jwksFile(t *testing.T, rk *rsa.PrivateKey, ek *ecdsa.PrivateKey) string {
	t.Helper()
	ecdh, err := ek.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	pt := ecdh.Bytes() // 0x04 || X || Y
	keys := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "ec1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])},
	}}
	raw, _ := json.Marshal(keys)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokenEdgeCases(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := verifier(t, auth.VerifierConfig{Secret: secret, JWKSFile: jwksFile(t, rk, ek), Issuer: "https://idp.example.com", Audience: "orgpulse"})
	good := map[string]any{"iss": "https://idp.example.com", "aud": "orgpulse"}
	with := func(extra map[string]any) jwt.MapClaims {
		c := claims(good)
		for k, val := range extra {
			if val == nil {
				delete(c, k)
			} else {
				c[k] = val
			}
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), c, "") }
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, with(nil), "")

	tests := []struct {
		name, token string
		reason      string // "" accepted
	}{
		{"HS256", hs(with(nil)), ""},
		{"RS256 from the JWKS", sign(t, jwt.SigningMethodRS256, rk, with(nil), "rsa1"), ""},
		{"ES256 from the JWKS", sign(t, jwt.SigningMethodES256, ek, with(nil), "ec1"), ""},
		{"RS256 without kid", sign(t, jwt.SigningMethodRS256, rk, with(nil), ""), ""},
		{"org_ids as strings", hs(with(map[string]any{"org_ids": []string{"3"}})), ""},
		{"within the leeway", hs(with(map[string]any{"exp": now.Add(-auth.Leeway / 2).Unix()})), ""},
		{"expired", hs(with(map[string]any{"exp": now.Add(-time.Minute).Unix()})), auth.ReasonExpired},
		{"no exp", hs(with(map[string]any{"exp": nil})), auth.ReasonClaims},
		{"not yet valid", hs(with(map[string]any{"nbf": now.Add(time.Minute).Unix()})), auth.ReasonNotYet},
		{"wrong signature", sign(t, jwt.SigningMethodHS256, []byte(secret+"x"), with(nil), ""), auth.ReasonSignature},
		{"RS256 by another key", sign(t, jwt.SigningMethodRS256, otherRSA, with(nil), "rsa1"), auth.ReasonSignature},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rk, with(nil), "nope"), auth.ReasonSignature},
		{"kid of another alg", sign(t, jwt.SigningMethodRS256, rk, with(nil), "ec1"), auth.ReasonSignature},
		{"alg none", noneToken, auth.ReasonAlgorithm},
		{"alg HS384", sign(t, jwt.SigningMethodHS384, []byte(secret), with(nil), ""), auth.ReasonAlgorithm},
		{"wrong issuer", hs(with(map[string]any{"iss": "https://evil.example.com"})), auth.ReasonIssuer},
		{"no issuer", hs(with(map[string]any{"iss": nil})), auth.ReasonIssuer},
		{"wrong audience", hs(with(map[string]any{"aud": "other"})), auth.ReasonAudience},
		{"unknown role", hs(with(map[string]any{"role": "owner"})), auth.ReasonClaims},
		{"role missing", hs(with(map[string]any{"role": nil})), auth.ReasonClaims},
		{"org_ids missing", hs(with(map[string]any{"org_ids": nil})), auth.ReasonClaims},
		{"org_ids not an array", hs(with(map[string]any{"org_ids": 3})), auth.ReasonClaims},
		{"org_ids of objects", hs(with(map[string]any{"org_ids": []any{map[string]any{"id": 3}}})), auth.ReasonClaims},
		{"org_ids fractional", hs(with(map[string]any{"org_ids": []any{3.5}})), auth.ReasonClaims},
		{"org_ids negative", hs(with(map[string]any{"org_ids": []any{-3}})), auth.ReasonClaims},
		{"malformed", "not.a.token", auth.ReasonMalformed},
		{"garbage", "abc", auth.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(tt.token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.Role != auth.RoleMember || !slices.Equal(p.OrgIDs, []int64{3}) || p.Subject != "alice" || !p.Token {
					t.Errorf("principal %+v", p)
				}
				return
			}
			ae, ok := err.(*auth.Error)
			if !ok || !strings.HasPrefix(ae.Reason, tt.reason) {
				t.Fatalf("got %v (%+v), want the reason %q", err, p, tt.reason)
			}
			if strings.Contains(err.Error(), tt.token) || strings.Contains(err.Error(), strings.Split(tt.token, ".")[0]) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

func TestOnlyConfiguredAlgorithms(t *testing.T) {
	// Without a JWKS file, an RS256 token is refused whatever its key.
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := verifier(t, auth.VerifierConfig{Secret: secret})
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rk, claims(nil), "")); err == nil || !strings.Contains(err.Error(), auth.ReasonAlgorithm) {
		t.Errorf("RS256 without JWT_JWKS_FILE: %v", err)
	}
	// Without a secret, HS256 is refused, even signed with the empty key.
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v = verifier(t, auth.VerifierConfig{JWKSFile: jwksFile(t, rk, ek)})
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(""), claims(nil), "")); err == nil {
		t.Error("an HS256 token was accepted without JWT_SECRET")
	}
}

func TestIssueVerifies(t *testing.T) {
	v := verifier(t, auth.VerifierConfig{Secret: secret})
	tok, err := auth.Issue(auth.IssueConfig{Secret: secret, Role: auth.RoleManager, OrgIDs: []int64{4, 3, 4}, Subject: "bob", TTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != auth.RoleManager || !slices.Equal(p.OrgIDs, []int64{3, 4}) || p.CacheKey() != "manager:3,4" {
		t.Errorf("principal %+v", p)
	}
	if !p.Expires.Equal(now.Add(time.Hour + auth.Leeway)) {
		t.Errorf("expires %v", p.Expires)
	}
	if !auth.Admin().Sees(99) || p.Sees(5) || !p.Sees(4) {
		t.Error("Sees")
	}
	if auth.Admin().Scope() != nil || auth.NewPrincipal(auth.RoleMember, nil).Scope() == nil || (auth.Principal{}).Scope() == nil {
		t.Error("only an admin's scope is NULL")
	}
}

func TestLoadJWKSRefusesUselessFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"empty.json": `{"keys": []}`, "text.json": `hello`, "array.json": `[1]`} {
		path := filepath.Join(dir, name)
		_ = os.WriteFile(path, []byte(body), 0o600)
		if _, err := auth.LoadJWKS(path); err == nil || !strings.HasPrefix(err.Error(), "want") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
