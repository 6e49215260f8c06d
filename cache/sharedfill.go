package cache

import (
	"context"
	"errors"

	"golang.org/x/sync/singleflight"
)

// abandonedFill is the error of a shared fill whose caller (the one whose
// fill ran) went away: it says nothing about the other callers, whose own
// requests are alive.
type abandonedFill struct{ err error }

func (e *abandonedFill) Error() string { return e.err.Error() }
func (e *abandonedFill) Unwrap() error { return e.err }

// maxFillRetries bounds how often a caller fills again after the callers
// whose fills it shared went away one after the other.
const maxFillRetries = 3

// shareFill runs fill once for the concurrent callers of key. The fill runs
// with the context of the caller that started it; when that caller's
// client disconnects, the fill fails with its cancel, and before this the
// other callers failed with it too: one client going away failed every
// request sharing its fill (as CANCELLED, or as "database unavailable"
// when the cancel broke the connection under the statement). A caller
// whose own context is alive now fills again.
func shareFill(ctx context.Context, sf *singleflight.Group, key string, fill func() (any, error)) (any, error) {
	for attempt := 0; ; attempt++ {
		v, err, _ := sf.Do(key, func() (any, error) {
			v, err := fill()
			if err != nil && ctx.Err() != nil { // ctx of the caller whose fill ran
				return nil, &abandonedFill{err: err}
			}
			return v, err
		})
		var ab *abandonedFill
		if !errors.As(err, &ab) {
			return v, err
		}
		if ctx.Err() != nil || attempt == maxFillRetries {
			return nil, ab.err
		}
	}
}
