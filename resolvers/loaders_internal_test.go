package resolvers

import (
	"reflect"
	"testing"
)

// TestGroupBy: rows of a batched statement are grouped by parent in their
// order, whether a parent's rows arrive together or interleaved, and no
// group can grow into another's share of the backing array.
func TestGroupBy(t *testing.T) {
	type row struct {
		parent int64
		v      string
	}
	rows := []row{{1, "a"}, {2, "b"}, {1, "c"}, {3, "d"}, {2, "e"}, {1, "f"}}
	got := groupBy(rows, func(r row) (int64, string) { return r.parent, r.v })
	want := map[int64][]string{1: {"a", "c", "f"}, 2: {"b", "e"}, 3: {"d"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("groupBy = %v, want %v", got, want)
	}
	g1 := append(got[1], "x")
	if got[2][0] != "b" || got[3][0] != "d" || len(g1) != 4 {
		t.Fatalf("appending to one group changed another: %v", got)
	}
	if empty := groupBy([]row(nil), func(r row) (int64, string) { return r.parent, r.v }); len(empty) != 0 {
		t.Fatalf("groupBy of no rows = %v", empty)
	}
}
