package resolvers

import "testing"

// TestRepeatsDropsWhatTheRelayPublishedAgain: a relay that lost its session
// after publishing positions 2 to 4 publishes them again; the feed passes
// each event once, including the two organization events of one change.
func TestRepeatsDropsWhatTheRelayPublishedAgain(t *testing.T) {
	org := func(pos, id int64) Event { return Event{Position: pos, Action: ActionUpdated, OrganizationID: id} }
	stream := []Event{org(1, 7), org(2, 7), org(3, 7), org(3, 8), org(4, 9),
		org(2, 7), org(3, 7), org(3, 8), org(4, 9), org(5, 7), {Action: ActionUpdated, OrganizationID: 7}}
	var r repeats
	var passed []Event
	for _, ev := range stream {
		if !r.again(ev) {
			passed = append(passed, ev)
		}
	}
	want := []Event{org(1, 7), org(2, 7), org(3, 7), org(3, 8), org(4, 9), org(5, 7), {Action: ActionUpdated, OrganizationID: 7}}
	if len(passed) != len(want) {
		t.Fatalf("passed %+v, want %+v", passed, want)
	}
	for i := range want {
		if passed[i] != want[i] {
			t.Fatalf("event %d: %+v, want %+v", i, passed[i], want[i])
		}
	}
}
