package wire_test

import (
	"errors"
	"testing"

	"orgpulse/wire"
)

type payload struct {
	Name string `json:"name"`
}

func TestRoundTrip(t *testing.T) {
	f := wire.New("test_round_trip", 3)
	b, err := f.Marshal(payload{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"v":3,"d":{"name":"x"}}`; got != want {
		t.Errorf("encoded %s, want %s", got, want)
	}
	var p payload
	if err := f.Unmarshal(b, &p); err != nil || p.Name != "x" {
		t.Errorf("decoded %+v, %v", p, err)
	}
	if n := wire.Unknown("test_round_trip"); n != 0 {
		t.Errorf("%d unknown after a round trip", n)
	}
}

func TestUnknownVersions(t *testing.T) {
	f := wire.New("test_unknown", 1)
	for i, tc := range []struct {
		data    string
		unknown bool // counted as an unknown version
	}{
		{`{"v":2,"d":{"name":"x"}}`, true},
		{`{"v":0,"d":{"name":"x"}}`, true},
		{`{"name":"x"}`, true},     // no envelope: written before versions
		{`[1,2]`, true},            // not ours at all
		{`not json`, true},         // nor this
		{`{"v":1,"d":[1]}`, false}, // our version, but a payload it cannot hold
	} {
		before := wire.Unknown("test_unknown")
		var p payload
		err := f.Unmarshal([]byte(tc.data), &p)
		if err == nil {
			t.Errorf("%d: %s decoded", i, tc.data)
			continue
		}
		if got := errors.Is(err, wire.ErrUnknownVersion); got != tc.unknown {
			t.Errorf("%d: %s: %v: unknown version %v, want %v", i, tc.data, err, got, tc.unknown)
		}
		want := int64(0)
		if tc.unknown {
			want = 1
		}
		if got := wire.Unknown("test_unknown") - before; got != want {
			t.Errorf("%d: %s counted %d, want %d", i, tc.data, got, want)
		}
	}
}

// A value of this release's version decodes whatever its layout: the
// one-pass reading of what Marshal writes must not refuse what the
// general reading accepts.
func TestOtherLayoutsOfTheSameVersion(t *testing.T) {
	f := wire.New("test_layouts", 12)
	for _, data := range []string{
		`{"v":12,"d":{"name":"y"}}`,
		`{ "v": 12, "d": {"name": "y"} }`,
		`{"d":{"name":"y"},"v":12}`,
		`{"v":12,"d":{"name":"y"},"later":true}`,
		`{"v":12,"d":{"name":"y"}}` + "\n",
	} {
		var p payload
		if err := f.Unmarshal([]byte(data), &p); err != nil || p.Name != "y" {
			t.Errorf("%s: decoded %+v, %v", data, p, err)
		}
	}
	var p payload
	if err := f.Unmarshal([]byte(`{"v":120,"d":{"name":"y"}}`), &p); !errors.Is(err, wire.ErrUnknownVersion) {
		t.Errorf("version 120 read as 12: %+v, %v", p, err)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	f := wire.New("bench_unmarshal", 1)
	data, err := f.Marshal(struct {
		Name  string    `json:"name"`
		Stats []float64 `json:"stats"`
	}{"api_response", []float64{1, 2, 3, 4, 5, 6, 7, 8}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var p struct {
			Name  string    `json:"name"`
			Stats []float64 `json:"stats"`
		}
		if err := f.Unmarshal(data, &p); err != nil {
			b.Fatal(err)
		}
	}
}
