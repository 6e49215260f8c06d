// Package migrations holds the schema of orgpulse as plain SQL files applied
// by goose. The files are embedded so the binary migrates any database
// without the source tree.
package migrations

import "embed"

// FS holds every migration file, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
