package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"orgpulse/auth"
)

// A verified token is kept, but only while it holds: the kept principal
// is never served before nbf or after exp (each within the leeway), and a
// token differing in one byte is verified in full.
func TestVerifiedTokensKeptWhileTheyHold(t *testing.T) {
	clock := now
	v, err := auth.NewVerifier(auth.VerifierConfig{Secret: secret, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), claims(map[string]any{
		"nbf": now.Add(time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}), "")
	reason := func(at time.Time, token string) string {
		t.Helper()
		clock = at
		_, err := v.Verify(token)
		var e *auth.Error
		if errors.As(err, &e) {
			return e.Reason
		}
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return ""
	}
	if got := reason(now, tok); got != auth.ReasonNotYet {
		t.Errorf("before nbf: %q, want %q", got, auth.ReasonNotYet)
	}
	if got := reason(now.Add(2*time.Minute), tok); got != "" {
		t.Errorf("valid: refused as %q", got)
	}
	if got := reason(now.Add(3*time.Minute), tok); got != "" {
		t.Errorf("valid, kept: refused as %q", got)
	}
	// Kept, but not before its nbf.
	if got := reason(now, tok); got != auth.ReasonNotYet {
		t.Errorf("kept, before nbf: %q, want %q", got, auth.ReasonNotYet)
	}
	// One byte of the signature changed: verified again, refused.
	forged := tok[:len(tok)-2] + string("AB"[0]^tok[len(tok)-2]&1) + tok[len(tok)-1:]
	if forged == tok {
		t.Fatal("the forged token is the token")
	}
	if got := reason(now.Add(2*time.Minute), forged); got == "" {
		t.Error("a token with an altered signature was accepted")
	}
	// Kept, but not after its exp plus the leeway.
	if got := reason(now.Add(time.Hour+auth.Leeway), tok); got != auth.ReasonExpired {
		t.Errorf("kept, after exp: %q, want %q", got, auth.ReasonExpired)
	}
	if got := reason(now.Add(time.Hour+auth.Leeway-time.Second), tok); got != "" {
		t.Errorf("kept, within the leeway: refused as %q", got)
	}
}

// BenchmarkVerify is one request's token check for a token sent again,
// the usual case.
func BenchmarkVerify(b *testing.B) {
	v, _ := auth.NewVerifier(auth.VerifierConfig{Secret: secret})
	tok, _ := auth.Issue(auth.IssueConfig{Secret: secret, Role: auth.RoleMember, OrgIDs: []int64{1}, TTL: time.Hour})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
