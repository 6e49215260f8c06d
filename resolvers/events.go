package resolvers

import (
	"context"
	"encoding/json"
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
// itself.
type Event struct {
	Action         string                `json:"action"`
	OrganizationID int64                 `json:"organizationId,omitempty"`
	EmployeeID     int64                 `json:"employeeId,omitempty"`
	ProjectID      int64                 `json:"projectId,omitempty"`
	Organization   *db.Organization      `json:"organization,omitempty"`
	Employee       *db.Employee          `json:"employee,omitempty"`
	Project        *db.Project           `json:"project,omitempty"`
	TeamSize       int32                 `json:"teamSize,omitempty"`
	Metric         *db.PerformanceMetric `json:"metric,omitempty"`
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
	payload, err := json.Marshal(ev)
	if err == nil {
		err = r.cfg.Events.Publish(ctx, topic, payload)
	}
	if err != nil {
		slog.Default().Warn("publish event", "topic", topic, "err", err)
	}
}
