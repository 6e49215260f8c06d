package server

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// The PostgreSQL errors translateErrors tells apart, by SQLSTATE and by
// the driver's error types.

// isUnavailable reports whether err means PostgreSQL cannot be reached:
// a failed connect (the pool's acquire), a session the server ended
// (shutdown, too many connections), or a connection broken under a query.
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || // connection exception
			strings.HasPrefix(pe.Code, "57P") || // admin/crash shutdown, cannot connect now
			pe.Code == "53300" // too many connections
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// isUnstorableText reports whether PostgreSQL refused a string argument
// for a character it cannot hold in text (NUL, or one outside the
// database's encoding): the client's input, not a fault of the service.
func isUnstorableText(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05")
}

// isQueryCanceled reports whether PostgreSQL cancelled the statement
// (57014): STATEMENT_TIMEOUT, the server-side backstop, or the cancel
// request pgx sends when a request's deadline passes. Either way the
// statement ran out of time.
func isQueryCanceled(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57014"
}
