package resolvers

import (
	"encoding/json"
	"fmt"
	"time"

	"orgpulse/db"
)

// Tables of the change log (migrations/00005_change_log.sql).
const (
	TableOrganizations  = "organizations"
	TableEmployees      = "employees"
	TableProjects       = "projects"
	TableProjectMembers = "project_members"
	TableMetrics        = "performance_metrics"
)

// Operations of the change log. OpReset says anything may have changed
// (a TRUNCATE, or a bulk load that logs no rows one by one).
const (
	OpInsert = "INSERT"
	OpUpdate = "UPDATE"
	OpDelete = "DELETE"
	OpReset  = "RESET"
)

// Change is one committed change: a row of the change log as the relay
// reads it, or what a mutation knows it changed when it retires the cache
// before answering (then only Table, Op and the organizations are set).
// Versions (write.go) maps it to the cache versions it retires; EventsOf to
// the events that announce it.
type Change struct {
	Position          int64 // commit order; 0 for a mutation's own view
	CommittedAt       time.Time
	Table             string
	Op                string
	RowID             int64 // the row's id; the project's for project_members
	EmployeeID        int64 // project_members only
	OrganizationID    int64 // after the change (before it, for a delete)
	OldOrganizationID int64 // before it, when the row moved; else 0
	TeamSize          int32 // projects and project_members
	NewRow, OldRow    []byte
}

// topicTables are the tables whose changes bring events on each topic:
// what a resuming subscription reads of the log (ListReplayChanges).
var topicTables = map[string][]string{
	TopicOrganization: {TableOrganizations, TableEmployees},
	TopicEmployee:     {TableEmployees},
	TopicProject:      {TableProjects, TableProjectMembers},
	TopicMetric:       {TableMetrics},
}

// ChangeFromLog is the Change of a change log row.
func ChangeFromLog(r db.ListChangesAfterRow) Change {
	return Change{Position: r.Position, CommittedAt: r.CommittedAt, Table: r.TableName, Op: r.Op, RowID: r.RowID,
		EmployeeID: r.EmployeeID, OrganizationID: r.OrganizationID, OldOrganizationID: r.OldOrganizationID,
		TeamSize: r.TeamSize, NewRow: r.NewRow, OldRow: r.OldRow}
}

// TopicEvent is an event and the topic it is published on.
type TopicEvent struct {
	Topic string
	Event Event
}

// EventsOf returns the events that announce c to subscribers, each
// carrying c's position: the same events the mutations published after
// commit before the change log (an employee change also updates its
// organizations' head counts; a team change updates its project). Events
// carry the logged row, so delivering them needs no query for it; an
// organization whose head count changed travels by id and is loaded once
// per event by the replicas that have its subscribers.
func EventsOf(c Change) ([]TopicEvent, error) {
	evs, err := eventsOf(c)
	numbered := map[string]int32{}
	for i := range evs {
		numbered[evs[i].Topic]++
		evs[i].Event.Index = numbered[evs[i].Topic]
	}
	return evs, err
}

func eventsOf(c Change) ([]TopicEvent, error) {
	action := map[string]string{OpInsert: ActionCreated, OpUpdate: ActionUpdated, OpDelete: ActionDeleted}[c.Op]
	if action == "" {
		return nil, nil // a RESET announces nothing row by row
	}
	base := Event{Action: action, Position: c.Position}
	switch c.Table {
	case TableOrganizations:
		ev := base
		ev.OrganizationID = c.RowID
		if err := decodeLogRow(c.NewRow, &ev.Organization, organizationLog.row); err != nil {
			return nil, err
		}
		return []TopicEvent{{TopicOrganization, ev}}, nil
	case TableEmployees:
		return employeeEvents(c, base)
	case TableProjects, TableProjectMembers:
		ev := base
		ev.ProjectID, ev.OrganizationID, ev.TeamSize = c.RowID, c.OrganizationID, c.TeamSize
		if c.Table == TableProjectMembers {
			if c.NewRow == nil {
				return nil, nil // the project itself is gone: its own change says so
			}
			ev.Action = ActionUpdated
		}
		if err := decodeLogRow(c.NewRow, &ev.Project, projectLog.row); err != nil {
			return nil, err
		}
		return []TopicEvent{{TopicProject, ev}}, nil
	case TableMetrics:
		ev := base
		if err := decodeLogRow(c.NewRow, &ev.Metric, metricLog.row); err != nil {
			return nil, err
		}
		return []TopicEvent{{TopicMetric, ev}}, nil
	}
	return nil, fmt.Errorf("change %d: unknown table %q", c.Position, c.Table)
}

// employeeEvents: the employee's own event, then one organization update
// per organization whose active head count changed.
func employeeEvents(c Change, base Event) ([]TopicEvent, error) {
	ev := base
	ev.EmployeeID, ev.OrganizationID = c.RowID, c.OrganizationID
	if err := decodeLogRow(c.NewRow, &ev.Employee, employeeLog.row); err != nil {
		return nil, err
	}
	out := []TopicEvent{{TopicEmployee, ev}}
	orgs := []int64{c.OrganizationID}
	if c.Op == OpUpdate {
		var before *db.Employee
		if err := decodeLogRow(c.OldRow, &before, employeeLog.row); err != nil {
			return nil, err
		}
		moved := c.OldOrganizationID != 0 && c.OldOrganizationID != c.OrganizationID
		switch {
		case moved:
			orgs = []int64{c.OldOrganizationID, c.OrganizationID}
		case before == nil || ev.Employee == nil || before.IsActive == ev.Employee.IsActive:
			orgs = nil // the head counts are as they were
		}
	}
	for _, id := range orgs {
		out = append(out, TopicEvent{TopicOrganization, Event{Action: ActionUpdated, OrganizationID: id, Position: c.Position}})
	}
	return out, nil
}

// decodeLogRow decodes a row the log stored with to_jsonb into *dst
// through its log type L; a NULL row leaves *dst nil.
func decodeLogRow[L any, R any](raw []byte, dst **R, conv func(L) R) error {
	if raw == nil {
		return nil
	}
	var l L
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("decode a change log row: %w", err)
	}
	r := conv(l)
	*dst = &r
	return nil
}

// The rows as to_jsonb writes them into the log: PostgreSQL's column
// names. They are the database's format, read only here; renaming a
// column changes them together with the migration that renames it.
type organizationLog struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Industry  string    `json:"industry"`
	IsActive  bool      `json:"is_active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (o organizationLog) row() db.Organization { return db.Organization(o) }

type employeeLog struct {
	ID             int64     `json:"id"`
	OrganizationID int64     `json:"organization_id"`
	Name           string    `json:"name"`
	Email          string    `json:"email"`
	Department     string    `json:"department"`
	Title          string    `json:"title"`
	Salary         float64   `json:"salary"`
	IsActive       bool      `json:"is_active"`
	HiredAt        time.Time `json:"hired_at"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func (e employeeLog) row() db.Employee { return db.Employee(e) }

type projectLog struct {
	ID             int64     `json:"id"`
	OrganizationID int64     `json:"organization_id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	Status         string    `json:"status"`
	Budget         float64   `json:"budget"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func (p projectLog) row() db.Project { return db.Project(p) }

type metricLog struct {
	ID         int64     `json:"id"`
	MetricType string    `json:"metric_type"`
	Value      float64   `json:"value"`
	Endpoint   string    `json:"endpoint"`
	StatusCode int32     `json:"status_code"`
	RecordedAt time.Time `json:"recorded_at"`
}

func (m metricLog) row() db.PerformanceMetric { return db.PerformanceMetric(m) }
