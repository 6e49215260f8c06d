package main

// Phases for scripts/scale-test.sh, which runs the same replicas against a
// Redis Cluster, Redis behind Sentinel and PostgreSQL behind PgBouncer:
//
//   - stale: a loop renames an organization through nginx and reads it back
//     twice through every replica's own port at once, while the GET load
//     and the event mutations run. Every read must show the new name (no
//     stale cached read across replicas); the second read of each replica
//     must be a cache hit (X-Debug), which tells that caching works.
//   - failover: the same load and loop, and a probe that reads an unchanged
//     organization through every replica every 100ms; then -kill-cmd
//     (SIGKILL of a Redis master) under it. No request may fail and no read
//     may be stale; the phase measures how long after the kill every
//     replica serves cache hits again (the probe) and subscribers receive
//     events again, and sends a final
//     marker every subscriber must receive. Events of mutations made
//     between the kill and the moment events flow again are not expected
//     (Redis pub/sub keeps nothing for a subscriber whose connection is
//     being moved to the new master); they are counted apart.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// failoverState is what the stale and failover phases record.
type failoverState struct {
	mu         sync.Mutex
	rounds     []staleRound
	probes     []staleRound // probeLoop's rounds: ok and allHit only
	staleReads int
	freshReads int
	windows    []window    // failover windows: events not expected
	lines      []string    // summary lines
	results    [][2]string // key=value lines for -result
}

// window is a span of time in which events are not expected.
type window struct{ from, to time.Time }

// staleRound is one rename and its reads through every replica.
type staleRound struct {
	start  time.Time
	ok     bool // the rename and all reads answered
	allHit bool // every replica's second read was a cache hit
}

const renameOrg = `mutation ClusterRename($id: ID!, $name: String!) { updateOrganization(id: $id, input: {name: $name}) { id } }`

// runPhases runs the phases -phases names, in order.
func (d *driver) runPhases(ctx context.Context) error {
	phases := map[string]func(context.Context) error{
		"1": d.phase1, "2": d.phase2, "3": d.phase3, "4": d.phase4,
		"stale": d.phaseStale, "failover": d.phaseFailover,
	}
	var list []func(context.Context) error
	for _, p := range strings.Split(d.cfg.phases, ",") {
		p = strings.TrimSpace(p)
		f, ok := phases[p]
		if !ok {
			return fmt.Errorf("unknown phase %q in -phases (want 1, 2, 3, 4, stale, failover)", p)
		}
		list = append(list, f)
	}
	for _, f := range list {
		if err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

// inWindow reports whether m was made during a failover window.
func (d *driver) inWindow(m *mutation) bool {
	d.fo.mu.Lock()
	defer d.fo.mu.Unlock()
	for _, w := range d.fo.windows {
		if m.doneAt.After(w.from) && (w.to.IsZero() || m.sentAt.Before(w.to)) {
			return true
		}
	}
	return false
}

func (d *driver) result(key string, format string, args ...any) {
	d.fo.mu.Lock()
	d.fo.results = append(d.fo.results, [2]string{key, fmt.Sprintf(format, args...)})
	d.fo.mu.Unlock()
}

// staleRound renames the cache organization through nginx, then reads it
// twice through every replica's own port.
func (d *driver) staleRound(ctx context.Context, i int) staleRound {
	r := staleRound{start: time.Now(), ok: true, allHit: true}
	name := fmt.Sprintf("clustertest cache %s r%d", d.runID, i)
	if _, err := d.gql(ctx, "mutation", d.lb, renameOrg, "ClusterRename",
		map[string]any{"id": d.cacheOrg, "name": name}, true, false); err != nil {
		d.fail("stale", "rename to %q: %v", name, err)
		r.ok, r.allHit = false, false
		return r
	}
	for _, rep := range d.replicas {
		for read := range 2 {
			v, err := d.readCache(ctx, rep.url)
			if err != nil {
				d.fail("cache", "read through %s: %v", rep.id, err)
				r.ok, r.allHit = false, false
				continue
			}
			stale := v.name != name || v.listed != name
			d.fo.mu.Lock()
			if stale {
				d.fo.staleReads++
			} else {
				d.fo.freshReads++
			}
			d.fo.mu.Unlock()
			if stale {
				d.fail("stale", "%s read organization.name %q, allOrganizations %q after the rename to %q had answered", rep.id, v.name, v.listed, name)
			}
			if !v.debug {
				d.fail("cache", "%s: no extensions.debug (the replicas need DEBUG=1)", rep.id)
			}
			if read == 1 && v.hits == 0 {
				r.allHit = false
			}
		}
	}
	return r
}

// staleLoop runs rounds until stop closes, recording each in d.fo.
func (d *driver) staleLoop(ctx context.Context, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		r := d.staleRound(ctx, i)
		d.fo.mu.Lock()
		d.fo.rounds = append(d.fo.rounds, r)
		d.fo.mu.Unlock()
		if sleep(ctx, d.cfg.mutateEvery) != nil {
			return
		}
	}
}

const probeQuery = `query ClusterProbe($id: ID!) { organization(id: $id) { employeeCount } }`

// probeLoop reads, every 100ms, a cached field (employeeCount) of an
// organization that no phase changes, through every replica's own port
// (X-Debug), until stop closes: a round without a cache hit on every
// replica tells that the cache is unavailable, or was just retired as a
// whole. The rename rounds cannot tell it: a short
// outage hides inside a rename whose invalidation waits for Redis.
func (d *driver) probeLoop(ctx context.Context, org string, stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r := staleRound{start: time.Now(), ok: true, allHit: true}
		for _, rep := range d.replicas {
			res, err := d.gql(ctx, "probe read", rep.url, probeQuery, "ClusterProbe", map[string]any{"id": org}, false, true)
			if err != nil {
				d.fail("probe", "read through %s: %v", rep.id, err)
				r.ok, r.allHit = false, false
				continue
			}
			if res.Debug == nil || res.Debug.CacheHits == 0 {
				r.allHit = false
			}
		}
		d.fo.mu.Lock()
		d.fo.probes = append(d.fo.probes, r)
		d.fo.mu.Unlock()
	}
}

// probeOrg picks an organization that no phase changes.
func (d *driver) probeOrg(ctx context.Context) (string, error) {
	res, err := d.gql(ctx, "setup", d.lb, `{ allOrganizations { id } }`, "", nil, false, false)
	if err != nil {
		return "", err
	}
	var all struct {
		List []struct{ ID string } `json:"allOrganizations"`
	}
	_ = json.Unmarshal(res.Data, &all)
	for _, o := range all.List {
		if o.ID != d.eventsOrg && o.ID != d.cacheOrg {
			return o.ID, nil
		}
	}
	return "", errors.New("no organization left to probe the cache with")
}

// background is the load every stale and failover phase runs: GET
// requests, event mutations and the stale loop.
type background struct {
	stop     chan struct{}
	loadDone chan *loadStats
	mutDone  chan int
	wg       sync.WaitGroup
}

func (d *driver) startBackground(ctx context.Context, opName string, maxDur time.Duration) *background {
	b := &background{stop: make(chan struct{}), loadDone: make(chan *loadStats, 1), mutDone: make(chan int, 1)}
	go func() { b.loadDone <- d.load(ctx, opName, b.stop, maxDur) }()
	go d.mutator(ctx, b.stop, b.mutDone)
	b.wg.Go(func() { d.staleLoop(ctx, b.stop) })
	return b
}

func (b *background) finish() (*loadStats, int) {
	close(b.stop)
	b.wg.Wait()
	return <-b.loadDone, <-b.mutDone
}

// roundsSince counts the recorded rounds that started after t.
func (d *driver) roundsSince(t time.Time) (n, miss int) {
	d.fo.mu.Lock()
	defer d.fo.mu.Unlock()
	for _, r := range d.fo.rounds {
		if r.start.After(t) {
			n++
			if !r.allHit {
				miss++
			}
		}
	}
	return n, miss
}

// probeMisses counts the probe rounds after t without hits everywhere.
func (d *driver) probeMisses(t time.Time) int {
	d.fo.mu.Lock()
	defer d.fo.mu.Unlock()
	n := 0
	for _, r := range d.fo.probes {
		if r.start.After(t) && !r.allHit {
			n++
		}
	}
	return n
}

func (d *driver) staleCounts() (stale, fresh int) {
	d.fo.mu.Lock()
	defer d.fo.mu.Unlock()
	return d.fo.staleReads, d.fo.freshReads
}

func (d *driver) phaseStale(ctx context.Context) error {
	d.phase.Store("stale")
	start := time.Now()
	b := d.startBackground(ctx, "ClusterLoadStale", 2*d.cfg.killDuration)
	_ = sleep(ctx, d.cfg.killDuration)
	st, nMut := b.finish()
	n, miss := d.roundsSince(start)
	stale, fresh := d.staleCounts()
	if n == 0 {
		d.fail("stale", "no rename round completed in %s", d.cfg.killDuration)
	}
	d.note("stale: %d renames, each read twice through all %d replicas' own ports: %d fresh reads, %d stale; %d rounds without a cache hit on every second read; %s; %d event mutations alongside",
		n, len(d.replicas), fresh, stale, miss, st, nMut)
	return nil
}

// cacheBack waits until, after at least one probe round since t without
// cache hits everywhere, two rounds in a row had them; it returns the start
// of the first of those two. missed is false when no round missed within
// 5s of t: the kill did not touch the cache.
func (d *driver) cacheBack(ctx context.Context, t time.Time, limit time.Duration) (at time.Time, missed bool, err error) {
	deadline := t.Add(limit)
	for {
		d.fo.mu.Lock()
		seenMiss, run := false, 0
		var first time.Time
		for _, r := range d.fo.probes {
			if !r.start.After(t) {
				continue
			}
			switch {
			case !r.allHit:
				seenMiss, run = true, 0
			case seenMiss:
				if run == 0 {
					first = r.start
				}
				run++
			}
		}
		d.fo.mu.Unlock()
		if seenMiss && run >= 2 {
			return first, true, nil
		}
		if !seenMiss && time.Since(t) > 5*time.Second {
			return time.Time{}, false, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, true, fmt.Errorf("caching did not resume on every replica within %s of the kill", limit)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return time.Time{}, seenMiss, err
		}
	}
}

// eventsBack sends a probe mutation until every connected subscriber
// receives its event; it returns the probe's send time.
func (d *driver) eventsBack(ctx context.Context, t time.Time, limit time.Duration) (time.Time, error) {
	deadline := t.Add(limit)
	for time.Now().Before(deadline) {
		m := d.mutate(ctx, "employee", false, "-probe")
		if m.ok && d.waitReceived(ctx, []*mutation{m}, 2*time.Second) == nil {
			return m.sentAt, nil
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
	}
	return time.Time{}, fmt.Errorf("subscribers received no event within %s of the kill", limit)
}

func (d *driver) phaseFailover(ctx context.Context) error {
	d.phase.Store("failover")
	if d.cfg.killCmd == "" {
		return errors.New("the failover phase needs -kill-cmd")
	}
	if err := d.waitAllConnected(ctx, 20*time.Second); err != nil {
		return err
	}
	org, err := d.probeOrg(ctx)
	if err != nil {
		return err
	}
	b := d.startBackground(ctx, "ClusterLoadFailover", d.cfg.failoverMax+time.Minute)
	b.wg.Go(func() { d.probeLoop(ctx, org, b.stop) })
	_ = sleep(ctx, 3*time.Second)
	staleBefore, _ := d.staleCounts()
	probesBefore := d.probeMisses(time.Time{})
	killedAt := time.Now()
	out, err := exec.CommandContext(ctx, "sh", "-c", d.cfg.killCmd).CombinedOutput()
	if probesBefore > 1 {
		// One miss per replica is the first read; more mean the probe
		// cannot tell an outage.
		d.fail("probe", "%d probe rounds without cache hits everywhere before the kill", probesBefore)
	}
	if err != nil {
		b.finish()
		return fmt.Errorf("-kill-cmd %q: %w: %s", d.cfg.killCmd, err, out)
	}
	d.logf("ran %q: %s", d.cfg.killCmd, strings.TrimSpace(string(out)))
	d.fo.mu.Lock()
	wi := len(d.fo.windows)
	// A mutation answered just before the kill may have its event published
	// by the relay after it.
	d.fo.windows = append(d.fo.windows, window{from: killedAt.Add(-time.Second)})
	d.fo.mu.Unlock()

	evAt, evErr := d.eventsBack(ctx, killedAt, d.cfg.failoverMax)
	d.fo.mu.Lock()
	d.fo.windows[wi].to = evAt
	if evErr != nil {
		d.fo.windows[wi].to = time.Now()
	}
	d.fo.mu.Unlock()
	cacheAt, touched, cacheErr := d.cacheBack(ctx, killedAt, d.cfg.failoverMax)
	_ = sleep(ctx, d.cfg.after)
	st, nMut := b.finish()
	if evErr != nil {
		d.fail("events", "%v", evErr)
	}
	if cacheErr != nil {
		d.fail("cache", "%v", cacheErr)
	}
	staleAfter, fresh := d.staleCounts()
	cacheLine := "the cache was never unavailable (the kill did not touch the cache's master?)"
	if touched && cacheErr == nil {
		cacheLine = fmt.Sprintf("cache hits on every replica again %.1fs after the kill", cacheAt.Sub(killedAt).Seconds())
		d.result("cache_back_s", "%.1f", cacheAt.Sub(killedAt).Seconds())
	}
	if evErr == nil {
		d.result("events_back_s", "%.1f", evAt.Sub(killedAt).Seconds())
	}
	n, miss := d.roundsSince(killedAt)
	d.note("failover: %s (%d probe rounds of 100ms without hits everywhere); events reach every subscriber again %.1fs after the kill; %d rename rounds since the kill (%d without hits everywhere), stale reads during and after: %d (%d fresh in all); %s; %d event mutations alongside",
		cacheLine, d.probeMisses(killedAt), evAt.Sub(killedAt).Seconds(), n, miss, staleAfter-staleBefore, fresh, st, nMut)
	d.finalMarker(ctx, "-after-failover")
	return nil
}

// printFailover adds the stale reads to the summary. d.mu is held.
func (d *driver) printFailover(w io.Writer) {
	d.fo.mu.Lock()
	defer d.fo.mu.Unlock()
	if d.fo.staleReads+d.fo.freshReads > 0 {
		fmt.Fprintf(w, "cached reads    %d through every replica after a rename, stale %d\n", d.fo.staleReads+d.fo.freshReads, d.fo.staleReads)
	}
	if events.window > 0 {
		fmt.Fprintf(w, "                not expected: %d made while Redis failed over\n", events.window)
	}
}

// writeResult writes -result: the summary's figures, one key=value a line,
// for scripts/scale-test.sh's table. d.mu is held.
func (d *driver) writeResult(total, failed, mut, mutOK int) {
	if d.cfg.resultFile == "" {
		return
	}
	d.fo.mu.Lock()
	defer d.fo.mu.Unlock()
	verdict := "PASS"
	if d.nFailures > 0 {
		verdict = "FAIL"
	}
	var b strings.Builder
	for _, kv := range [][2]string{
		{"requests", fmt.Sprint(total)}, {"failed", fmt.Sprint(failed)},
		{"mutations", fmt.Sprint(mut)}, {"mutations_ok", fmt.Sprint(mutOK)},
		{"mutations_all", fmt.Sprint(d.sent["mutation"])},
		{"stale_reads", fmt.Sprint(d.fo.staleReads)}, {"fresh_reads", fmt.Sprint(d.fo.freshReads)},
		{"events_expected", fmt.Sprint(events.expected)}, {"events_missed", fmt.Sprint(events.missed)},
		{"events_dupes", fmt.Sprint(events.dupes)}, {"events_window", fmt.Sprint(events.window)},
		{"failures", fmt.Sprint(d.nFailures)}, {"result", verdict},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	for _, kv := range d.fo.results {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	if err := os.WriteFile(d.cfg.resultFile, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "clustertest: write -result:", err)
	}
}
