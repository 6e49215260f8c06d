package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"orgpulse/auth"
)

// rsaJWKS is a JWKS of RSA public keys by kid.
func rsaJWKS(t *testing.T, keys map[string]*rsa.PrivateKey) []byte {
	t.Helper()
	var out []map[string]any
	for kid, k := range keys {
		out = append(out, map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
	}
	raw, err := json.Marshal(map[string]any{"keys": out})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// lockedBuffer is a log sink the verifier may write from any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The identity provider rotates its keys: the JWKS file is rewritten with
// a new key, and a token signed by it is accepted without a restart. A
// file that turns unreadable or garbage keeps the keys in use and is
// logged once; the file is looked at again at most once per JWKSRecheck.
func TestJWKSFileRotation(t *testing.T) {
	old, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func(raw []byte, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		// Distinct modification times, however coarse the file system's.
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write(rsaJWKS(t, map[string]*rsa.PrivateKey{"k1": old}), now.Add(-time.Hour))

	clock := now
	var logs lockedBuffer
	v, err := auth.NewVerifier(auth.VerifierConfig{JWKSFile: path, JWKSRecheck: time.Second,
		Now: func() time.Time { return clock }, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	byOld := sign(t, jwt.SigningMethodRS256, old, claims(nil), "k1")
	byNew := sign(t, jwt.SigningMethodRS256, rotated, claims(nil), "k2")
	accepts := func(what, token string, want bool) {
		t.Helper()
		_, err := v.Verify(token)
		if (err == nil) != want {
			t.Errorf("%s: err = %v, want accepted %v", what, err, want)
		}
	}
	accepts("the old key", byOld, true)
	accepts("a key the file does not hold yet", byNew, false)

	// Rotation: the provider publishes k2 beside k1.
	write(rsaJWKS(t, map[string]*rsa.PrivateKey{"k1": old, "k2": rotated}), now)
	accepts("the new key within a second of the last look", byNew, false)
	clock = clock.Add(time.Second)
	accepts("the new key after the rotation", byNew, true)
	accepts("the old key after the rotation", byOld, true)
	if !strings.Contains(logs.String(), "JWT_JWKS_FILE changed") {
		t.Errorf("the reload was not logged: %s", logs.String())
	}

	// A broken file keeps the keys in use, logged once per version.
	unusable := func() int { return strings.Count(logs.String(), "cannot be used") }
	byThird := sign(t, jwt.SigningMethodES256, ek, claims(nil), "k3")
	for i, bad := range [][]byte{[]byte(`{"keys": [`), []byte(`{"keys": []}`)} {
		write(bad, now.Add(time.Duration(i+1)*time.Minute))
		for range 3 {
			clock = clock.Add(time.Second)
			accepts("a key of no file", byThird, false)
			accepts("the new key with the file broken", byNew, true)
		}
		if got := unusable(); got != i+1 {
			t.Errorf("after version %d of the broken file: %d warnings, want %d:\n%s", i+1, got, i+1, logs.String())
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clock = clock.Add(time.Second)
		accepts("a key of no file, the file removed", byThird, false)
	}
	accepts("the old key with the file removed", byOld, true)
	if got := unusable(); got != 3 {
		t.Errorf("after the file was removed: %d warnings, want 3:\n%s", got, logs.String())
	}
}
