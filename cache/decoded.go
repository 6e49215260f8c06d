package cache

import (
	"reflect"
	"sync"
)

// decoded remembers, per versioned name, the bytes last read from Redis
// and the value they decoded to, for values of flat types (no pointers,
// slices or maps that a caller could share and change; strings cannot be
// changed). A hot
// key read again with the same bytes (a performance summary under load:
// thousands of reads between two fills) is not decoded again. Decoding it
// was most of a cached summary's CPU: JSON numbers, and with them the
// growth of the resolver goroutine's stack that strconv.ParseFloat's large
// frame set off on every request (#17's benchmark, CPU profiles).
//
// The name holds the generation and version the bytes were stored under,
// and the bytes are compared whole, so a memo never answers for another
// value. It is bounded: full, it starts over.
type decoded struct {
	mu sync.Mutex
	m  map[string]decodedValue
}

type decodedValue struct {
	raw string
	v   any
}

// maxDecoded bounds the names remembered.
const maxDecoded = 1024

func (d *decoded) get(name string, raw []byte) (any, bool) {
	d.mu.Lock()
	e, ok := d.m[name]
	d.mu.Unlock()
	if !ok || e.raw != string(raw) {
		return nil, false
	}
	return e.v, true
}

func (d *decoded) put(name string, raw []byte, v any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil || len(d.m) >= maxDecoded {
		d.m = make(map[string]decodedValue)
	}
	d.m[name] = decodedValue{raw: string(raw), v: v}
}

// flatTypes caches flat's answer per type.
var flatTypes sync.Map // reflect.Type -> bool

// flat reports whether a value of t is all its own: copying it shares
// nothing with the original, so a remembered value can be handed out.
func flat(t reflect.Type) bool {
	if v, ok := flatTypes.Load(t); ok {
		return v.(bool)
	}
	ok := flatKind(t)
	flatTypes.Store(t, ok)
	return ok
}

func flatKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	case reflect.Array:
		return flatKind(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !flatKind(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// decodeHit decodes the bytes a lookup found under name into v, or takes
// the value they decoded to last time.
func decodeHit[V Value](c *Cache, name string, raw []byte, v *V) bool {
	if !flat(reflect.TypeFor[V]()) {
		return decode(raw, v)
	}
	if got, ok := c.decoded.get(name, raw); ok {
		*v = got.(V)
		return true
	}
	if !decode(raw, v) {
		return false
	}
	c.decoded.put(name, raw, *v)
	return true
}
