package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
)

// approveAhead records bob's approval of scheduled request req at decided:
// the request is scheduled and no grant is stored.
func approveAhead(t *testing.T, db *DB, req *access.Request, decided time.Time) *access.Request {
	t.Helper()
	d := decision(bob, access.Approve, decided)
	got, err := access.RecordDecision(context.Background(), db, req.ID, d, grantFor(req, decided), ownerA, decided.Add(lease), decidedEvent(req, d))
	if err != nil {
		t.Fatalf("approve ahead %s: %v", req.ID, err)
	}
	if got.State != access.RequestScheduled || got.Grant != nil {
		t.Fatalf("approved ahead: %s, grant %+v", got.State, got.Grant)
	}
	return got
}

// startGrant is the grant the start of req at at stores.
func startGrant(req *access.Request, at time.Time) *access.Grant {
	return &access.Grant{ID: uuid.NewString(), ApprovedAt: at, ExpiresAt: req.StartsAt.Add(req.Duration), DueAt: req.StartsAt.Add(req.Duration)}
}

// A scheduled request keeps its start and zone, is found when its start
// has come (and the scheduler's next wake-up is that start), is started by
// exactly one of two replicas at once, and is never found again.
func TestScheduledStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		startsAt := t0.Add(6 * time.Hour)
		req := newRequest(alice, "db-admin", t0)
		req.StartsAt, req.StartZone = startsAt, "Europe/Berlin"
		got := mustCreate(t, db, req)
		if !got.StartsAt.Equal(startsAt) || got.StartZone != "Europe/Berlin" {
			t.Fatalf("stored start %v %q", got.StartsAt, got.StartZone)
		}
		ordinary := mustCreate(t, db, newRequest(bob, "db-admin", t0))
		if ordinary.Scheduled() {
			t.Fatal("an ordinary request has a start")
		}
		if _, ok, err := db.NextStart(ctx); err != nil || ok {
			t.Fatalf("a pending request counts as scheduled: %v %v", ok, err)
		}
		approveAhead(t, db, got, t0.Add(time.Minute))
		if next, ok, err := db.NextStart(ctx); err != nil || !ok || !next.Equal(startsAt) {
			t.Fatalf("NextStart = %v %v %v", next, ok, err)
		}
		if due, err := db.DueStarts(ctx, startsAt.Add(-time.Second), 0); err != nil || len(due) != 0 {
			t.Fatalf("due early: %d %v", len(due), err)
		}
		due, err := db.DueStarts(ctx, startsAt, 0)
		if err != nil || len(due) != 1 || due[0].ID != req.ID || due[0].State != access.RequestScheduled || !due[0].ApprovedAhead {
			t.Fatalf("due: %+v %v", due, err)
		}
		if got, _ := db.GetRequest(ctx, ordinary.ID); got.ApprovedAhead {
			t.Fatal("a pending request is marked approved ahead")
		}
		if open, _ := db.OpenRequests(ctx, alice.ObjectID); len(open) != 1 || open[0].State != access.RequestScheduled {
			t.Fatalf("open requests do not list the scheduled one: %+v", open)
		}

		ev := access.AuditEvent{Actor: botP, Action: access.ActionStarted, TargetUserID: alice.ObjectID}
		errs := race(2, func(i int) error {
			_, err := access.StartScheduled(ctx, db, req.ID, startGrant(req, startsAt), []string{ownerA, ownerB}[i], startsAt.Add(lease), ev)
			return err
		})
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrNotPending):
				t.Fatalf("StartScheduled: %v", err)
			}
		}
		if won != 1 || auditCount(t, db, req.ID, access.ActionStarted) != 1 {
			t.Fatalf("%d replicas started it", won)
		}
		got = mustGet(t, db, req.ID)
		if got.State != access.RequestApproved || got.Grant == nil || got.Grant.State != access.GrantGranting || !got.Grant.ExpiresAt.Equal(startsAt.Add(2*time.Hour)) {
			t.Fatalf("after the start: %s, grant %+v", got.State, got.Grant)
		}
		if claimed := mustClaim(t, db, ownerB, startsAt.Add(lease+time.Second), 10); len(claimed) != 1 || claimed[0].ID != got.Grant.ID {
			t.Fatalf("the started grant is not claimable once its claim ran out: %+v", claimed)
		}
		if due, _ := db.DueStarts(ctx, startsAt.Add(time.Hour), 0); len(due) != 0 {
			t.Fatal("a started request is due again")
		}
		if _, ok, _ := db.NextStart(ctx); ok {
			t.Fatal("a started request is still to start")
		}
		// The transaction's own check: a request no longer scheduled.
		err = db.WithMembership(ctx, req.GroupID, alice.ObjectID, startsAt, func(_ *access.Membership, tx access.MembershipTx) error {
			return tx.Start(req.ID, access.RequestApproved, startsAt)
		})
		if !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("Start of a started request: %v", err)
		}
	})
}

// A scheduled request is closed before its start once (cancelled,
// revoked with the revoker's decision, or missed), and closing it again, or
// closing one that is not scheduled, changes nothing.
func TestCloseScheduled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		startsAt := t0.Add(3 * time.Hour)
		for _, tc := range []struct {
			to       access.RequestState
			decision *access.Decision
		}{
			{access.RequestCancelled, nil},
			{access.RequestDenied, &access.Decision{Approver: bob, Verdict: access.Deny, Reason: "moved to Friday", DecidedAt: t0.Add(time.Hour)}},
			{access.RequestTimedOut, nil},
		} {
			req := newRequest(alice, "db-"+string(tc.to), t0)
			req.StartsAt = startsAt
			mustCreate(t, db, req)
			approveAhead(t, db, req, t0.Add(time.Minute))
			ev := access.AuditEvent{Actor: alice, Action: access.ActionCancelled, TargetUserID: alice.ObjectID}
			errs := race(2, func(int) error {
				_, err := db.CloseScheduled(ctx, req.ID, tc.to, tc.decision, t0.Add(time.Hour), ev)
				return err
			})
			if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), access.ErrNotPending) {
				t.Fatalf("%s: two closes gave %v", tc.to, errs)
			}
			got := mustGet(t, db, req.ID)
			if got.State != tc.to || got.Grant != nil {
				t.Fatalf("%s: closed as %s, grant %+v", tc.to, got.State, got.Grant)
			}
			if tc.decision != nil && (len(got.Decisions) != 2 || got.LastDecision().Reason != "moved to Friday") {
				t.Fatalf("%s: decisions %+v", tc.to, got.Decisions)
			}
			if auditCount(t, db, req.ID, access.ActionCancelled) != 1 {
				t.Fatalf("%s: audited %d times", tc.to, auditCount(t, db, req.ID, access.ActionCancelled))
			}
			if _, err := access.StartScheduled(ctx, db, req.ID, startGrant(req, startsAt), ownerA, startsAt.Add(lease), ev); !errors.Is(err, access.ErrNotPending) {
				t.Fatalf("%s: a closed request started: %v", tc.to, err)
			}
		}
		pending := mustCreate(t, db, newRequest(bob, "db-admin", t0))
		if _, err := db.CloseScheduled(ctx, pending.ID, access.RequestCancelled, nil, t0, access.AuditEvent{Actor: bob, Action: access.ActionCancelled}); !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("a pending request closed as scheduled: %v", err)
		}
		if _, err := db.CloseScheduled(ctx, pending.ID, access.RequestExpired, nil, t0, access.AuditEvent{Actor: bob, Action: access.ActionCancelled}); err == nil {
			t.Fatal("expired accepted as a closing state")
		}
	})
}
