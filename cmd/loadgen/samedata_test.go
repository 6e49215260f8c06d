package main

import (
	"slices"
	"testing"
)

func TestLeafValuesDropNamesAndWrappers(t *testing.T) {
	orgpulse := `{"allEmployees":[{"name":"Ann","organization":{"name":"Acme"}},{"name":"Bo","organization":{"name":"Acme"}}]}`
	postgraphile := `{"allEmployees":{"nodes":[{"name":"Ann","organizationByOrganizationId":{"name":"Acme"}},{"name":"Bo","organizationByOrganizationId":{"name":"Acme"}}]}}`
	a, err := leafValues([]byte(orgpulse))
	if err != nil {
		t.Fatal(err)
	}
	b, err := leafValues([]byte(postgraphile))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Ann", "Acme", "Bo", "Acme"}; !slices.Equal(a, want) || !slices.Equal(b, want) {
		t.Fatalf("leaves %q and %q, want %q", a, b, want)
	}
	if err := compareLeaves(a, b, false); err != nil {
		t.Fatal(err)
	}
}

func TestCompareLeaves(t *testing.T) {
	num := func(s string) string { return canonicalNumber(s) }
	for _, c := range []struct {
		name   string
		a, b   []string
		subset bool
		same   bool
	}{
		{"equal", []string{"x", "1"}, []string{"x", "1"}, false, true},
		{"other order", []string{"x", "y"}, []string{"y", "x"}, false, false},
		{"one more", []string{"x"}, []string{"x", "y"}, false, false},
		{"one fewer", []string{"x", "y"}, []string{"x"}, false, false},
		{"float64 versus decimal string", []string{num("60.78928414442701")}, []string{num("60.789284144427")}, false, true},
		{"different number", []string{num("636")}, []string{num("637")}, false, false},
		{"subset", []string{"api", "3", "1.5", "9"}, []string{"9", "3"}, true, true},
		{"subset, a value missing", []string{"api", "3"}, []string{"4"}, true, false},
		{"subset counts repeats", []string{"3"}, []string{"3", "3"}, true, false},
		{"nothing to compare", []string{"x"}, nil, true, false},
	} {
		if err := compareLeaves(c.a, c.b, c.subset); (err == nil) != c.same {
			t.Errorf("%s: compareLeaves(%q, %q, %v) = %v, want same=%v", c.name, c.a, c.b, c.subset, err, c.same)
		}
	}
}
