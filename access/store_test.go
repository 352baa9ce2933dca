package access_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestStoreSemantics checks, on each store, the answers the service relies
// on: a second pending request, a decision on a decided request, work on a
// grant another replica holds, and a membership decision that fails half
// way all change nothing.
func TestStoreSemantics(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		st := e.store
		newReq := func(profile string) *access.Request {
			return &access.Request{Profile: profile, GroupID: prodGroup, Requester: riley, Duration: time.Hour, Justification: "x", CreatedAt: start}
		}
		ev := func(a access.Action) access.AuditEvent { return access.AuditEvent{At: start, Actor: riley, Action: a} }

		first := newReq("prod-db")
		if _, err := st.CreateRequest(ctx, first, ev(access.ActionRequested)); err != nil {
			t.Fatal(err)
		}
		events := e.auditCount()
		existing, err := st.CreateRequest(ctx, newReq("prod-db"), ev(access.ActionRequested))
		if !errors.Is(err, access.ErrDuplicate) || existing == nil || existing.ID != first.ID {
			t.Fatalf("second pending request: %v, existing %+v", err, existing)
		}
		if e.auditCount() != events {
			t.Error("a refused duplicate was audited")
		}

		deny := access.Decision{Approver: alex, Verdict: access.Deny, DecidedAt: start}
		if _, err := st.Deny(ctx, first.ID, deny, ev(access.ActionDenied)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Deny(ctx, first.ID, deny, ev(access.ActionDenied)); !errors.Is(err, access.ErrNotPending) {
			t.Errorf("second denial: %v, want ErrNotPending", err)
		}
		approve := access.Decision{Approver: alex, Verdict: access.Approve, DecidedAt: start}
		g := &access.Grant{ID: "grant-1", ExpiresAt: start.Add(time.Hour)}
		if _, err := access.RecordDecision(ctx, st, first.ID, approve, g, "replica-1", start.Add(time.Minute), ev(access.ActionApproved)); !errors.Is(err, access.ErrNotPending) {
			t.Errorf("approval of a denied request: %v, want ErrNotPending", err)
		}
		if _, err := access.RecordDecision(ctx, st, "no-such-request", approve, g, "replica-1", start.Add(time.Minute), ev(access.ActionApproved)); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("approval of an unknown request: %v, want ErrNotFound", err)
		}

		second := newReq("prod-db")
		if _, err := st.CreateRequest(ctx, second, ev(access.ActionRequested)); err != nil {
			t.Fatal(err)
		}
		approved, err := access.RecordDecision(ctx, st, second.ID, approve, g, "replica-1", start.Add(time.Minute), ev(access.ActionApproved))
		if err != nil || approved.Grant == nil || approved.Grant.State != access.GrantGranting || approved.Grant.ClaimedBy != "replica-1" {
			t.Fatalf("approval: %+v, %v", approved, err)
		}
		before := *approved.Grant
		unchanged := func(what string) {
			t.Helper()
			got, err := st.GetGrant(ctx, before.ID)
			if err != nil || !reflect.DeepEqual(*got, before) {
				t.Errorf("%s changed the grant:\n%+v\n%+v (%v)", what, before, got, err)
			}
		}
		if err := st.RecordCheck(ctx, g.ID, "replica-2", false); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RecordCheck by another replica: %v, want ErrStaleGrant", err)
		}
		if err := access.CompleteGrant(ctx, st, g.ID, "replica-2", start.Add(time.Second), ev(access.ActionGranted)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant by another replica: %v, want ErrStaleGrant", err)
		}
		if err := access.FailGrant(ctx, st, g.ID, "replica-2", "503", ev(access.ActionGrantFailed)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("FailGrant by another replica: %v, want ErrStaleGrant", err)
		}
		unchanged("work by another replica")

		// A decision that fails after writing keeps nothing it wrote.
		events = e.auditCount()
		boom := errors.New("boom")
		err = st.WithMembership(ctx, prodGroup, riley.ObjectID, start.Add(time.Second), func(m *access.Membership, tx access.MembershipTx) error {
			if len(m.Grants) != 1 || m.Grants[0].ID != g.ID {
				t.Errorf("membership grants %+v, want the one granting grant", m.Grants)
			}
			if _, err := tx.UpdateGrant(access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantGranting}, Owner: "replica-1", State: access.GrantActive, Release: true}); err != nil {
				return err
			}
			if err := tx.SetPreExisting(true, start.Add(time.Second)); err != nil {
				return err
			}
			if err := tx.Append(ev(access.ActionGranted)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithMembership: %v, want boom", err)
		}
		unchanged("a rolled-back membership decision")
		if e.auditCount() != events {
			t.Error("a rolled-back membership decision was audited")
		}
		if pre, err := st.PreExisting(ctx, prodGroup); err != nil || len(pre) != 0 {
			t.Errorf("pre-existing after the rollback: %v, %v", pre, err)
		}
	})
}
