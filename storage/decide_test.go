package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestDecideApprove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		decided := t0.Add(5 * time.Minute)
		d := decision(bob, access.Approve, decided)
		g := grantFor(req, decided)
		// Lifecycle fields are the store's: whatever the caller sets is ignored.
		g.State, g.Attempts, g.LastError, g.Shared, g.PreExisting = access.GrantActive, 3, "x", true, true

		got, err := access.RecordDecision(ctx, db, req.ID, d, g, ownerA, decided.Add(lease), decidedEvent(req, d))
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestApproved || !got.UpdatedAt.Equal(decided) {
			t.Errorf("request state = %s updated %v, want approved at %v", got.State, got.UpdatedAt, decided)
		}
		if len(got.Decisions) != 1 || !reflect.DeepEqual(got.Decisions[0], d) {
			t.Errorf("decisions = %+v, want [%+v]", got.Decisions, d)
		}
		if !reflect.DeepEqual(got, mustGet(t, db, req.ID)) {
			t.Errorf("Decide returned %+v, GetRequest %+v", got, mustGet(t, db, req.ID))
		}
		gr := got.Grant
		if gr == nil {
			t.Fatal("no grant stored")
		}
		if gr.ID == "" || gr.RequestID != req.ID || gr.State != access.GrantGranting || gr.User != alice ||
			gr.Profile != req.Profile || gr.GroupID != req.GroupID {
			t.Errorf("grant = %+v, want a granting grant of %s for Alice", gr, req.ID)
		}
		if !gr.ApprovedAt.Equal(decided) || !gr.ExpiresAt.Equal(decided.Add(req.Duration)) || !gr.DueAt.Equal(gr.ExpiresAt) {
			t.Errorf("grant times approved %v expires %v due %v, want %v, %v, %v",
				gr.ApprovedAt, gr.ExpiresAt, gr.DueAt, decided, decided.Add(req.Duration), decided.Add(req.Duration))
		}
		if gr.ClaimedBy != ownerA || !gr.ClaimUntil.Equal(decided.Add(lease)) {
			t.Errorf("grant claimed by %q until %v, want %q until %v", gr.ClaimedBy, gr.ClaimUntil, ownerA, decided.Add(lease))
		}
		if !gr.GrantedAt.IsZero() || !gr.RevokedAt.IsZero() || gr.PreExisting || gr.Shared || gr.Checked ||
			gr.Attempts != 0 || gr.LastError != "" || gr.AlertActivityID != "" {
			t.Errorf("fresh grant carries later fields: %+v", gr)
		}
		if !reflect.DeepEqual(mustGrant(t, db, gr.ID), gr) {
			t.Errorf("GetGrant = %+v, want %+v", mustGrant(t, db, gr.ID), gr)
		}
		live, err := db.LiveGrants(ctx, req.GroupID)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 1 || live[0].ID != gr.ID {
			t.Errorf("live grants = %v, want [%s]", ids(live), gr.ID)
		}
		if n := auditCount(t, db, req.ID, access.ActionApproved); n != 1 {
			t.Errorf("%d approval events, want 1", n)
		}

		// A second decision changes nothing.
		late := decision(carol, access.Deny, decided.Add(time.Minute))
		_, err = access.RecordDecision(ctx, db, req.ID, late, nil, "", time.Time{}, decidedEvent(req, late))
		if !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("second Decide error = %v, want ErrNotPending", err)
		}
		lateApprove := decision(carol, access.Approve, decided.Add(time.Minute))
		_, err = access.RecordDecision(ctx, db, req.ID, lateApprove, grantFor(req, decided), ownerB, decided.Add(lease), decidedEvent(req, lateApprove))
		if !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("second approval error = %v, want ErrNotPending", err)
		}
		after := mustGet(t, db, req.ID)
		if after.State != access.RequestApproved || len(after.Decisions) != 1 || after.Grant.ID != gr.ID || after.Grant.ClaimedBy != ownerA {
			t.Errorf("late decisions changed the request: %+v", after)
		}
		if n := auditCount(t, db, req.ID, access.ActionDenied); n != 0 {
			t.Errorf("late decision wrote %d audit events", n)
		}

		_, err = access.RecordDecision(ctx, db, "no-such-request", d, grantFor(req, decided), ownerA, decided.Add(lease), decidedEvent(req, d))
		if !errors.Is(err, access.ErrNotFound) {
			t.Errorf("Decide(unknown) error = %v, want ErrNotFound", err)
		}
		other := mustCreate(t, db, newRequest(carol, "db-admin", t0))
		if _, err := access.RecordDecision(ctx, db, other.ID, d, nil, ownerA, decided.Add(lease), decidedEvent(other, d)); err == nil {
			t.Error("approval without a grant accepted")
		}
		if _, err := access.RecordDecision(ctx, db, other.ID, d, grantFor(other, decided), "", decided.Add(lease), decidedEvent(other, d)); err == nil {
			t.Error("approval without an owner accepted")
		}
		if _, err := access.RecordDecision(ctx, db, other.ID, d, grantFor(other, decided), ownerA, time.Time{}, decidedEvent(other, d)); err == nil {
			t.Error("approval with a claim that never ends accepted")
		}
		if got := mustGet(t, db, other.ID); got.State != access.RequestPending || got.Grant != nil || len(got.Decisions) != 0 {
			t.Errorf("rejected approvals changed the request: %+v", got)
		}
	})
}

func TestDecideSharedMembership(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		approve := func(user access.Person, profile, group string, at time.Time) *access.Request {
			t.Helper()
			req := mustCreate(t, db, sharedRequest(user, profile, group, at))
			return mustApprove(t, db, req, at.Add(time.Minute))
		}

		first := approve(alice, "p1", "g-shared", t0)
		if first.Grant.State != access.GrantGranting || first.Grant.Shared || first.State != access.RequestApproved {
			t.Fatalf("first grant %s shared %v, request %s; want granting, not shared, approved",
				first.Grant.State, first.Grant.Shared, first.State)
		}
		// The same membership through another profile: shared, active at once.
		second := approve(alice, "p2", "g-shared", t0.Add(time.Minute))
		decided := t0.Add(2 * time.Minute)
		if second.Grant.State != access.GrantActive || !second.Grant.Shared || second.State != access.RequestActive ||
			!second.Grant.GrantedAt.Equal(decided) {
			t.Errorf("second grant %s shared %v granted %v, request %s; want active, shared, granted at %v, active",
				second.Grant.State, second.Grant.Shared, second.Grant.GrantedAt, second.State, decided)
		}
		// It has no work in hand, so it holds no claim.
		if second.Grant.ClaimedBy != "" || !second.Grant.ClaimUntil.IsZero() {
			t.Errorf("shared grant claimed by %q until %v, want no claim", second.Grant.ClaimedBy, second.Grant.ClaimUntil)
		}
		if n := auditCount(t, db, second.ID, access.ActionApproved); n != 1 {
			t.Errorf("%d approval events for the shared grant, want 1", n)
		}
		// Another user, or another group: nothing shared.
		if other := approve(bob, "p3", "g-shared", t0); other.Grant.Shared || other.Grant.State != access.GrantGranting {
			t.Errorf("Bob's grant is %s shared %v, want granting, not shared", other.Grant.State, other.Grant.Shared)
		}
		if other := approve(alice, "p4", "g-other", t0); other.Grant.Shared || other.Grant.State != access.GrantGranting {
			t.Errorf("grant on another group is %s shared %v, want granting, not shared", other.Grant.State, other.Grant.Shared)
		}

		// A failed grant holds nothing.
		failed := approve(carol, "p5", "g-fail", t0)
		if err := access.FailGrant(ctx, db, failed.Grant.ID, ownerA, "403", access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		if after := approve(carol, "p6", "g-fail", t0); after.Grant.Shared {
			t.Error("a grant after a failed one is shared")
		}

		// A revoking grant does not hold the membership; an irrevocable one does.
		x := mustActiveGrant(t, db, carol, "p7", t0.Add(time.Hour))
		now := t0.Add(2 * time.Hour)
		mustClaim(t, db, ownerA, now, 0)
		if remove, err := access.PlanRevoke(ctx, db, x.ID, ownerA, now, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Fatalf("PlanRevoke = %v, %v; want remove", remove, err)
		}
		whileRevoking := approve(carol, "p8", x.GroupID, now)
		if whileRevoking.Grant.Shared || whileRevoking.Grant.State != access.GrantGranting {
			t.Errorf("grant approved while the membership is being removed is %s shared %v, want granting, not shared",
				whileRevoking.Grant.State, whileRevoking.Grant.Shared)
		}
		if err := access.FailGrant(ctx, db, whileRevoking.Grant.ID, ownerA, "403", access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		if err := db.RetryRevoke(ctx, x.ID, ownerA, access.RevokeFailure{Attempts: 5, NextDue: now.Add(time.Hour), Error: "403", Irrevocable: true}, access.AuditEvent{At: now, Actor: botP, Action: access.ActionIrrevocable}); err != nil {
			t.Fatal(err)
		}
		whileIrrevocable := approve(carol, "p9", x.GroupID, now)
		if !whileIrrevocable.Grant.Shared || whileIrrevocable.Grant.State != access.GrantActive {
			t.Errorf("grant approved while an irrevocable grant holds the membership is %s shared %v, want active, shared",
				whileIrrevocable.Grant.State, whileIrrevocable.Grant.Shared)
		}
	})
}

// Concurrent approvals of different requests for one membership add it once:
// exactly one grant is granting, the others share it.
func TestDecideConcurrentSameMembership(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		// An earlier grant of the membership failed: its ledger row exists, so
		// only the lock (not the insert of the row) serialises the approvals.
		earlier := mustApprove(t, db, mustCreate(t, db, sharedRequest(alice, "earlier", "g-shared", t0)), t0).Grant
		if err := access.FailGrant(ctx, db, earlier.ID, ownerA, "503", access.AuditEvent{At: t0, Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		const n = 20
		reqs := make([]*access.Request, n)
		for i := range reqs {
			reqs[i] = mustCreate(t, db, sharedRequest(alice, fmt.Sprintf("p%02d", i), "g-shared", t0))
		}
		// Open the connections first, so that the approvals start together.
		race(n, func(int) error { _, err := db.OpenRequests(ctx, alice.ObjectID); return err })
		decided := t0.Add(time.Minute)
		errs := race(n, func(i int) error {
			d := decision(bob, access.Approve, decided)
			_, err := access.RecordDecision(ctx, db, reqs[i].ID, d, grantFor(reqs[i], decided), ownerA, decided.Add(lease), decidedEvent(reqs[i], d))
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Decide %d: %v", i, err)
			}
		}
		live, err := db.LiveGrants(ctx, "g-shared")
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != n {
			t.Fatalf("%d live grants, want %d", len(live), n)
		}
		granting, shared := 0, 0
		for _, g := range live {
			req := mustGet(t, db, g.RequestID)
			switch {
			case g.State == access.GrantGranting && !g.Shared && req.State == access.RequestApproved:
				granting++
			case g.State == access.GrantActive && g.Shared && req.State == access.RequestActive && g.GrantedAt.Equal(decided):
				shared++
			default:
				t.Errorf("grant %s is %s shared %v granted %v, request %s", g.ID, g.State, g.Shared, g.GrantedAt, req.State)
			}
			if n := auditCount(t, db, g.RequestID, access.ActionApproved); n != 1 {
				t.Errorf("%d approval events for %s, want 1", n, g.RequestID)
			}
		}
		if granting != 1 || shared != n-1 {
			t.Errorf("%d granting and %d shared grants, want 1 and %d", granting, shared, n-1)
		}
		var rows int64
		if err := db.gorm.Model(&ledgerRow{}).Count(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Errorf("%d ledger rows, want 1", rows)
		}
	})
}

func TestDecideConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		const n = 20
		type result struct {
			verdict access.Verdict
			req     *access.Request
			err     error
		}
		results := race(n, func(i int) result {
			v, approver := access.Approve, bob
			var g *access.Grant
			if i%2 == 1 {
				v, approver = access.Deny, carol
			}
			d := decision(approver, v, t0.Add(time.Duration(i+1)*time.Second))
			if v == access.Approve {
				g = grantFor(req, d.DecidedAt)
			}
			got, err := access.RecordDecision(ctx, db, req.ID, d, g, ownerA, d.DecidedAt.Add(lease), decidedEvent(req, d))
			return result{verdict: v, req: got, err: err}
		})

		var wins []result
		for _, r := range results {
			switch {
			case r.err == nil:
				wins = append(wins, r)
			case !errors.Is(r.err, access.ErrNotPending):
				t.Fatalf("Decide error = %v, want nil or ErrNotPending", r.err)
			}
		}
		if len(wins) != 1 {
			t.Fatalf("%d decisions succeeded, want exactly 1", len(wins))
		}
		win := wins[0]
		got := mustGet(t, db, req.ID)
		if len(got.Decisions) != 1 || got.Decisions[0].Verdict != win.verdict {
			t.Errorf("decisions = %+v, want the winning %s only", got.Decisions, win.verdict)
		}
		wantState, wantAction, otherAction := access.RequestDenied, access.ActionDenied, access.ActionApproved
		if win.verdict == access.Approve {
			wantState, wantAction, otherAction = access.RequestApproved, access.ActionApproved, access.ActionDenied
		}
		if got.State != wantState {
			t.Errorf("state = %s, want %s", got.State, wantState)
		}
		if (got.Grant != nil) != (win.verdict == access.Approve) {
			t.Errorf("grant = %+v after a %s", got.Grant, win.verdict)
		}
		live, err := db.LiveGrants(ctx, req.GroupID)
		if err != nil {
			t.Fatal(err)
		}
		if wantGrants := map[bool]int{true: 1, false: 0}[win.verdict == access.Approve]; len(live) != wantGrants {
			t.Errorf("%d grants stored, want %d", len(live), wantGrants)
		}
		if n := auditCount(t, db, req.ID, wantAction); n != 1 {
			t.Errorf("%d %s events, want 1", n, wantAction)
		}
		if n := auditCount(t, db, req.ID, otherAction); n != 0 {
			t.Errorf("%d %s events, want 0", n, otherAction)
		}
	})
}
