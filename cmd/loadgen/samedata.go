package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// runSameData sends one operation to two servers (orgpulse and a
// PostGraphile, whose schemas differ in names and nesting) and fails unless
// both return the same data: the benchmark must compare servers doing the
// same work. What is compared is a projection both schemas share: the leaf
// values of the data in document order, without field names or wrappers
// (PostGraphile's connections nest lists in `nodes`), numbers to nine
// significant digits (one server may send a float64 average, the other a
// decimal string). With -subset the second response may select fewer
// values: each of them must be among the first's (PostGraphile's
// aggregates have no percentiles).
func runSameData(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("samedata", flag.ContinueOnError)
	var a, b httpFlags
	a.add(fs)
	fs.StringVar(&b.url, "url2", "", "the second GraphQL endpoint (loopback only)")
	fs.StringVar(&b.file, "file2", "", "the second server's GraphQL document")
	fs.StringVar(&b.vars, "vars2", "", "the second server's variables as a JSON object")
	subset := fs.Bool("subset", false, "the second response's values need only be among the first's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var got [2][]string
	for i, hf := range []*httpFlags{&a, &b} {
		req, err := hf.build()
		if err != nil {
			return err
		}
		res, err := req.send(ctx, newClient(1))
		if err != nil {
			return fmt.Errorf("%s: %w", hf.url, err)
		}
		if got[i], err = leafValues(res.Data); err != nil {
			return fmt.Errorf("%s: %w", hf.url, err)
		}
	}
	if err := compareLeaves(got[0], got[1], *subset); err != nil {
		return fmt.Errorf("%s (-file %s) and %s (-file2 %s) return different data: %w", a.url, a.file, b.url, b.file, err)
	}
	fmt.Printf("same data: %d values\n", len(got[1]))
	return nil
}

// compareLeaves is nil when b equals a value for value, or with subset
// when every value of b is among a's (counted with repeats).
func compareLeaves(a, b []string, subset bool) error {
	if len(b) == 0 {
		return errors.New("the second response holds no values")
	}
	if subset {
		left := map[string]int{}
		for _, v := range a {
			left[v]++
		}
		for _, v := range b {
			if left[v] == 0 {
				return fmt.Errorf("%q is not among the first response's values %q", v, a)
			}
			left[v]--
		}
		return nil
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Errorf("value %d: %q versus %q", i+1, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d values versus %d", len(a), len(b))
	}
	return nil
}

// leafValues lists the scalar values of a JSON document in document order,
// numbers (and strings that are numbers) canonicalized.
func leafValues(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []string
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			object := t == '{'
			for dec.More() {
				if object {
					if _, err := dec.Token(); err != nil { // the key
						return err
					}
				}
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token() // the closing delimiter
			return err
		case json.Number:
			out = append(out, canonicalNumber(string(t)))
		case string:
			out = append(out, canonicalNumber(t))
		case nil:
			out = append(out, "null")
		default:
			out = append(out, fmt.Sprint(t))
		}
		return nil
	}
	if err := walk(); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data: trailing content")
	}
	return out, nil
}

// canonicalNumber writes a number to nine significant digits; anything
// else is returned as it is.
func canonicalNumber(s string) string {
	if strings.TrimSpace(s) != s || s == "" {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'g', 9, 64)
}
