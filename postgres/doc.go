// Package postgres is where orgpulse meets PostgreSQL below the generated
// queries: it opens the pool with the settings every process shares
// (Open), and it holds the two wrappers that change how sqlc's generated
// methods in db/ reach the server, without changing their Go signatures:
//
//   - Planned wraps the handle a db.Queries runs on. Before a statement
//     goes out it folds the optional filters that are NULL in this call
//     ("$1 IS NULL OR organization_id = $1") out of the SQL text, so that
//     each combination of given filters is a prepared statement with a
//     generic plan of its own, and it sends statements over a time window
//     with the simple protocol so they are planned for their values on
//     every call (plan.go).
//   - Pipeline runs several generated methods' statements on one
//     connection in one round trip: each step is called once against a
//     recorder to capture its SQL and arguments, the statements go out as
//     one pgx batch, then each step is called again to read its results
//     from the batch (pipeline.go).
//
// The db/ package stays purely generated; everything that bends its
// statements lives here.
package postgres
