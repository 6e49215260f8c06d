package resolvers

import (
	"time"

	"orgpulse/db"
	"orgpulse/wire"
)

// The formats this release writes to Redis and reads from it (package
// wire): every event and every cached value. The payload types below name
// their JSON fields explicitly, so that renaming a column or a generated
// struct field changes nothing another replica reads. Each pairs with one
// conversion to and one from its database row. Change a payload type in a
// way an older replica would misread, and its format needs a new version.
var (
	eventFormat           = wire.New("event", 1)
	organizationsFormat   = wire.New("cache_organizations", 1)
	summaryFormat         = wire.New("cache_performance_summary", 1)
	endpointStatsFormat   = wire.New("cache_endpoint_stats", 1)
	employeeCountFormat   = wire.New("cache_employee_count", 1)
	employeeStatsFormat   = wire.New("cache_employee_stats", 1)
	departmentStatsFormat = wire.New("cache_department_stats", 1)
)

// eventV1 is an Event on the wire. position came with the change log;
// replicas of the release before it ignore it.
type eventV1 struct {
	Position       int64           `json:"position,omitempty"`
	Index          int32           `json:"index,omitempty"` // came with cursors; older replicas ignore it
	Action         string          `json:"action"`
	OrganizationID int64           `json:"organizationId,omitempty"`
	EmployeeID     int64           `json:"employeeId,omitempty"`
	ProjectID      int64           `json:"projectId,omitempty"`
	Organization   *organizationV1 `json:"organization,omitempty"`
	Employee       *employeeV1     `json:"employee,omitempty"`
	Project        *projectV1      `json:"project,omitempty"`
	TeamSize       int32           `json:"teamSize,omitempty"`
	Metric         *metricV1       `json:"metric,omitempty"`
}

// EncodeEvent is the one conversion of an Event to its wire format, the
// payload that Publish sends (tests publish events with it too).
func EncodeEvent(ev Event) ([]byte, error) {
	return eventFormat.Marshal(eventV1{
		Position: ev.Position, Index: ev.Index, Action: ev.Action, OrganizationID: ev.OrganizationID, EmployeeID: ev.EmployeeID, ProjectID: ev.ProjectID,
		Organization: ptrTo(ev.Organization, organizationToWire), Employee: ptrTo(ev.Employee, employeeToWire),
		Project: ptrTo(ev.Project, projectToWire), TeamSize: ev.TeamSize, Metric: ptrTo(ev.Metric, metricToWire),
	})
}

// decodeEvent is the one conversion back; an event of another format
// version is wire.ErrUnknownVersion.
func decodeEvent(payload []byte) (Event, error) {
	var w eventV1
	if err := eventFormat.Unmarshal(payload, &w); err != nil {
		return Event{}, err
	}
	return Event{
		Position: w.Position, Index: w.Index, Action: w.Action, OrganizationID: w.OrganizationID, EmployeeID: w.EmployeeID, ProjectID: w.ProjectID,
		Organization: ptrTo(w.Organization, organizationV1.row), Employee: ptrTo(w.Employee, employeeV1.row),
		Project: ptrTo(w.Project, projectV1.row), TeamSize: w.TeamSize, Metric: ptrTo(w.Metric, metricV1.row),
	}, nil
}

// ptrTo converts *from, keeping nil.
func ptrTo[F, T any](from *F, conv func(F) T) *T {
	if from == nil {
		return nil
	}
	to := conv(*from)
	return &to
}

// The wire types convert to and from sqlc's rows by Go struct conversion:
// a column added, renamed or retyped in queries/ or migrations/ stops the
// build here, where its JSON name and format version are decided, instead
// of silently changing what other replicas read.
type organizationV1 struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Industry  string    `json:"industry"`
	IsActive  bool      `json:"isActive"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func organizationToWire(o db.Organization) organizationV1 { return organizationV1(o) }

func (o organizationV1) row() db.Organization { return db.Organization(o) }

type employeeV1 struct {
	ID             int64     `json:"id"`
	OrganizationID int64     `json:"organizationId"`
	Name           string    `json:"name"`
	Email          string    `json:"email"`
	Department     string    `json:"department"`
	Title          string    `json:"title"`
	Salary         float64   `json:"salary"`
	IsActive       bool      `json:"isActive"`
	HiredAt        time.Time `json:"hiredAt"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

func employeeToWire(e db.Employee) employeeV1 { return employeeV1(e) }

func (e employeeV1) row() db.Employee { return db.Employee(e) }

type projectV1 struct {
	ID             int64     `json:"id"`
	OrganizationID int64     `json:"organizationId"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	Status         string    `json:"status"`
	Budget         float64   `json:"budget"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

func projectToWire(p db.Project) projectV1 { return projectV1(p) }

func (p projectV1) row() db.Project { return db.Project(p) }

type metricV1 struct {
	ID         int64     `json:"id"`
	MetricType string    `json:"metricType"`
	Value      float64   `json:"value"`
	Endpoint   string    `json:"endpoint"`
	StatusCode int32     `json:"statusCode"`
	RecordedAt time.Time `json:"recordedAt"`
}

func metricToWire(m db.PerformanceMetric) metricV1 { return metricV1(m) }

func (m metricV1) row() db.PerformanceMetric { return db.PerformanceMetric(m) }

// cachedOrganizations is allOrganizations in the cache.
type cachedOrganizations []organizationV1

func (cachedOrganizations) WireFormat() wire.Format { return organizationsFormat }

func organizationsToWire(rows []db.Organization) cachedOrganizations {
	return convertAll[cachedOrganizations](rows, organizationToWire)
}

func (c cachedOrganizations) rows() []db.Organization {
	return convertAll[[]db.Organization](c, organizationV1.row)
}

// cachedSummary is a performanceSummary in the cache.
type cachedSummary struct {
	SampleCount  int64   `json:"sampleCount"`
	AverageValue float64 `json:"averageValue"`
	MinValue     float64 `json:"minValue"`
	MaxValue     float64 `json:"maxValue"`
	P50          float64 `json:"p50"`
	P95          float64 `json:"p95"`
	P99          float64 `json:"p99"`
}

func (cachedSummary) WireFormat() wire.Format { return summaryFormat }

func summaryToWire(s db.GetPerformanceSummaryRow) cachedSummary { return cachedSummary(s) }

func (c cachedSummary) row() db.GetPerformanceSummaryRow { return db.GetPerformanceSummaryRow(c) }

// cachedEndpointStats is an endpointStats answer in the cache.
type cachedEndpointStats []endpointStatsV1

type endpointStatsV1 struct {
	Endpoint     string  `json:"endpoint"`
	SampleCount  int64   `json:"sampleCount"`
	AverageValue float64 `json:"averageValue"`
	P50          float64 `json:"p50"`
	P95          float64 `json:"p95"`
	P99          float64 `json:"p99"`
	MaxValue     float64 `json:"maxValue"`
	ErrorRate    float64 `json:"errorRate"`
}

func (cachedEndpointStats) WireFormat() wire.Format { return endpointStatsFormat }

func endpointStatsToWire(rows []db.ListEndpointStatsRow) cachedEndpointStats {
	return convertAll[cachedEndpointStats](rows, func(r db.ListEndpointStatsRow) endpointStatsV1 { return endpointStatsV1(r) })
}

func (c cachedEndpointStats) rows() []db.ListEndpointStatsRow {
	return convertAll[[]db.ListEndpointStatsRow](c, func(r endpointStatsV1) db.ListEndpointStatsRow { return db.ListEndpointStatsRow(r) })
}

// cachedCount is Organization.employeeCount in the cache.
type cachedCount int64

func (cachedCount) WireFormat() wire.Format { return employeeCountFormat }

// countCodec converts employee counts for the cache.
var countCodec = wireCodec[int64, cachedCount]{
	toWire:   func(n int64) cachedCount { return cachedCount(n) },
	fromWire: func(c cachedCount) int64 { return int64(c) },
}

// cachedEmployeeStats is Organization.employeeStats in the cache; Stats
// is null for an organization without employees.
type cachedEmployeeStats struct {
	Stats *employeeStatsV1 `json:"stats"`
}

type employeeStatsV1 struct {
	OrganizationID int64   `json:"organizationId"`
	Total          int64   `json:"total"`
	Active         int64   `json:"active"`
	Inactive       int64   `json:"inactive"`
	AverageSalary  float64 `json:"averageSalary"`
	MaxSalary      float64 `json:"maxSalary"`
	MinSalary      float64 `json:"minSalary"`
}

func (cachedEmployeeStats) WireFormat() wire.Format { return employeeStatsFormat }

// employeeStatsCodec converts employee statistics for the cache.
var employeeStatsCodec = wireCodec[*db.ListEmployeeStatsByOrganizationIDsRow, cachedEmployeeStats]{
	toWire: func(r *db.ListEmployeeStatsByOrganizationIDsRow) cachedEmployeeStats {
		return cachedEmployeeStats{Stats: ptrTo(r, func(r db.ListEmployeeStatsByOrganizationIDsRow) employeeStatsV1 {
			return employeeStatsV1(r)
		})}
	},
	fromWire: func(c cachedEmployeeStats) *db.ListEmployeeStatsByOrganizationIDsRow {
		return ptrTo(c.Stats, func(s employeeStatsV1) db.ListEmployeeStatsByOrganizationIDsRow {
			return db.ListEmployeeStatsByOrganizationIDsRow(s)
		})
	},
}

// cachedDepartmentStats is Organization.departmentStats in the cache.
type cachedDepartmentStats []departmentStatsV1

type departmentStatsV1 struct {
	OrganizationID int64   `json:"organizationId"`
	Department     string  `json:"department"`
	EmployeeCount  int64   `json:"employeeCount"`
	AverageSalary  float64 `json:"averageSalary"`
	MinSalary      float64 `json:"minSalary"`
	MaxSalary      float64 `json:"maxSalary"`
}

func (cachedDepartmentStats) WireFormat() wire.Format { return departmentStatsFormat }

// departmentStatsCodec converts department statistics for the cache.
var departmentStatsCodec = wireCodec[[]db.ListDepartmentStatsByOrganizationIDsRow, cachedDepartmentStats]{
	toWire: func(rows []db.ListDepartmentStatsByOrganizationIDsRow) cachedDepartmentStats {
		return convertAll[cachedDepartmentStats](rows, func(r db.ListDepartmentStatsByOrganizationIDsRow) departmentStatsV1 {
			return departmentStatsV1(r)
		})
	},
	fromWire: func(c cachedDepartmentStats) []db.ListDepartmentStatsByOrganizationIDsRow {
		return convertAll[[]db.ListDepartmentStatsByOrganizationIDsRow](c, func(s departmentStatsV1) db.ListDepartmentStatsByOrganizationIDsRow {
			return db.ListDepartmentStatsByOrganizationIDsRow(s)
		})
	},
}

// wireCodec converts a loader's value to and from its cached wire type.
type wireCodec[V any, W any] struct {
	toWire   func(V) W
	fromWire func(W) V
}

// convertAll converts every element of a list between a database row and
// its wire type, in one place for every list kept in the cache.
func convertAll[Out ~[]B, In ~[]A, A, B any](in In, f func(A) B) Out {
	out := make(Out, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
