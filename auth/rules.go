package auth

// Access says which roles may select a field.
type Access int

// The levels of Rules.
const (
	// Open fields may be selected by every role; the rows they reach are
	// still scoped to the principal's organizations.
	Open Access = iota
	// AdminOrManager fields may be selected by an admin, and by a manager,
	// who only ever reaches rows of their own organizations.
	AdminOrManager
	// AdminOnly fields are the service's own performance data and the
	// creation of organizations.
	AdminOnly
)

// Allows reports whether role may select a field of this access.
func (a Access) Allows(r Role) bool {
	switch a {
	case Open:
		return r == RoleAdmin || r == RoleManager || r == RoleMember
	case AdminOrManager:
		return r == RoleAdmin || r == RoleManager
	}
	return r == RoleAdmin
}

// anyField is the key of a type's default in Rules.
const anyField = "*"

// Rules is the one table of who may select what (README "Access
// control" repeats it). A field not listed has its type's "*" entry, else
// is Open. The server checks every field of an operation against it,
// fragments included, before anything runs; a refusal names the field
// (extensions.field "Employee.salary"). Which rows a role sees is not
// here: that is the principal's scope, bound into the SQL statements.
var Rules = map[string]map[string]Access{
	"Employee":        {"salary": AdminOrManager, "email": AdminOrManager},
	"EmployeeStats":   {"averageSalary": AdminOrManager, "maxSalary": AdminOrManager, "minSalary": AdminOrManager},
	"DepartmentStats": {"averageSalary": AdminOrManager, "maxSalary": AdminOrManager, "minSalary": AdminOrManager},
	"Query":           {"performanceSummary": AdminOnly, "slowestEndpoints": AdminOnly, "endpointStats": AdminOnly},
	"Subscription":    {"metricRecorded": AdminOnly, "performanceSummaryUpdated": AdminOnly},
	// Every mutation writes: members write nothing, managers only within
	// their organizations (the resolvers check the rows).
	"Mutation": {anyField: AdminOrManager, "createOrganization": AdminOnly, "recordMetric": AdminOnly},
}

// Rule is the access of field of typeName.
func Rule(typeName, field string) Access {
	fields, ok := Rules[typeName]
	if !ok {
		return Open
	}
	if a, ok := fields[field]; ok {
		return a
	}
	return fields[anyField]
}
