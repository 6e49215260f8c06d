package resolvers

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Cursor names one event of a topic in the change log: the position of
// its change and its place among the events that change brings on the
// topic (an employee who moves updates two organizations: indexes 1 and
// 2). Every next message of an event subscription carries its event's
// cursor in extensions.cursor, and after: resumes after it.
//
// On the wire it is opaque: base64url (no padding) of "1.<position>.<index>",
// the leading 1 being the format's version, so that a later format can
// be told apart and an old cursor refused with a clear error.
type Cursor struct {
	Position int64
	Index    int32
}

const cursorVersion = "1"

// String encodes c; the zero Cursor (an event of a release before the
// change log) encodes as "".
func (c Cursor) String() string {
	if c.Position <= 0 || c.Index <= 0 {
		return ""
	}
	raw := cursorVersion + "." + strconv.FormatInt(c.Position, 10) + "." + strconv.FormatInt(int64(c.Index), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// less orders cursors as the events they name were committed.
func (c Cursor) less(o Cursor) bool {
	return c.Position < o.Position || (c.Position == o.Position && c.Index < o.Index)
}

// ParseCursor decodes a cursor that String made; anything else is
// BAD_USER_INPUT on the argument field.
func ParseCursor(field, s string) (Cursor, error) {
	bad := func(why string) (Cursor, error) {
		return Cursor{}, Errorf(CodeBadUserInput, field, "%s is not a cursor this server issued (%s): pass the extensions.cursor of a result as is", field, why)
	}
	if len(s) > 64 {
		return bad("too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return bad("malformed")
	}
	if parts[0] != cursorVersion {
		return bad(fmt.Sprintf("unknown version %.8q", parts[0]))
	}
	pos, err1 := strconv.ParseInt(parts[1], 10, 64)
	idx, err2 := strconv.ParseInt(parts[2], 10, 32)
	c := Cursor{Position: pos, Index: int32(idx)}
	if err1 != nil || err2 != nil || c.String() != s {
		return bad("malformed")
	}
	return c, nil
}
