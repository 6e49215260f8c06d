package postgres

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// What PostgreSQL's and the driver's errors mean to the service is decided
// here, at the storage boundary, and nowhere else: callers ask for a Kind
// (and, for constraint violations, the constraint's name) and never look at
// SQLSTATEs or driver types themselves. The server maps a Kind to a
// client-facing code once, at the edge.

// Kind is what a database error means to the service.
type Kind int

const (
	// KindOther is any error this file does not tell apart: internal.
	KindOther Kind = iota
	// KindUnavailable: PostgreSQL cannot be reached: a failed connect
	// (the pool's acquire), a session the server ended (shutdown, too
	// many connections), or a connection broken under a query.
	KindUnavailable
	// KindCanceled: PostgreSQL cancelled the statement (57014):
	// STATEMENT_TIMEOUT, the server-side backstop, or the cancel request
	// pgx sends when a request's deadline passes. Either way the
	// statement ran out of time.
	KindCanceled
	// KindUnstorableText: a string argument holds a character text cannot
	// (NUL, or one outside the database's encoding): the client's input.
	KindUnstorableText
	// KindCheckViolation: a CHECK constraint refused a row (23514).
	KindCheckViolation
	// KindOutOfRange: a number did not fit its column (22003).
	KindOutOfRange
)

// Classify returns what err means; KindOther for nil or anything else.
func Classify(err error) Kind {
	if err == nil {
		return KindOther
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "57P"), // admin/crash shutdown, cannot connect now
			pe.Code == "53300":                // too many connections
			return KindUnavailable
		case pe.Code == "57014":
			return KindCanceled
		case pe.Code == "22021", pe.Code == "22P05":
			return KindUnstorableText
		case pe.Code == "23514":
			return KindCheckViolation
		case pe.Code == "22003":
			return KindOutOfRange
		}
		return KindOther
	}
	if unreachable(err) {
		return KindUnavailable
	}
	return KindOther
}

func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// Constraint is the name of the constraint err violated, or "".
func Constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// Answered reports whether PostgreSQL itself answered with an error, as
// opposed to the connection failing before an answer came: after COMMIT,
// only an answer says whether the change was made.
func Answered(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}
