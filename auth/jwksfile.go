package auth

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultJWKSRecheck is how often, at most, the JWKS file is looked at
// again for a token its keys cannot verify.
const DefaultJWKSRecheck = time.Second

// jwksFile is the keys of the JWKS file, read again when it changes, so
// an identity provider's key rotation needs no restart. keyfunc refreshes
// a JWKS it fetched over HTTP, not a file; so the file is looked at again
// (its modification time and size, one stat) when a token names a key the
// keys in use cannot give (a new kid, published by the provider before it
// signs with it), at most once per recheck whatever the number of such
// tokens: a flood of tokens with made-up kids costs one stat a second.
// A file that no longer reads or parses keeps the keys in use, and is
// logged once per version of the file, not once per token. A key replaced
// under the same kid is not noticed (the token's signature fails after
// the key was found): providers rotate to a new kid.
type jwksFile struct {
	path    string
	recheck time.Duration
	now     func() time.Time
	log     *slog.Logger

	keys atomic.Pointer[jwt.Keyfunc] // the keys in use

	mu      sync.Mutex
	checked time.Time // when the file was last looked at
	inUse   fileStamp // the version the keys in use were read from
	bad     fileStamp // the last version that could not be used (logged)
	badSet  bool      // bad is set (a missing file's stamp is zero)
}

// fileStamp tells versions of a file apart.
type fileStamp struct {
	mod  time.Time
	size int64
}

func newJWKSFile(path string, recheck time.Duration, now func() time.Time, log *slog.Logger) (*jwksFile, error) {
	j := &jwksFile{path: path, recheck: recheck, now: now, log: log}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("want a readable JWKS JSON file: %w", err)
	}
	kf, err := LoadJWKS(path)
	if err != nil {
		return nil, err
	}
	j.keys.Store(&kf)
	j.inUse, j.checked = stampOf(st), now()
	return j, nil
}

func stampOf(st os.FileInfo) fileStamp { return fileStamp{mod: st.ModTime(), size: st.Size()} }

// key is the verification key of t: from the keys in use, or, when they
// cannot give it, from the file read again if it changed.
func (j *jwksFile) key(t *jwt.Token) (any, error) {
	k, err := (*j.keys.Load())(t)
	if err == nil || !j.reload() {
		return k, err
	}
	return (*j.keys.Load())(t)
}

// reload reads the file again if it is time to look and it changed, and
// reports whether it now holds other keys.
func (j *jwksFile) reload() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	if now.Sub(j.checked) < j.recheck {
		return false
	}
	j.checked = now
	st, err := os.Stat(j.path)
	if err != nil {
		j.refused(fileStamp{}, err)
		return false
	}
	stamp := stampOf(st)
	if stamp == j.inUse {
		return false
	}
	kf, err := LoadJWKS(j.path)
	if err != nil {
		j.refused(stamp, err)
		return false
	}
	j.keys.Store(&kf)
	j.inUse, j.badSet = stamp, false
	j.log.Info("JWT_JWKS_FILE changed: its keys are in use", "path", j.path)
	return true
}

// refused logs, once per version of the file, that it could not be used.
func (j *jwksFile) refused(stamp fileStamp, err error) {
	if j.badSet && stamp == j.bad {
		return
	}
	j.bad, j.badSet = stamp, true
	j.log.Warn("JWT_JWKS_FILE changed but cannot be used: the keys read before stay in use", "path", j.path, "err", err)
}
