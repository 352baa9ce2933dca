package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestRecordCheckAndCompleteGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		g := mustApprove(t, db, req, t0.Add(time.Minute)).Grant

		if err := db.RecordCheck(ctx, g.ID, ownerB, true); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RecordCheck by another owner: %v, want ErrStaleGrant", err)
		}
		if got := mustGrant(t, db, g.ID); got.Checked || got.PreExisting {
			t.Errorf("stale RecordCheck changed the grant: %+v", got)
		}
		if err := db.RecordCheck(ctx, g.ID, ownerA, true); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, g.ID); !got.Checked || !got.PreExisting || got.State != access.GrantGranting || got.ClaimedBy != ownerA {
			t.Errorf("after RecordCheck grant = %+v, want checked, pre-existing, still granting and claimed", got)
		}
		// The answer is recorded once: a second check changes nothing.
		if err := db.RecordCheck(ctx, g.ID, ownerA, false); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second RecordCheck: %v, want ErrStaleGrant", err)
		}
		if got := mustGrant(t, db, g.ID); !got.Checked || !got.PreExisting {
			t.Errorf("second RecordCheck changed the grant: %+v", got)
		}
		if err := db.RecordCheck(ctx, "no-such-grant", ownerA, true); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("RecordCheck(unknown): %v, want ErrNotFound", err)
		}

		granted := t0.Add(time.Minute + 3*time.Second)
		ev := access.AuditEvent{Actor: botP, Action: access.ActionPreExisting, TargetUserID: alice.ObjectID}
		if err := access.CompleteGrant(ctx, db, g.ID, ownerB, granted, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant by another owner: %v, want ErrStaleGrant", err)
		}
		if err := access.CompleteGrant(ctx, db, g.ID, "", granted, ev); err == nil || errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant without an owner: %v, want an argument error", err)
		}
		if n := auditCount(t, db, req.ID, access.ActionPreExisting); n != 0 {
			t.Errorf("refused CompleteGrant calls wrote %d events", n)
		}
		if err := access.CompleteGrant(ctx, db, g.ID, ownerA, granted, ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, req.ID)
		if got.State != access.RequestActive || got.Grant.State != access.GrantActive {
			t.Errorf("after CompleteGrant request %s grant %s, want both active", got.State, got.Grant.State)
		}
		if !got.Grant.GrantedAt.Equal(granted) || !got.Grant.PreExisting || !got.Grant.Checked {
			t.Errorf("grant granted at %v pre-existing %v, want %v and true", got.Grant.GrantedAt, got.Grant.PreExisting, granted)
		}
		if got.Grant.ClaimedBy != "" || !got.Grant.ClaimUntil.IsZero() {
			t.Errorf("claim not released: %q until %v", got.Grant.ClaimedBy, got.Grant.ClaimUntil)
		}
		if last := lastEvent(t, db, req.ID); last.Action != access.ActionPreExisting || !last.At.Equal(granted) || last.RequestID != req.ID {
			t.Errorf("last audit event = %+v, want %s for %s at %v", last, access.ActionPreExisting, req.ID, granted)
		}
		pre, err := db.PreExisting(ctx, req.GroupID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{alice.ObjectID}; !equalStrings(pre, want) {
			t.Errorf("PreExisting = %v, want %v", pre, want)
		}

		// Completing twice is stale and writes nothing; so is a late check.
		if err := access.CompleteGrant(ctx, db, g.ID, ownerA, granted.Add(time.Second), ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second CompleteGrant error = %v, want ErrStaleGrant", err)
		}
		if err := db.RecordCheck(ctx, g.ID, ownerA, false); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RecordCheck of an active grant: %v, want ErrStaleGrant", err)
		}
		if n := auditCount(t, db, req.ID, access.ActionPreExisting); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionPreExisting)
		}
		if got := mustGrant(t, db, g.ID); !got.PreExisting || !got.GrantedAt.Equal(granted) {
			t.Errorf("stale calls changed the grant: %+v", got)
		}
		if err := access.CompleteGrant(ctx, db, "no-such-grant", ownerA, granted, ev); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("CompleteGrant(unknown) error = %v, want ErrNotFound", err)
		}

		// The pre-existing membership is left in place at expiry...
		now := g.DueAt.Add(time.Minute)
		mustClaim(t, db, ownerA, now, 0)
		remove, err := access.PlanRevoke(ctx, db, g.ID, ownerA, now, revokeEvent(access.ActionRevoking))
		if err != nil || remove {
			t.Fatalf("PlanRevoke of a pre-existing grant = %v, %v; want no removal", remove, err)
		}
		// ...and a later grant that checked and found no membership (it was
		// removed outside jitbot meanwhile) clears the mark.
		later := mustCreate(t, db, newRequest(alice, "db-admin", now))
		lg := mustApprove(t, db, later, now.Add(time.Minute)).Grant
		if lg.Shared {
			t.Fatal("grant after the pre-existing one ended is shared")
		}
		if err := db.RecordCheck(ctx, lg.ID, ownerA, false); err != nil {
			t.Fatal(err)
		}
		if err := access.CompleteGrant(ctx, db, lg.ID, ownerA, now.Add(2*time.Minute), access.AuditEvent{Actor: botP, Action: access.ActionGranted}); err != nil {
			t.Fatal(err)
		}
		if pre, err := db.PreExisting(ctx, req.GroupID); err != nil || len(pre) != 0 {
			t.Errorf("PreExisting after a checked, added grant = %v, %v; want none", pre, err)
		}
	})
}

func TestFailGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		g := mustApprove(t, db, req, t0.Add(time.Minute)).Grant
		ev := access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed, Reason: "403 Forbidden"}
		if err := access.FailGrant(ctx, db, g.ID, ownerB, "403 Forbidden", ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("FailGrant by another owner: %v, want ErrStaleGrant", err)
		}
		if err := access.FailGrant(ctx, db, g.ID, ownerA, "403 Forbidden", ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, req.ID)
		if got.State != access.RequestFailed || got.Grant.State != access.GrantFailed || got.Grant.LastError != "403 Forbidden" {
			t.Errorf("after FailGrant request %s grant %s (%q), want failed, failed, the reason",
				got.State, got.Grant.State, got.Grant.LastError)
		}
		if got.Grant.ClaimedBy != "" || !got.Grant.ClaimUntil.IsZero() {
			t.Errorf("failed grant still claimed by %q until %v", got.Grant.ClaimedBy, got.Grant.ClaimUntil)
		}
		if n := auditCount(t, db, req.ID, access.ActionGrantFailed); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionGrantFailed)
		}
		if live, err := db.LiveGrants(ctx, req.GroupID); err != nil || len(live) != 0 {
			t.Errorf("live grants = %v, %v; want none", ids(live), err)
		}
		if gs := mustClaim(t, db, ownerA, t0.Add(24*time.Hour), 0); len(gs) != 0 {
			t.Errorf("a failed grant was claimed: %v", ids(gs))
		}
		if err := access.CompleteGrant(ctx, db, g.ID, ownerA, t0, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant of a failed grant: %v, want ErrStaleGrant", err)
		}
		if err := access.FailGrant(ctx, db, g.ID, ownerA, "again", ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second FailGrant: %v, want ErrStaleGrant", err)
		}
		if err := access.FailGrant(ctx, db, "no-such-grant", ownerA, "x", ev); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("FailGrant(unknown): %v, want ErrNotFound", err)
		}
		// The failed request no longer blocks a new one.
		mustCreate(t, db, newRequest(alice, "db-admin", t0.Add(time.Hour)))
	})
}

// Grants that shared the membership of a grant whose add failed hold nothing:
// they go back to granting so that the membership is added for them.
func TestFailGrantRescuesSharedGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		var grants []*access.Grant
		for i := range 3 {
			req := mustCreate(t, db, sharedRequest(alice, fmt.Sprintf("p%d", i), "g-shared", t0))
			grants = append(grants, mustApprove(t, db, req, t0.Add(time.Duration(i+1)*time.Minute)).Grant)
		}
		owner, s1, s2 := grants[0], grants[1], grants[2]
		if owner.Shared || !s1.Shared || !s2.Shared {
			t.Fatalf("shared = %v %v %v, want false true true", owner.Shared, s1.Shared, s2.Shared)
		}
		at := t0.Add(10 * time.Minute)
		if err := access.FailGrant(ctx, db, owner.ID, ownerA, "403", access.AuditEvent{At: at, Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*access.Grant{s1, s2} {
			got := mustGrant(t, db, s.ID)
			if got.State != access.GrantGranting || got.Shared || got.Checked || got.ClaimedBy != "" || !got.ClaimUntil.IsZero() {
				t.Errorf("shared grant after the failure = %+v, want granting, not shared, unchecked, unclaimed", got)
			}
			if n := auditCount(t, db, s.RequestID, access.ActionRegranted); n != 1 {
				t.Errorf("%d %s events for %s, want 1", n, access.ActionRegranted, s.RequestID)
			}
			if req := mustGet(t, db, s.RequestID); req.State != access.RequestActive {
				t.Errorf("request of the shared grant is %s, want still active", req.State)
			}
		}
		// Any replica picks them up at once.
		claimed := mustClaim(t, db, ownerB, at, 0)
		if want := []string{s1.ID, s2.ID}; !equalStrings(ids(claimed), want) {
			t.Errorf("claimed %v, want %v", ids(claimed), want)
		}
		// The next to fail leaves the last one granting (nothing shared is left).
		if err := access.FailGrant(ctx, db, s1.ID, ownerB, "403", access.AuditEvent{At: at, Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, s2.ID); got.State != access.GrantGranting || got.ClaimedBy != ownerB {
			t.Errorf("remaining grant = %+v, want granting, claimed by %s", got, ownerB)
		}

		// When another grant still holds the membership, shared grants stay.
		hold := mustActiveGrant(t, db, bob, "h0", t0.Add(time.Hour))
		req := mustCreate(t, db, sharedRequest(bob, "h1", hold.GroupID, t0))
		shared := mustApprove(t, db, req, t0.Add(time.Minute)).Grant
		req2 := mustCreate(t, db, sharedRequest(bob, "h2", hold.GroupID, t0))
		failing := mustApprove(t, db, req2, t0.Add(time.Minute)).Grant
		// Only a re-add makes a granting grant next to an active one: do it by hand.
		if err := db.gorm.Model(&grantRow{}).Where("id = ?", failing.ID).
			Updates(map[string]any{"state": string(access.GrantGranting), "shared": false, "claimed_by": ownerA, "claim_until": t0.Add(time.Hour)}).Error; err != nil {
			t.Fatal(err)
		}
		if err := access.FailGrant(ctx, db, failing.ID, ownerA, "403", access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, shared.ID); got.State != access.GrantActive || !got.Shared {
			t.Errorf("grant sharing a held membership = %s shared %v, want active, shared", got.State, got.Shared)
		}
	})
}

func TestPlanAndFinishRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		now := t0.Add(2 * time.Hour)
		if claimed := mustClaim(t, db, ownerA, now, 0); !equalStrings(ids(claimed), []string{g.ID}) {
			t.Fatalf("claimed %v, want [%s]", ids(claimed), g.ID)
		}
		if _, err := access.PlanRevoke(ctx, db, g.ID, ownerB, now, revokeEvent(access.ActionRevoking)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("PlanRevoke by another owner: %v, want ErrStaleGrant", err)
		}
		remove, err := access.PlanRevoke(ctx, db, g.ID, ownerA, now, revokeEvent(access.ActionRevoking))
		if err != nil || !remove {
			t.Fatalf("PlanRevoke = %v, %v; want remove", remove, err)
		}
		got := mustGet(t, db, g.RequestID)
		if got.Grant.State != access.GrantRevoking || got.Grant.ClaimedBy != ownerA || got.State != access.RequestActive {
			t.Errorf("after PlanRevoke grant %s claimed by %q, request %s; want revoking, %s, active",
				got.Grant.State, got.Grant.ClaimedBy, got.State, ownerA)
		}
		if last := lastEvent(t, db, g.RequestID); last.Action != access.ActionRevoking || !last.At.Equal(now) {
			t.Errorf("last event = %+v, want %s at %v", last, access.ActionRevoking, now)
		}
		// The process died before the removal was recorded: planning again
		// keeps the intent.
		remove, err = access.PlanRevoke(ctx, db, g.ID, ownerA, now, revokeEvent(access.ActionRevoking))
		if err != nil || !remove {
			t.Fatalf("second PlanRevoke = %v, %v; want remove", remove, err)
		}
		if st := mustGrant(t, db, g.ID).State; st != access.GrantRevoking {
			t.Errorf("state after the second PlanRevoke = %s, want revoking", st)
		}

		if _, err := access.FinishRevoke(ctx, db, g.ID, ownerB, now, revokeEvent(access.ActionRevoked)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("FinishRevoke by another owner: %v, want ErrStaleGrant", err)
		}
		revokedAt := now.Add(time.Second)
		readd, err := access.FinishRevoke(ctx, db, g.ID, ownerA, revokedAt, revokeEvent(access.ActionRevoked))
		if err != nil || len(readd) != 0 {
			t.Fatalf("FinishRevoke = %v, %v; want nothing to add again", ids(readd), err)
		}
		got = mustGet(t, db, g.RequestID)
		if got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked || !got.Grant.RevokedAt.Equal(revokedAt) ||
			got.Grant.ClaimedBy != "" || !got.Grant.ClaimUntil.IsZero() {
			t.Errorf("after FinishRevoke request %s grant %+v, want expired, revoked at %v, unclaimed", got.State, got.Grant, revokedAt)
		}
		if want := []access.Action{access.ActionRequested, access.ActionApproved, access.ActionGranted,
			access.ActionRevoking, access.ActionRevoking, access.ActionRevoked}; !reflect.DeepEqual(auditActions(t, db, g.RequestID), want) {
			t.Errorf("audit = %v, want %v", auditActions(t, db, g.RequestID), want)
		}
		if last := lastEvent(t, db, g.RequestID); !last.At.Equal(revokedAt) {
			t.Errorf("revocation audited at %v, want %v", last.At, revokedAt)
		}
		if _, ok, _ := db.NextDue(ctx); ok {
			t.Error("NextDue still reports a revoked grant")
		}
		if live, _ := db.LiveGrants(ctx, g.GroupID); len(live) != 0 {
			t.Errorf("live grants after revocation = %v", ids(live))
		}
		// Everything after the end is stale and writes nothing.
		if _, err := access.FinishRevoke(ctx, db, g.ID, ownerA, revokedAt, revokeEvent(access.ActionRevoked)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second FinishRevoke: %v, want ErrStaleGrant", err)
		}
		if _, err := access.PlanRevoke(ctx, db, g.ID, ownerA, revokedAt, revokeEvent(access.ActionRevoking)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("PlanRevoke of a revoked grant: %v, want ErrStaleGrant", err)
		}
		if n := auditCount(t, db, g.RequestID, access.ActionRevoked); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionRevoked)
		}
		if _, err := access.PlanRevoke(ctx, db, "no-such-grant", ownerA, now, revokeEvent(access.ActionRevoking)); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("PlanRevoke(unknown): %v, want ErrNotFound", err)
		}
		if _, err := access.FinishRevoke(ctx, db, "no-such-grant", ownerA, now, revokeEvent(access.ActionRevoked)); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("FinishRevoke(unknown): %v, want ErrNotFound", err)
		}

		// A granting grant is not revoked (it is claimed for adding).
		req := mustCreate(t, db, newRequest(bob, "db-admin", t0))
		gr := mustApprove(t, db, req, t0).Grant
		if _, err := access.PlanRevoke(ctx, db, gr.ID, ownerA, now, revokeEvent(access.ActionRevoking)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("PlanRevoke of a granting grant: %v, want ErrStaleGrant", err)
		}
	})
}

func TestPlanRevokeKeepsMembership(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		// Another grant holds the membership.
		first := mustActiveGrant(t, db, alice, "p1", t0.Add(time.Hour))
		req := mustCreate(t, db, sharedRequest(alice, "p2", first.GroupID, t0))
		second := mustApprove(t, db, req, t0.Add(time.Minute)).Grant // expires t0+2h01
		if !second.Shared {
			t.Fatal("second grant is not shared")
		}
		now := t0.Add(90 * time.Minute)
		if claimed := mustClaim(t, db, ownerA, now, 0); !equalStrings(ids(claimed), []string{first.ID}) {
			t.Fatalf("claimed %v, want [%s]", ids(claimed), first.ID)
		}
		ev := revokeEvent(access.ActionRevoking)
		ev.TargetUserID = alice.ObjectID
		remove, err := access.PlanRevoke(ctx, db, first.ID, ownerA, now, ev)
		if err != nil || remove {
			t.Fatalf("PlanRevoke = %v, %v; want the membership kept", remove, err)
		}
		got := mustGet(t, db, first.RequestID)
		if got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked || !got.Grant.RevokedAt.Equal(now) || got.Grant.ClaimedBy != "" {
			t.Errorf("kept grant: request %s grant %+v; want expired, revoked at %v, unclaimed", got.State, got.Grant, now)
		}
		last := lastEvent(t, db, first.RequestID)
		if last.Action != access.ActionRevoked || last.Reason != access.ReasonKept || last.TargetUserID != alice.ObjectID || !last.At.Equal(now) {
			t.Errorf("last event = %+v, want %s %q", last, access.ActionRevoked, access.ReasonKept)
		}
		if n := auditCount(t, db, first.RequestID, access.ActionRevoking); n != 0 {
			t.Errorf("%d %s events for a kept membership, want 0", n, access.ActionRevoking)
		}
		if got := mustGrant(t, db, second.ID); got.State != access.GrantActive {
			t.Errorf("the other grant is %s, want active", got.State)
		}
		// The last grant removes it.
		later := second.DueAt.Add(time.Minute)
		mustClaim(t, db, ownerA, later, 0)
		if remove, err := access.PlanRevoke(ctx, db, second.ID, ownerA, later, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Errorf("PlanRevoke of the last grant = %v, %v; want remove", remove, err)
		}

		// A pre-existing membership, recorded in the ledger by an earlier
		// grant, outlives a later grant that never checked.
		pre := mustCreate(t, db, newRequest(bob, "p3", t0))
		pg := mustApprove(t, db, pre, t0).Grant
		if err := db.RecordCheck(ctx, pg.ID, ownerA, true); err != nil {
			t.Fatal(err)
		}
		if err := access.CompleteGrant(ctx, db, pg.ID, ownerA, t0, access.AuditEvent{Actor: botP, Action: access.ActionPreExisting}); err != nil {
			t.Fatal(err)
		}
		now = pg.DueAt
		mustClaim(t, db, ownerA, now, 0)
		if remove, err := access.PlanRevoke(ctx, db, pg.ID, ownerA, now, revokeEvent(access.ActionRevoking)); err != nil || remove {
			t.Fatalf("PlanRevoke of a pre-existing grant = %v, %v; want no removal", remove, err)
		}
		if last := lastEvent(t, db, pre.ID); last.Action != access.ActionRevokeSkipped || last.Reason != access.ReasonPreExisting {
			t.Errorf("last event = %+v, want %s %q", last, access.ActionRevokeSkipped, access.ReasonPreExisting)
		}
		if got := mustGet(t, db, pre.ID); got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked {
			t.Errorf("skipped grant: request %s grant %s; want expired, revoked", got.State, got.Grant.State)
		}
		unchecked := mustCreate(t, db, newRequest(bob, "p3", now))
		ug := mustApprove(t, db, unchecked, now).Grant
		if err := access.CompleteGrant(ctx, db, ug.ID, ownerA, now, access.AuditEvent{Actor: botP, Action: access.ActionGranted}); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, ug.ID); got.PreExisting || got.Checked {
			t.Fatalf("unchecked grant = %+v", got)
		}
		now = ug.DueAt
		mustClaim(t, db, ownerA, now, 0)
		if remove, err := access.PlanRevoke(ctx, db, ug.ID, ownerA, now, revokeEvent(access.ActionRevoking)); err != nil || remove {
			t.Errorf("PlanRevoke on a pre-existing membership = %v, %v; want no removal", remove, err)
		}
		if last := lastEvent(t, db, unchecked.ID); last.Action != access.ActionRevokeSkipped {
			t.Errorf("last event = %+v, want %s", last, access.ActionRevokeSkipped)
		}
		if users, err := db.PreExisting(ctx, pre.GroupID); err != nil || !equalStrings(users, []string{bob.ObjectID}) {
			t.Errorf("PreExisting = %v, %v; want [Bob]", users, err)
		}
	})
}

// Two grants of one membership expire together: exactly one removes it.
func TestPlanRevokeConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		for round := range 5 {
			group := fmt.Sprintf("g-%d", round)
			var gs []access.Grant
			for i := range 2 {
				req := mustCreate(t, db, sharedRequest(alice, fmt.Sprintf("p%d-%d", round, i), group, t0))
				req.Duration = time.Hour
				g := mustApprove(t, db, req, t0).Grant
				if !g.Shared {
					if err := access.CompleteGrant(ctx, db, g.ID, ownerA, t0, access.AuditEvent{Actor: botP, Action: access.ActionGranted}); err != nil {
						t.Fatal(err)
					}
				}
				gs = append(gs, *g)
			}
			now := gs[0].DueAt.Add(time.Minute)
			mustClaim(t, db, ownerA, now, 0)
			type result struct {
				remove bool
				err    error
			}
			results := race(2, func(i int) result {
				remove, err := access.PlanRevoke(ctx, db, gs[i].ID, ownerA, now, revokeEvent(access.ActionRevoking))
				return result{remove, err}
			})
			removes := 0
			for i, r := range results {
				if r.err != nil {
					t.Fatalf("PlanRevoke %d: %v", i, r.err)
				}
				g := mustGrant(t, db, gs[i].ID)
				switch {
				case r.remove && g.State == access.GrantRevoking:
					removes++
				case !r.remove && g.State == access.GrantRevoked && lastEvent(t, db, g.RequestID).Reason == access.ReasonKept:
				default:
					t.Errorf("round %d grant %d: remove %v, state %s", round, i, r.remove, g.State)
				}
			}
			if removes != 1 {
				t.Errorf("round %d: %d grants remove the membership, want 1", round, removes)
			}
		}
	})
}

// A grant approved while its membership is being removed is added again
// once the removal is recorded.
func TestFinishRevokeReaddsOverlappingGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		x := mustActiveGrant(t, db, alice, "p1", t0.Add(time.Hour))
		now := t0.Add(2 * time.Hour)
		mustClaim(t, db, ownerB, now, 0)
		if remove, err := access.PlanRevoke(ctx, db, x.ID, ownerB, now, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Fatalf("PlanRevoke = %v, %v", remove, err)
		}
		// Approved during the removal: the membership is still there, so the
		// check wrongly finds it pre-existing.
		yReq := mustCreate(t, db, sharedRequest(alice, "p2", x.GroupID, now))
		y := mustApprove(t, db, yReq, now).Grant
		if y.Shared || y.State != access.GrantGranting {
			t.Fatalf("grant approved during a removal is %s shared %v", y.State, y.Shared)
		}
		if err := db.RecordCheck(ctx, y.ID, ownerA, true); err != nil {
			t.Fatal(err)
		}
		if err := access.CompleteGrant(ctx, db, y.ID, ownerA, now, access.AuditEvent{Actor: botP, Action: access.ActionPreExisting}); err != nil {
			t.Fatal(err)
		}
		zReq := mustCreate(t, db, sharedRequest(alice, "p3", x.GroupID, now))
		z := mustApprove(t, db, zReq, now.Add(time.Second)).Grant
		if !z.Shared {
			t.Fatal("third grant is not shared")
		}
		if users, _ := db.PreExisting(ctx, x.GroupID); len(users) != 1 {
			t.Fatalf("PreExisting before the removal is recorded = %v, want Alice", users)
		}

		at := now.Add(time.Minute)
		readd, err := access.FinishRevoke(ctx, db, x.ID, ownerB, at, revokeEvent(access.ActionRevoked))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{y.ID, z.ID}; !equalStrings(ids(readd), want) {
			t.Fatalf("FinishRevoke returned %v, want %v", ids(readd), want)
		}
		for _, g := range readd {
			if g.State != access.GrantGranting || !g.Checked || g.PreExisting || g.Shared ||
				g.ClaimedBy != ownerB || !g.ClaimUntil.Equal(at.Add(2*time.Minute)) {
				t.Errorf("grant to add again = %+v, want granting, checked, not pre-existing, not shared, claimed by %s until %v",
					g, ownerB, at.Add(2*time.Minute))
			}
			if !reflect.DeepEqual(*mustGrant(t, db, g.ID), g) {
				t.Errorf("returned grant %+v differs from the stored %+v", g, mustGrant(t, db, g.ID))
			}
			if req := mustGet(t, db, g.RequestID); req.State != access.RequestActive {
				t.Errorf("request of the grant to add again is %s, want active", req.State)
			}
			// Its move back is on record, written with the move itself.
			if n := auditCount(t, db, g.RequestID, access.ActionRegranted); n != 1 {
				t.Errorf("%d %s events for %s, want 1", n, access.ActionRegranted, g.RequestID)
			}
		}
		if users, _ := db.PreExisting(ctx, x.GroupID); len(users) != 0 {
			t.Errorf("PreExisting after the removal = %v, want none", users)
		}
		if got := mustGet(t, db, x.RequestID); got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked {
			t.Errorf("revoked grant: request %s grant %s", got.State, got.Grant.State)
		}
		// The first replica's late completion is stale; the re-add completes.
		if err := access.CompleteGrant(ctx, db, z.ID, ownerA, at, access.AuditEvent{Actor: botP, Action: access.ActionGranted}); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant by the former owner: %v, want ErrStaleGrant", err)
		}
		for _, g := range readd {
			if err := access.CompleteGrant(ctx, db, g.ID, ownerB, at.Add(time.Second), access.AuditEvent{Actor: botP, Action: access.ActionGranted}); err != nil {
				t.Fatal(err)
			}
		}
		if users, _ := db.PreExisting(ctx, x.GroupID); len(users) != 0 {
			t.Errorf("PreExisting after the re-add = %v, want none", users)
		}
		// Now the two share the membership: the first to expire keeps it.
		later := z.DueAt.Add(time.Minute)
		mustClaim(t, db, ownerA, later, 0)
		if remove, err := access.PlanRevoke(ctx, db, y.ID, ownerA, later, revokeEvent(access.ActionRevoking)); err != nil || remove {
			t.Errorf("PlanRevoke of one of two = %v, %v; want kept", remove, err)
		}
		if remove, err := access.PlanRevoke(ctx, db, z.ID, ownerA, later, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Errorf("PlanRevoke of the last = %v, %v; want remove", remove, err)
		}
	})
}

// An approval racing an expiry of the same membership ends with the new
// grant holding it: shared, or added again after the removal.
func TestDecideRacesRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		for round := range 5 {
			x := mustActiveGrant(t, db, alice, fmt.Sprintf("x%d", round), t0.Add(time.Hour))
			now := t0.Add(2 * time.Hour)
			mustClaim(t, db, ownerB, now, 0)
			yReq := mustCreate(t, db, sharedRequest(alice, fmt.Sprintf("y%d", round), x.GroupID, now))
			var remove bool
			errs := race(2, func(i int) error {
				if i == 0 {
					r, err := access.PlanRevoke(ctx, db, x.ID, ownerB, now, revokeEvent(access.ActionRevoking))
					remove = r
					return err
				}
				d := decision(bob, access.Approve, now)
				_, err := access.RecordDecision(ctx, db, yReq.ID, d, grantFor(yReq, now), ownerA, now.Add(lease), decidedEvent(yReq, d))
				return err
			})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			y := mustGet(t, db, yReq.ID).Grant
			if !remove {
				if !y.Shared || y.State != access.GrantActive || mustGrant(t, db, x.ID).State != access.GrantRevoked {
					t.Errorf("round %d: membership kept, but new grant %s shared %v", round, y.State, y.Shared)
				}
				continue
			}
			if y.Shared || y.State != access.GrantGranting {
				t.Errorf("round %d: membership being removed, but new grant %s shared %v", round, y.State, y.Shared)
			}
			readd, err := access.FinishRevoke(ctx, db, x.ID, ownerB, now, revokeEvent(access.ActionRevoked))
			if err != nil {
				t.Fatal(err)
			}
			if !equalStrings(ids(readd), []string{y.ID}) {
				t.Errorf("round %d: FinishRevoke returned %v, want the new grant %s", round, ids(readd), y.ID)
			}
		}
	})
}

func TestRetryRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		now := g.DueAt
		mustClaim(t, db, ownerA, now, 0)
		if remove, err := access.PlanRevoke(ctx, db, g.ID, ownerA, now, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Fatalf("PlanRevoke = %v, %v", remove, err)
		}
		retryAt := now.Add(2 * time.Minute)
		failEv := access.AuditEvent{At: now, Actor: botP, Action: access.ActionRevokeFailed, Reason: "503"}
		if err := db.RetryRevoke(ctx, g.ID, ownerB, access.RevokeFailure{Attempts: 1, NextDue: retryAt, Error: "503", Irrevocable: false}, failEv); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryRevoke by another owner: %v, want ErrStaleGrant", err)
		}
		if err := db.RetryRevoke(ctx, g.ID, ownerA, access.RevokeFailure{Attempts: 1, NextDue: retryAt, Error: "503 Service Unavailable", Irrevocable: false}, failEv); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, g.RequestID)
		// The removal may have happened: the intent stays.
		if got.Grant.State != access.GrantRevoking || got.Grant.Attempts != 1 || !got.Grant.DueAt.Equal(retryAt) ||
			got.Grant.LastError != "503 Service Unavailable" || got.State != access.RequestActive ||
			got.Grant.ClaimedBy != "" || !got.Grant.ClaimUntil.IsZero() {
			t.Errorf("after RetryRevoke grant = %+v, request %s", got.Grant, got.State)
		}
		if !got.Grant.ExpiresAt.Equal(g.ExpiresAt) {
			t.Errorf("RetryRevoke moved the expiry: %v, want %v", got.Grant.ExpiresAt, g.ExpiresAt)
		}
		if gs := mustClaim(t, db, ownerB, retryAt.Add(-time.Second), 0); len(gs) != 0 {
			t.Errorf("grant claimed before its retry time: %v", ids(gs))
		}
		if gs := mustClaim(t, db, ownerB, retryAt, 0); !equalStrings(ids(gs), []string{g.ID}) || gs[0].State != access.GrantRevoking {
			t.Fatalf("claimed at the retry time: %+v, want the revoking grant", gs)
		}
		if remove, err := access.PlanRevoke(ctx, db, g.ID, ownerB, retryAt, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Fatalf("PlanRevoke of a revoking grant = %v, %v; want remove", remove, err)
		}

		// Irrevocable after too many attempts: it stays irrevocable.
		next := retryAt.Add(time.Hour)
		irrEv := access.AuditEvent{At: retryAt, Actor: botP, Action: access.ActionIrrevocable, Reason: "permanent: 403"}
		if err := db.RetryRevoke(ctx, g.ID, ownerB, access.RevokeFailure{Attempts: 2, NextDue: next, Error: "403", Permanent: true, Irrevocable: true}, irrEv); err != nil {
			t.Fatal(err)
		}
		if st := mustGrant(t, db, g.ID).State; st != access.GrantIrrevocable {
			t.Fatalf("state = %s, want irrevocable", st)
		}
		mustClaim(t, db, ownerA, next, 0)
		if remove, err := access.PlanRevoke(ctx, db, g.ID, ownerA, next, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Fatalf("PlanRevoke of an irrevocable grant = %v, %v; want remove", remove, err)
		}
		if st := mustGrant(t, db, g.ID).State; st != access.GrantIrrevocable {
			t.Errorf("PlanRevoke moved an irrevocable grant to %s", st)
		}
		failEv.At = next
		if err := db.RetryRevoke(ctx, g.ID, ownerA, access.RevokeFailure{Attempts: 3, NextDue: next.Add(time.Hour), Error: "403", Permanent: true, Irrevocable: false}, failEv); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, g.ID); got.State != access.GrantIrrevocable || got.Attempts != 3 {
			t.Errorf("after a retry without irrevocable the grant is %s (%d attempts), want irrevocable (3)", got.State, got.Attempts)
		}
		// A retry that works ends it.
		last := next.Add(time.Hour)
		mustClaim(t, db, ownerA, last, 0)
		if remove, err := access.PlanRevoke(ctx, db, g.ID, ownerA, last, revokeEvent(access.ActionRevoking)); err != nil || !remove {
			t.Fatalf("PlanRevoke = %v, %v", remove, err)
		}
		if _, err := access.FinishRevoke(ctx, db, g.ID, ownerA, last, revokeEvent(access.ActionRevoked)); err != nil {
			t.Fatal(err)
		}
		got = mustGet(t, db, g.RequestID)
		if got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked || got.Grant.Attempts != 3 {
			t.Errorf("after FinishRevoke request %s grant %+v", got.State, got.Grant)
		}
		if want := []access.Action{access.ActionRequested, access.ActionApproved, access.ActionGranted,
			access.ActionRevoking, access.ActionRevokeFailed, access.ActionRevoking, access.ActionIrrevocable,
			access.ActionRevoking, access.ActionRevokeFailed, access.ActionRevoking, access.ActionRevoked}; !reflect.DeepEqual(auditActions(t, db, g.RequestID), want) {
			t.Errorf("audit = %v, want %v", auditActions(t, db, g.RequestID), want)
		}
		if err := db.RetryRevoke(ctx, g.ID, ownerA, access.RevokeFailure{Attempts: 4, NextDue: last, Error: "late", Irrevocable: false}, failEv); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryRevoke of a revoked grant: %v, want ErrStaleGrant", err)
		}
		if err := db.RetryRevoke(ctx, "no-such-grant", ownerA, access.RevokeFailure{Attempts: 1, NextDue: last, Error: "x", Irrevocable: false}, failEv); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("RetryRevoke(unknown): %v, want ErrNotFound", err)
		}
		if err := db.RetryRevoke(ctx, g.ID, ownerA, access.RevokeFailure{Attempts: 1, NextDue: time.Time{}, Error: "x", Irrevocable: false}, failEv); err == nil {
			t.Error("RetryRevoke without a next due time accepted")
		}

		// An active grant whose removal failed before its intent stays active.
		h := mustActiveGrant(t, db, bob, "db-admin", t0.Add(time.Hour))
		mustClaim(t, db, ownerA, h.DueAt, 0)
		if err := db.RetryRevoke(ctx, h.ID, ownerA, access.RevokeFailure{Attempts: 1, NextDue: h.DueAt.Add(time.Minute), Error: "timeout", Irrevocable: false}, failEv); err != nil {
			t.Fatal(err)
		}
		if st := mustGrant(t, db, h.ID).State; st != access.GrantActive {
			t.Errorf("state = %s, want active", st)
		}
		// An irrevocable grant whose membership another grant now holds is
		// closed without removal.
		if err := db.gorm.Model(&grantRow{}).Where("id = ?", h.ID).Update("state", string(access.GrantIrrevocable)).Error; err != nil {
			t.Fatal(err)
		}
		req := mustCreate(t, db, sharedRequest(bob, "other", h.GroupID, t0))
		if s := mustApprove(t, db, req, h.DueAt).Grant; !s.Shared {
			t.Fatal("grant approved while an irrevocable grant holds the membership is not shared")
		}
		at := h.DueAt.Add(time.Hour)
		mustClaim(t, db, ownerA, at, 0)
		if remove, err := access.PlanRevoke(ctx, db, h.ID, ownerA, at, revokeEvent(access.ActionRevoking)); err != nil || remove {
			t.Errorf("PlanRevoke of an irrevocable grant with another holder = %v, %v; want kept", remove, err)
		}
		if st := mustGrant(t, db, h.ID).State; st != access.GrantRevoked {
			t.Errorf("state = %s, want revoked", st)
		}
	})
}

func TestRetryNow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		mustClaim(t, db, ownerA, g.DueAt, 0)
		if _, err := access.PlanRevoke(ctx, db, g.ID, ownerA, g.DueAt, revokeEvent(access.ActionRevoking)); err != nil {
			t.Fatal(err)
		}
		next := g.DueAt.Add(time.Hour)
		irrEv := access.AuditEvent{At: g.DueAt, Actor: botP, Action: access.ActionIrrevocable}
		if err := db.RetryRevoke(ctx, g.ID, ownerA, access.RevokeFailure{Attempts: 5, NextDue: next, Error: "403", Permanent: true, Irrevocable: true}, irrEv); err != nil {
			t.Fatal(err)
		}
		// Claimed by a replica that is retrying it: a person's click changes
		// nothing while the claim lasts.
		mustClaim(t, db, ownerA, next, 0)
		asked := next.Add(10 * time.Second)
		ev := access.AuditEvent{Actor: carol, Action: access.ActionRetryNow}
		before := mustGrant(t, db, g.ID)
		if err := db.RetryNow(ctx, g.ID, access.GrantIrrevocable, asked, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryNow of a claimed grant: %v, want ErrStaleGrant", err)
		}
		if got := mustGrant(t, db, g.ID); !reflect.DeepEqual(got, before) {
			t.Errorf("RetryNow changed a claimed grant:\n%+v\n%+v", before, got)
		}
		if n := auditCount(t, db, g.RequestID, access.ActionRetryNow); n != 0 {
			t.Errorf("refused RetryNow wrote %d events", n)
		}
		// Once that claim ran out (its holder died), a person may ask.
		asked = before.ClaimUntil.Add(time.Second)
		if err := db.RetryNow(ctx, g.ID, access.GrantActive, asked, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryNow expecting the wrong state: %v, want ErrStaleGrant", err)
		}
		if err := db.RetryNow(ctx, g.ID, access.GrantIrrevocable, asked, ev); err != nil {
			t.Fatal(err)
		}
		got := mustGrant(t, db, g.ID)
		if got.State != access.GrantIrrevocable || !got.DueAt.Equal(asked) || got.ClaimedBy != "" || !got.ClaimUntil.IsZero() {
			t.Errorf("after RetryNow grant = %+v, want irrevocable, due at %v, unclaimed", got, asked)
		}
		if last := lastEvent(t, db, g.RequestID); last.Action != access.ActionRetryNow || last.Actor != carol || !last.At.Equal(asked) {
			t.Errorf("last event = %+v, want Carol's %s at %v", last, access.ActionRetryNow, asked)
		}
		if gs := mustClaim(t, db, ownerB, asked, 0); !equalStrings(ids(gs), []string{g.ID}) {
			t.Errorf("claimed after RetryNow: %v, want [%s]", ids(gs), g.ID)
		}
		if _, err := access.PlanRevoke(ctx, db, g.ID, ownerA, asked, revokeEvent(access.ActionRevoking)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("PlanRevoke by the former owner: %v, want ErrStaleGrant", err)
		}

		// A granting grant is never made due by a person; its claim stays.
		req := mustCreate(t, db, newRequest(carol, "db-admin", t0))
		gr := mustApprove(t, db, req, asked).Grant
		if err := db.RetryNow(ctx, gr.ID, access.GrantGranting, asked, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryNow of a granting grant: %v, want ErrStaleGrant", err)
		}
		if got := mustGrant(t, db, gr.ID); got.State != access.GrantGranting || !got.DueAt.Equal(gr.DueAt) || got.ClaimedBy != ownerA {
			t.Errorf("granting grant after RetryNow = %+v", got)
		}

		// Ended grants are stale.
		failed := mustCreate(t, db, newRequest(carol, "web-admin", t0))
		fg := mustApprove(t, db, failed, asked).Grant
		if err := access.FailGrant(ctx, db, fg.ID, ownerA, "403", access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		if err := db.RetryNow(ctx, fg.ID, access.GrantActive, asked, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryNow of a failed grant: %v, want ErrStaleGrant", err)
		}
		if n := auditCount(t, db, failed.ID, access.ActionRetryNow); n != 0 {
			t.Errorf("stale RetryNow wrote %d events", n)
		}
		if err := db.RetryNow(ctx, "no-such-grant", access.GrantIrrevocable, asked, ev); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("RetryNow(unknown): %v, want ErrNotFound", err)
		}
	})
}

func TestCloseGone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		// The ledger says pre-existing (an earlier, pre-existing grant) and a
		// later unchecked grant is active.
		pre := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		pg := mustApprove(t, db, pre, t0).Grant
		if err := db.RecordCheck(ctx, pg.ID, ownerA, true); err != nil {
			t.Fatal(err)
		}
		if err := access.CompleteGrant(ctx, db, pg.ID, ownerA, t0, access.AuditEvent{Actor: botP, Action: access.ActionPreExisting}); err != nil {
			t.Fatal(err)
		}
		req := mustCreate(t, db, newRequest(alice, "web-admin", t0))
		req2 := mustCreate(t, db, sharedRequest(alice, "k8s-admin", pre.GroupID, t0))
		g := mustApprove(t, db, req2, t0).Grant // shared with the pre-existing grant
		mustApprove(t, db, req, t0)

		at := t0.Add(30 * time.Minute)
		ev := access.AuditEvent{Actor: botP, Action: access.ActionClosedGone, Reason: "member no longer in the group"}
		if err := access.CloseGone(ctx, db, g.ID, at, ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, req2.ID)
		if got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked || !got.Grant.RevokedAt.Equal(at) ||
			got.Grant.ClaimedBy != "" || !got.Grant.ClaimUntil.IsZero() {
			t.Errorf("after CloseGone request %s grant %+v", got.State, got.Grant)
		}
		if last := lastEvent(t, db, req2.ID); last.Action != access.ActionClosedGone || !last.At.Equal(at) {
			t.Errorf("last event = %+v, want %s at %v", last, access.ActionClosedGone, at)
		}
		// The member is gone: nothing pre-exists any more.
		if users, err := db.PreExisting(ctx, pre.GroupID); err != nil || len(users) != 0 {
			t.Errorf("PreExisting after CloseGone = %v, %v; want none", users, err)
		}
		if err := access.CloseGone(ctx, db, g.ID, at, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second CloseGone: %v, want ErrStaleGrant", err)
		}
		granting := mustGet(t, db, req.ID).Grant
		if err := access.CloseGone(ctx, db, granting.ID, at, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CloseGone of a granting grant: %v, want ErrStaleGrant", err)
		}
		if n := auditCount(t, db, req2.ID, access.ActionClosedGone) + auditCount(t, db, req.ID, access.ActionClosedGone); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionClosedGone)
		}
		// A grant another replica is ending is left to it while its claim
		// lasts.
		due := mustActiveGrant(t, db, bob, "ops", t0.Add(time.Hour))
		if gs := mustClaim(t, db, ownerB, due.DueAt, 0); !slices.Contains(ids(gs), due.ID) {
			t.Fatalf("claimed %v, want %s among them", ids(gs), due.ID)
		}
		claimed := mustGrant(t, db, due.ID)
		if err := access.CloseGone(ctx, db, due.ID, due.DueAt.Add(time.Minute), ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CloseGone of a claimed grant: %v, want ErrStaleGrant", err)
		}
		if got := mustGrant(t, db, due.ID); !reflect.DeepEqual(got, claimed) {
			t.Errorf("CloseGone changed a claimed grant:\n%+v\n%+v", claimed, got)
		}
		if err := access.CloseGone(ctx, db, due.ID, claimed.ClaimUntil, ev); err != nil {
			t.Errorf("CloseGone once the claim ran out: %v", err)
		}
		if err := access.CloseGone(ctx, db, "no-such-grant", at, ev); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("CloseGone(unknown): %v, want ErrNotFound", err)
		}
	})
}

func TestSetAlertAndLiveGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		active := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		chat := access.ConversationRef{ServiceURL: "https://smba.trafficmanager.net/emea/", ChannelID: "msteams",
			ConversationID: "19:security@thread.tacv2;messageid=7", TenantID: "tenant-1", BotID: "28:bot"}
		if err := db.SetAlert(ctx, active.ID, chat, "1712345678901"); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, active.ID); got.AlertChat != chat || got.AlertActivityID != "1712345678901" || got.State != access.GrantActive {
			t.Errorf("grant after SetAlert = %+v", got)
		}
		if err := db.SetAlert(ctx, "no-such-grant", chat, "1"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("SetAlert(unknown): %v, want ErrNotFound", err)
		}
		if _, err := db.GetGrant(ctx, "no-such-grant"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("GetGrant(unknown): %v, want ErrNotFound", err)
		}

		granting := mustApprove(t, db, mustCreate(t, db, newRequest(bob, "db-admin", t0)), t0.Add(-time.Hour)).Grant
		revoking := mustActiveGrant(t, db, carol, "db-admin", t0.Add(time.Hour))
		mustClaim(t, db, ownerA, t0.Add(time.Hour), 0)
		if _, err := access.PlanRevoke(ctx, db, revoking.ID, ownerA, t0.Add(time.Hour), revokeEvent(access.ActionRevoking)); err != nil {
			t.Fatal(err)
		}
		failed := mustApprove(t, db, mustCreate(t, db, newRequest(bob, "web-admin", t0)), t0).Grant
		if err := access.FailGrant(ctx, db, failed.ID, ownerA, "403", access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		mustActiveGrant(t, db, alice, "web-admin", t0.Add(time.Hour)) // another group

		live, err := db.LiveGrants(ctx, "group-db-admin")
		if err != nil {
			t.Fatal(err)
		}
		// Oldest approval first: the granting grant was approved at t0-1h,
		// the two active ones at t0 (by id).
		want := []string{granting.ID}
		if active.ID < revoking.ID {
			want = append(want, active.ID, revoking.ID)
		} else {
			want = append(want, revoking.ID, active.ID)
		}
		if !equalStrings(ids(live), want) {
			t.Errorf("live grants = %v, want %v", ids(live), want)
		}
		if live, err := db.LiveGrants(ctx, "no-such-group"); err != nil || len(live) != 0 {
			t.Errorf("live grants of an unknown group = %v, %v", ids(live), err)
		}

		// LiveMembers reads the same grants, in the same order, a few
		// columns of each.
		members, err := db.LiveMembers(ctx, "group-db-admin")
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != len(live) {
			t.Fatalf("%d live members, want %d", len(members), len(live))
		}
		for i, m := range members {
			g := live[i]
			want := access.LiveMember{GrantID: g.ID, UserID: g.User.ObjectID, State: g.State, PreExisting: g.PreExisting, GrantedAt: g.GrantedAt, ExpiresAt: g.ExpiresAt}
			if !m.GrantedAt.Equal(want.GrantedAt) || !m.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("live member %d times = %v, %v; want %v, %v", i, m.GrantedAt, m.ExpiresAt, want.GrantedAt, want.ExpiresAt)
			}
			m.GrantedAt, m.ExpiresAt, want.GrantedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if m != want {
				t.Errorf("live member %d = %+v, want %+v", i, m, want)
			}
		}
		if members[0].State != access.GrantGranting || !members[0].GrantedAt.IsZero() || members[1].GrantedAt.IsZero() {
			t.Errorf("live members = %+v: want the granting grant first, without a grant time", members)
		}
		if m, err := db.LiveMembers(ctx, "no-such-group"); err != nil || len(m) != 0 {
			t.Errorf("live members of an unknown group = %v, %v", m, err)
		}
	})
}
