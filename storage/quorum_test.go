package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// approver is the i-th distinct approver of the quorum tests.
func approver(i int) access.Person {
	return access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", 100+i), Name: fmt.Sprintf("Approver %d", i)}
}

// approveWith records an approval by p under a quorum of required.
func approveWith(ctx context.Context, db *DB, req *access.Request, p access.Person, required int, at time.Time) (*access.Request, int, error) {
	d := decision(p, access.Approve, at)
	ev := decidedEvent(req, d)
	return access.RecordApproval(ctx, db, req.ID, d, required, grantFor(req, at), ownerA, at.Add(lease), ev)
}

func TestQuorumCountsDistinctApprovers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		got, n, err := approveWith(ctx, db, req, bob, 2, t0.Add(time.Minute))
		if err != nil || n != 1 || got.State != access.RequestPending || got.Grant != nil || len(got.Decisions) != 1 {
			t.Fatalf("first of 2: %v, %d, %+v", err, n, got)
		}
		if c := auditCount(t, db, req.ID, access.ActionApprovalCounted); c != 1 {
			t.Fatalf("%d approval_counted events, want 1", c)
		}
		if _, n, err := approveWith(ctx, db, req, bob, 2, t0.Add(2*time.Minute)); !errors.Is(err, access.ErrAlreadyApproved) || n != 1 {
			t.Fatalf("bob again: %v (%d), want ErrAlreadyApproved at 1", err, n)
		}
		if got := mustGet(t, db, req.ID); got.State != access.RequestPending || len(got.Decisions) != 1 || auditCount(t, db, req.ID, access.ActionApprovalCounted) != 1 {
			t.Fatalf("bob's second approval changed the request: %+v", got)
		}
		got, n, err = approveWith(ctx, db, req, carol, 2, t0.Add(3*time.Minute))
		if err != nil || n != 2 || got.State != access.RequestApproved || got.Grant == nil || len(got.Decisions) != 2 {
			t.Fatalf("second of 2: %v, %d, %+v", err, n, got)
		}
		if c := auditCount(t, db, req.ID, access.ActionApproved); c != 1 {
			t.Fatalf("%d approved events, want 1", c)
		}
	})
}

// TestQuorumRaces: approvals at once, as many as the quorum needs (or
// more), make exactly one grant; each approver counts once, and the
// request is approved with the quorum's approvals.
func TestQuorumRaces(t *testing.T) {
	for _, c := range []struct {
		name           string
		before, racing int
		required       int
	}{
		{"two last approvals", 1, 2, 2},
		{"two approvals from none", 0, 2, 2},
		{"eight approvals for three", 0, 8, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db *DB) {
				ctx := context.Background()
				req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
				at := t0.Add(time.Minute)
				for i := 0; i < c.before; i++ {
					if _, _, err := approveWith(ctx, db, req, approver(i), c.required, at); err != nil {
						t.Fatal(err)
					}
				}
				race(c.racing, func(int) error { _, err := db.OpenRequests(ctx, alice.ObjectID); return err })
				errs := race(c.racing, func(i int) error {
					_, _, err := approveWith(ctx, db, req, approver(c.before+i), c.required, at.Add(time.Second))
					return err
				})
				late := 0
				for _, err := range errs {
					switch {
					case errors.Is(err, access.ErrNotPending):
						late++
					case err != nil:
						t.Fatalf("approval: %v", err)
					}
				}
				got := mustGet(t, db, req.ID)
				if got.State != access.RequestApproved || got.Grant == nil || len(got.Decisions) != c.required {
					t.Fatalf("request %s with %d decisions and grant %v, want approved with %d", got.State, len(got.Decisions), got.Grant, c.required)
				}
				if late != c.before+c.racing-c.required {
					t.Fatalf("%d approvals came too late, want %d", late, c.before+c.racing-c.required)
				}
				live, err := db.LiveGrants(ctx, req.GroupID)
				if err != nil {
					t.Fatal(err)
				}
				if len(live) != 1 || auditCount(t, db, req.ID, access.ActionApproved) != 1 {
					t.Fatalf("%d live grants and %d approved events, want 1 and 1", len(live), auditCount(t, db, req.ID, access.ActionApproved))
				}
				if n := auditCount(t, db, req.ID, access.ActionApprovalCounted); n != c.required-1 {
					t.Fatalf("%d approval_counted events, want %d", n, c.required-1)
				}
			})
		})
	}
}

// TestSeverityStoredAndMigrated: a request's severity is stored, and a
// database from before severities opens, gains the column and keeps its
// requests (” for none), which new ones with a severity join.
func TestSeverityStoredAndMigrated(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		db := openTest(t, dbURL)
		old := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		if err := db.gorm.Exec("ALTER TABLE requests DROP COLUMN severity").Error; err != nil {
			t.Fatal(err)
		}
		if db.gorm.Migrator().HasColumn(&requestRow{}, "Severity") {
			t.Fatal("column not dropped")
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db2 := openTest(t, dbURL)
		if got := mustGet(t, db2, old.ID); got.Severity != "" || got.State != access.RequestPending {
			t.Fatalf("migrated request %+v", got)
		}
		r := newRequest(bob, "db-admin", t0)
		r.Severity = "sev1"
		req := mustCreate(t, db2, r)
		if got := mustGet(t, db2, req.ID); got.Severity != "sev1" {
			t.Fatalf("severity %q, want sev1", got.Severity)
		}
	})
}
