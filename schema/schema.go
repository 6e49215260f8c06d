// Package schema holds orgpulse's GraphQL SDL: the public contract,
// written by hand and bound to the resolvers at start-up.
package schema

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.graphql
var files embed.FS

// String returns every SDL file concatenated in name order.
func String() string {
	names, err := fs.Glob(files, "*.graphql")
	if err != nil {
		panic(err)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		src, err := files.ReadFile(n)
		if err != nil {
			panic(err)
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return b.String()
}
