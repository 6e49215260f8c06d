package resolvers

import (
	"context"
	"log/slog"

	"orgpulse/db"
)

// EventBus carries committed changes to every replica. realtime.Hub is the
// Redis pub/sub implementation; a nil bus publishes nothing.
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
// wire.go), never as the row structs.
type Event struct {
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

// publish sends ev after its transaction committed. A lost event is logged
// and never fails the mutation, which has already committed. It runs on
// its own deadline (PublishWait), never the request's: the deadline may
// have passed while COMMIT was awaited, or the client may be gone.
func (r *Resolver) publish(ctx context.Context, topic string, ev Event) {
	if r.cfg.Events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), PublishWait)
	defer cancel()
	payload, err := EncodeEvent(ev)
	if err == nil {
		err = r.cfg.Events.Publish(ctx, topic, payload)
	}
	if err != nil {
		slog.Default().Warn("publish event", "topic", topic, "err", err)
	}
}
