package resolvers

import (
	"context"

	"orgpulse/db"
)

// EventBus carries committed changes to every replica. realtime.Hub is the
// Redis pub/sub implementation; a nil bus publishes nothing. The one
// publisher is the relay (changefeed/), which reads the change log.
type EventBus interface {
	// Publish sends payload to every subscriber of topic on any replica.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe delivers the payloads published on topic until ctx ends,
	// then closes the channel.
	Subscribe(ctx context.Context, topic string) (<-chan []byte, error)
}

// Topics of the event bus, one per kind of change.
const (
	TopicOrganization = "organization"
	TopicEmployee     = "employee"
	TopicProject      = "project"
	TopicMetric       = "metric"
)

// Actions of an Event.
const (
	ActionCreated = "CREATED"
	ActionUpdated = "UPDATED"
	ActionDeleted = "DELETED"
)

// Event is one committed change. It carries the changed row so that
// delivering it to any number of subscribers needs no query for the row
// itself. On the bus it travels in its own versioned format (eventV1,
// wire.go), never as the row structs. Position is the change's position in
// the change log (EventsOf builds events from it); several events of one
// change share it; Index tells apart the events of one change on one
// topic (1, 2, ...; 0 from a release before cursors), so that Cursor
// names each.
type Event struct {
	Position       int64
	Index          int32
	Action         string
	OrganizationID int64
	EmployeeID     int64
	ProjectID      int64
	Organization   *db.Organization
	Employee       *db.Employee
	Project        *db.Project
	TeamSize       int32
	Metric         *db.PerformanceMetric
}
