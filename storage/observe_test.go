package storage

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestOnAuditSeesCommittedEventsOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		var mu sync.Mutex
		var seen []access.AuditEvent
		db.OnAudit(func(ev access.AuditEvent) {
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
		})
		req := newRequest(alice, "prod-db", t0)
		mustCreate(t, db, req)
		// A second pending request for the profile stores nothing.
		dup := newRequest(alice, "prod-db", t0.Add(time.Second))
		if _, err := db.CreateRequest(context.Background(), dup, createdEvent(dup)); !errors.Is(err, access.ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		mustApprove(t, db, req, t0.Add(time.Minute))

		mu.Lock()
		defer mu.Unlock()
		var got []access.Action
		for _, ev := range seen {
			got = append(got, ev.Action)
			if ev.Seq == 0 || ev.Hash == "" || ev.RequestID != req.ID {
				t.Errorf("event %s: seq %d, hash %q, request %q: want it as stored", ev.Action, ev.Seq, ev.Hash, ev.RequestID)
			}
		}
		if want := []access.Action{access.ActionRequested, access.ActionApproved}; !slices.Equal(got, want) {
			t.Errorf("observed %v, want %v", got, want)
		}
	})
}

func TestGrantCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		mustActiveGrant(t, db, alice, "prod-db", t0.Add(time.Hour))
		mustActiveGrant(t, db, bob, "prod-db", t0.Add(2*time.Hour))
		mustActiveGrant(t, db, carol, "billing", t0.Add(time.Hour))
		got, err := db.GrantCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got["prod-db"][access.GrantActive] != 2 || got["billing"][access.GrantActive] != 1 || len(got) != 2 {
			t.Errorf("GrantCounts = %v, want prod-db: 2 active, billing: 1 active", got)
		}
	})
}

func TestInspectChangesNothing(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		in, err := Inspect(ctx, dbURL, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if DriverOf(dbURL) == DriverSQLite && !in.Missing {
			t.Errorf("a SQLite file not yet created: %+v, want Missing", in)
		}
		if DriverOf(dbURL) == DriverPostgres && !in.Empty {
			t.Errorf("an empty PostgreSQL schema: %+v, want Empty", in)
		}
		// Inspecting created nothing: the database is still new.
		if in2, err := Inspect(ctx, dbURL, testLogger(t)); err != nil || !reflect.DeepEqual(in2, in) {
			t.Errorf("second inspection: %+v, %v; want %+v", in2, err, in)
		}

		db, err := Open(ctx, dbURL, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Mode(ctx, ModeDemo); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		in, err = Inspect(ctx, dbURL, testLogger(t))
		if err != nil || in.Missing || in.Empty || len(in.Outdated) > 0 || in.Mode != ModeDemo {
			t.Errorf("a demo database, migrated: %+v, %v", in, err)
		}
	})
}

func TestPing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		if err := db.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
