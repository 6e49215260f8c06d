package app

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The flag.Value types below parse one setting each and refuse a value that
// does not parse or is out of range, saying which form is accepted: a
// mistyped limit must stop `serve`, never fall back to the default.

// intValue is a whole number in [min, max].
type intValue struct {
	p        *int
	min, max int
}

func (v intValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a whole number from %d to %d, got %q", v.min, v.max, s)
	}
	*v.p = n
	return nil
}

// floatValue is a number in [min, max], or exactly one of also.
type floatValue struct {
	p        *float64
	min, max float64
	also     []float64
}

func (v floatValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v floatValue) Set(s string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	ok := err == nil && !math.IsNaN(x) && x >= v.min && x <= v.max
	for _, a := range v.also {
		ok = ok || (err == nil && x == a)
	}
	if !ok {
		extra := ""
		for _, a := range v.also {
			extra += fmt.Sprintf(" or %g", a)
		}
		return fmt.Errorf("want a number from %g to %g%s, got %q", v.min, v.max, extra, s)
	}
	*v.p = x
	return nil
}

// durationValue is a Go duration ("500ms", "10s", "1h30m") in [min, max];
// "0" is a duration too.
type durationValue struct {
	p        *time.Duration
	min, max time.Duration
}

func (v durationValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < v.min || d > v.max {
		return fmt.Errorf("want a duration such as 500ms, 10s or 5m, from %s to %s, got %q", v.min, v.max, s)
	}
	*v.p = d
	return nil
}

// millisValue is a whole number of milliseconds in [min, max], held as a
// duration (SLOW_REQUEST_MS).
type millisValue struct {
	p        *time.Duration
	min, max int
}

func (v millisValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(v.p.Milliseconds(), 10)
}

func (v millisValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a whole number of milliseconds from %d to %d, got %q", v.min, v.max, s)
	}
	*v.p = time.Duration(n) * time.Millisecond
	return nil
}

// boolValue is true or false (also 1/0, t/f as strconv.ParseBool reads
// them).
type boolValue struct{ p *bool }

func (v boolValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatBool(*v.p)
}

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	*v.p = b
	return nil
}

// IsBoolFlag lets the flag be given as --debug without a value.
func (v boolValue) IsBoolFlag() bool { return true }

// optionalBool is true, false or empty (unset: the default decides).
type optionalBool struct{ p **bool }

func (v optionalBool) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.FormatBool(**v.p)
}

func (v optionalBool) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*v.p = nil
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true, false or empty, got %q", s)
	}
	*v.p = &b
	return nil
}

// stringValue is a string that check accepts (nil: any string).
type stringValue struct {
	p     *string
	check func(string) error
}

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v stringValue) Set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.p = s
	return nil
}

// listValue is a comma-separated list whose every item check accepts;
// empty items are dropped.
type listValue struct {
	p     *[]string
	check func(string) error
}

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	var items []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		if v.check != nil {
			if err := v.check(it); err != nil {
				return err
			}
		}
		items = append(items, it)
	}
	*v.p = items
	return nil
}

// Checks of string settings.

func oneOf(allowed ...string) func(string) error {
	return func(s string) error {
		for _, a := range allowed {
			if s == a {
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), s)
	}
}

func nonEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("want a non-empty value")
	}
	return nil
}

func checkLogLevel(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("want debug, info, warn or error, got %q", s)
	}
	return nil
}

func checkAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port out of range")
		}
	}
	if err != nil {
		return fmt.Errorf("want host:port or :port (such as 127.0.0.1:8080 or :8080), got %q", s)
	}
	_ = host
	return nil
}

// checkOrigin accepts "*" or scheme://host[:port] with no path, as
// browsers send Origin.
func checkOrigin(s string) error {
	if s == "*" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return fmt.Errorf("want * or origins such as https://app.example.com (scheme://host[:port], comma-separated), got %q", s)
	}
	return nil
}

func checkReplicaID(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("want 1 to 64 characters of letters, digits, '-', '_' and '.', got %q", s)
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return fmt.Errorf("want 1 to 64 characters of letters, digits, '-', '_' and '.', got %q", s)
		}
	}
	return nil
}

// checkGOGC accepts what the Go runtime reads from GOGC: a whole
// percentage or "off". The runtime itself silently ignores anything else.
func checkGOGC(s string) error {
	if s == "off" {
		return nil
	}
	if n, err := strconv.Atoi(s); err != nil || n < 0 {
		return fmt.Errorf("want a whole percentage such as 100 or 400, or off, got %q", s)
	}
	return nil
}

// checkGOMEMLIMIT accepts what the Go runtime reads from GOMEMLIMIT: a
// whole number of bytes with an optional unit B, KiB, MiB, GiB or TiB, or
// "off".
func checkGOMEMLIMIT(s string) error {
	if s == "off" {
		return nil
	}
	num := strings.TrimRight(s, "BKMGTi")
	unit := s[len(num):]
	if n, err := strconv.ParseInt(num, 10, 64); err != nil || n < 0 || !isMemUnit(unit) {
		return fmt.Errorf("want bytes with an optional unit (B, KiB, MiB, GiB, TiB) such as 512MiB, or off, got %q", s)
	}
	return nil
}

func isMemUnit(u string) bool {
	switch u {
	case "", "B", "KiB", "MiB", "GiB", "TiB":
		return true
	}
	return false
}

// emptyIsUnset leaves the default for an empty value, as the OpenTelemetry
// specification says of its OTEL_* variables.
type emptyIsUnset struct{ flag.Value }

func (v emptyIsUnset) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return v.Value.Set(s)
}
