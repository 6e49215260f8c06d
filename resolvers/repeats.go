package resolvers

// repeats recognizes the events of one feed that the relay published
// again. The relay publishes in log position order and, after a failure
// between publishing and recording its position (its session or Redis
// lost), publishes the same positions again: at least once. On one topic
// positions therefore never go back except for repeats, and one change
// may bring several events on one topic (an employee who moves updates
// both organizations), told apart by what they concern. Events without a
// position (a release before the change log) are never taken for repeats.
type repeats struct {
	last int64
	seen map[repeatKey]bool // the events of position last
}

type repeatKey struct {
	action                                  string
	organization, employee, project, metric int64
}

// again reports whether ev repeats an event this feed already delivered,
// and remembers ev when it does not.
func (r *repeats) again(ev Event) bool {
	if ev.Position == 0 {
		return false
	}
	if ev.Position < r.last {
		return true
	}
	k := repeatKey{action: ev.Action, organization: ev.OrganizationID, employee: ev.EmployeeID, project: ev.ProjectID}
	if ev.Metric != nil {
		k.metric = ev.Metric.ID
	}
	if ev.Position > r.last {
		r.last = ev.Position
		clear(r.seen)
	}
	if r.seen[k] {
		return true
	}
	if r.seen == nil {
		r.seen = map[repeatKey]bool{}
	}
	r.seen[k] = true
	return false
}
