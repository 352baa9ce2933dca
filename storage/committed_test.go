package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// An approval returns the request as its transaction committed it, not as
// the caller read it before the lock: the approval card recorded in
// between is in it, and it is the request GetRequest reads afterwards.
func TestApprovalReturnsTheRequestAsCommitted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		read := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		chat := access.ConversationRef{ConversationID: "19:approvers@thread.tacv2"}
		if err := db.SetApprovalCard(ctx, read.ID, chat, "card-1"); err != nil {
			t.Fatal(err)
		}
		decided := t0.Add(5 * time.Minute)
		d := decision(bob, access.Approve, decided)
		got, _, err := access.RecordApprovalOf(ctx, db, read, d, 1, grantFor(read, decided), ownerA, decided.Add(lease), decidedEvent(read, d))
		if err != nil {
			t.Fatal(err)
		}
		if got.ApprovalActivityID != "card-1" || got.ApprovalChat != chat {
			t.Errorf("approval returned card %q in %+v, want the card recorded before the lock", got.ApprovalActivityID, got.ApprovalChat)
		}
		if got.State != access.RequestApproved || got.Grant == nil || len(got.Decisions) != 1 {
			t.Fatalf("approval returned %+v, want approved with its grant and decision", got)
		}
		if stored := mustGet(t, db, read.ID); !reflect.DeepEqual(got, stored) {
			t.Errorf("approval returned\n%+v\nGetRequest\n%+v", got, stored)
		}
	})
}

// A quorum's first approval returns the request still pending, with the
// approval counted, as committed.
func TestCountedApprovalReturnsTheRequestAsCommitted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		read := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		decided := t0.Add(5 * time.Minute)
		d := decision(bob, access.Approve, decided)
		got, counted, err := access.RecordApprovalOf(ctx, db, read, d, 2, grantFor(read, decided), ownerA, decided.Add(lease), decidedEvent(read, d))
		if err != nil {
			t.Fatal(err)
		}
		if counted != 1 || got.State != access.RequestPending || got.Grant != nil || len(got.Decisions) != 1 {
			t.Fatalf("first of two approvals returned %+v (counted %d), want pending with one decision", got, counted)
		}
		if stored := mustGet(t, db, read.ID); !reflect.DeepEqual(got, stored) {
			t.Errorf("approval returned\n%+v\nGetRequest\n%+v", got, stored)
		}
	})
}

// CompleteGrantOf completes the grant it is given without reading it
// first, returns its request as committed, and refuses, changing nothing,
// a grant that is not of the membership it names or not claimed by the
// owner.
func TestCompleteGrantOfReturnsTheRequestAsCommitted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		decided := t0.Add(5 * time.Minute)
		approved := mustApprove(t, db, req, decided)
		g := *approved.Grant
		if err := db.RecordCheck(ctx, g.ID, ownerA, false); err != nil {
			t.Fatal(err)
		}
		granted := decided.Add(time.Second)
		ev := access.AuditEvent{Action: access.ActionGranted, Actor: access.System}

		wrong := g
		wrong.User = carol
		if _, err := access.CompleteGrantOf(ctx, db, &wrong, ownerA, granted, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("completion naming another membership: error %v, want ErrStaleGrant", err)
		}
		if _, err := access.CompleteGrantOf(ctx, db, &g, ownerB, granted, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("completion by another owner: error %v, want ErrStaleGrant", err)
		}
		if cur := mustGrant(t, db, g.ID); cur.State != access.GrantGranting || cur.ClaimedBy != ownerA {
			t.Fatalf("refused completions changed the grant: %+v", cur)
		}

		got, err := access.CompleteGrantOf(ctx, db, &g, ownerA, granted, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestActive || got.Grant == nil || got.Grant.State != access.GrantActive ||
			!got.Grant.GrantedAt.Equal(granted) || got.Grant.ClaimedBy != "" || !got.Grant.Checked {
			t.Fatalf("completion returned %+v (grant %+v), want active, granted at %v, unclaimed", got, got.Grant, granted)
		}
		if stored := mustGet(t, db, req.ID); !reflect.DeepEqual(got, stored) {
			t.Errorf("completion returned\n%+v\nGetRequest\n%+v", got, stored)
		}
		if n := auditCount(t, db, req.ID, access.ActionGranted); n != 1 {
			t.Errorf("%d grant events, want 1", n)
		}
		if _, err := access.CompleteGrantOf(ctx, db, &g, ownerA, granted, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second completion: error %v, want ErrStaleGrant", err)
		}
	})
}

// A transaction's Request shows its own writes, a request row it moved
// afterwards read again, and a request it did not write as stored.
func TestMembershipTxRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		other := mustCreate(t, db, newRequest(alice, "other", t0))
		decided := t0.Add(5 * time.Minute)
		d := decision(bob, access.Approve, decided)
		g := *grantFor(req, decided)
		g.RequestID, g.ClaimedBy, g.ClaimUntil = req.ID, ownerA, decided.Add(lease)
		var afterDecide, afterMove, untouched *access.Request
		err := db.WithMembership(ctx, req.GroupID, alice.ObjectID, decided, func(_ *access.Membership, tx access.MembershipTx) error {
			if err := tx.Decide(req.ID, d, access.RequestApproved); err != nil {
				return err
			}
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
			var err error
			if afterDecide, err = tx.Request(req.ID); err != nil {
				return err
			}
			if err := tx.MoveRequest(req.ID, []access.RequestState{access.RequestApproved}, access.RequestFailed, decided.Add(time.Second)); err != nil {
				return err
			}
			if afterMove, err = tx.Request(req.ID); err != nil {
				return err
			}
			if untouched, err = tx.Request(other.ID); err != nil {
				return err
			}
			if _, err := tx.Request("no-such-request"); !errors.Is(err, access.ErrNotFound) {
				t.Errorf("Request(unknown) error %v, want ErrNotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if afterDecide.State != access.RequestApproved || len(afterDecide.Decisions) != 1 || afterDecide.Grant == nil || afterDecide.Grant.ID != g.ID {
			t.Errorf("Request after the decision = %+v, want approved with its decision and grant", afterDecide)
		}
		if afterMove.State != access.RequestFailed || !afterMove.UpdatedAt.Equal(decided.Add(time.Second)) {
			t.Errorf("Request after the move = %s updated %v, want failed at %v", afterMove.State, afterMove.UpdatedAt, decided.Add(time.Second))
		}
		if stored := mustGet(t, db, req.ID); !reflect.DeepEqual(afterMove, stored) {
			t.Errorf("Request in the transaction\n%+v\nGetRequest\n%+v", afterMove, stored)
		}
		if stored := mustGet(t, db, other.ID); !reflect.DeepEqual(untouched, stored) {
			t.Errorf("Request of an untouched request\n%+v\nGetRequest\n%+v", untouched, stored)
		}
	})
}
