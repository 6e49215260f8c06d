package postgres_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"orgpulse/db"
	"orgpulse/postgres"
	"orgpulse/testsupport"
)

// wireTracer counts what reaches the connection: statements sent on their
// own and batches (with their sizes).
type wireTracer struct {
	mu      sync.Mutex
	single  int
	batches []int
}

func (w *wireTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.single++
	return ctx
}

func (w *wireTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (w *wireTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches = append(w.batches, data.Batch.Len())
	return ctx
}

func (w *wireTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (w *wireTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (w *wireTracer) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.single, w.batches = 0, nil
}

func (w *wireTracer) seen() (int, []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.single, slices.Clone(w.batches)
}

func TestPipeline(t *testing.T) {
	ctx := context.Background()
	tdb := testsupport.MustOpenSeededDB(t)
	pc, err := pgxpool.ParseConfig(tdb.URL)
	if err != nil {
		t.Fatal(err)
	}
	tracer := &wireTracer{}
	pc.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	orgID := tdb.MustQueryInt64(t, "SELECT min(id) FROM organizations")
	projectID := tdb.MustQueryInt64(t, "SELECT min(project_id) FROM project_members")
	direct := db.New(pool)
	wantOrg, err := direct.GetOrganization(ctx, db.GetOrganizationParams{ID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	wantTeam, err := direct.ListTeamMembersByProjectIDs(ctx, db.ListTeamMembersByProjectIDsParams{ProjectIds: []int64{projectID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(wantTeam) == 0 {
		t.Fatal("the seeded project has no team")
	}

	var org db.Organization
	var team []db.ListTeamMembersByProjectIDsRow
	getOrg := func(id int64) postgres.Step {
		return func(q *db.Queries) (err error) {
			org, err = q.GetOrganization(ctx, db.GetOrganizationParams{ID: id})
			return err
		}
	}
	getTeam := func(q *db.Queries) (err error) {
		team, err = q.ListTeamMembersByProjectIDs(ctx, db.ListTeamMembersByProjectIDsParams{ProjectIds: []int64{projectID}})
		return err
	}
	slowest := func(q *db.Queries) error {
		_, err := q.ListSlowestMetrics(ctx, db.ListSlowestMetricsParams{MetricType: "api_response", Since: time.Now().Add(-time.Hour), LimitCount: 3})
		return err
	}

	t.Run("one batch, each step its own results", func(t *testing.T) {
		tracer.reset()
		org, team = db.Organization{}, nil
		if err := postgres.Pipeline(ctx, pool, getOrg(orgID), getTeam); err != nil {
			t.Fatal(err)
		}
		if got, want := org, wantOrg; got != want {
			t.Errorf("organization = %+v, want %+v", got, want)
		}
		if got, want := team, wantTeam; !slices.Equal(got, want) {
			t.Errorf("team = %+v, want %+v", got, want)
		}
		single, batches := tracer.seen()
		if got, want := batches, []int{2}; single != 0 || !slices.Equal(got, want) {
			t.Errorf("sent %d statements alone and batches %v, want 0 and %v", single, got, want)
		}
	})

	t.Run("a failing step leaves the next its results", func(t *testing.T) {
		team = nil
		err := postgres.Pipeline(ctx, pool, getOrg(-1), getTeam)
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("err = %v, want pgx.ErrNoRows", err)
		}
		if got, want := team, wantTeam; !slices.Equal(got, want) {
			t.Errorf("team after a failed step = %+v, want %+v", got, want)
		}
		// The connection went back to the pool in a usable state.
		if _, err := direct.GetOrganization(ctx, db.GetOrganizationParams{ID: orgID}); err != nil {
			t.Fatalf("pool after the pipeline: %v", err)
		}
	})

	t.Run("a range statement runs on its own", func(t *testing.T) {
		tracer.reset()
		org = db.Organization{}
		if err := postgres.Pipeline(ctx, pool, slowest, getOrg(orgID)); err != nil {
			t.Fatal(err)
		}
		if got, want := org, wantOrg; got != want {
			t.Errorf("organization = %+v, want %+v", got, want)
		}
		single, batches := tracer.seen()
		if single != 2 || len(batches) != 0 {
			t.Errorf("sent %d statements alone and batches %v, want 2 and none", single, batches)
		}
	})

	bad := []struct {
		name string
		step postgres.Step
	}{
		{"no statement", func(*db.Queries) error { return nil }},
		{"two statements", func(q *db.Queries) error {
			if _, err := q.GetOrganization(ctx, db.GetOrganizationParams{ID: orgID}); err != nil && !errors.Is(err, postgres.ErrRecorded) {
				return err
			}
			_, err := q.GetOrganization(ctx, db.GetOrganizationParams{ID: orgID})
			return err
		}},
	}
	for _, tt := range bad {
		t.Run("rejects a step with "+tt.name, func(t *testing.T) {
			tracer.reset()
			if err := postgres.Pipeline(ctx, pool, getTeam, tt.step); err == nil {
				t.Fatal("Pipeline returned no error")
			}
			if single, batches := tracer.seen(); single != 0 || len(batches) != 0 {
				t.Errorf("sent %d statements and batches %v before rejecting the step", single, batches)
			}
		})
	}
}
