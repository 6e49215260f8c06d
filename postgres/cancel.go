package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// What a statement does when its context ends (a client that went away,
// a request past its deadline). pgx's default sets a deadline of now on
// the socket: the read fails at once and the connection is closed, so
// every cancel cost the pool a connection and the next request a new one
// (10 opened for 10 client disconnects in TestClientDisconnectIsACancel
// before this). Instead PostgreSQL is asked to cancel the statement, which
// then ends with an error on a connection that stays in the pool.
const (
	// cancelRequestDelay lets a statement about to finish finish: a cancel
	// request costs PostgreSQL a process of its own, and orgpulse's
	// statements take a few milliseconds.
	cancelRequestDelay = 10 * time.Millisecond
	// cancelDeadlineDelay is how long PostgreSQL has to act on the cancel
	// before the socket is given a deadline after all (the connection is
	// then closed, as by pgx's default): a server that does not answer
	// must not hold the request's goroutine and its connection for long.
	cancelDeadlineDelay = time.Second
)

// cancelStatement builds the context watcher handler of a connection; see
// cancelRequestDelay. pgx sleeps 100 ms after a cancel request before the
// connection is used again, so a late cancel does not hit the next
// statement.
func cancelStatement(conn *pgconn.PgConn) ctxwatch.Handler {
	return &pgconn.CancelRequestContextWatcherHandler{
		Conn:               conn,
		CancelRequestDelay: cancelRequestDelay,
		DeadlineDelay:      cancelDeadlineDelay,
	}
}
