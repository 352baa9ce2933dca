package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
)

// seedDueGrants stores n active grants (with their requests) of distinct
// users, due at due, directly in the tables, and returns their ids.
func seedDueGrants(t testing.TB, db *DB, n int, due time.Time) []string {
	t.Helper()
	reqs := make([]requestRow, n)
	grants := make([]grantRow, n)
	out := make([]string, n)
	approved := dbTime(due.Add(-time.Hour))
	for i := range n {
		user := fmt.Sprintf("user-%04d", i)
		reqs[i] = requestRow{
			ID: uuid.NewString(), RequesterID: user, Profile: "db-admin", State: string(access.RequestActive),
			GroupID: "group-db-admin", RequesterName: user, DurationNS: int64(time.Hour),
			CreatedAt: approved, UpdatedAt: approved,
		}
		grants[i] = grantRow{
			ID: uuid.NewString(), RequestID: reqs[i].ID, Profile: "db-admin", GroupID: "group-db-admin",
			UserID: user, UserName: user, State: string(access.GrantActive), ApprovedAt: approved,
			ExpiresAt: dbTime(due), GrantedAt: &approved, Checked: true, DueAt: dbTime(due),
		}
		out[i] = grants[i].ID
	}
	if err := db.gorm.CreateInBatches(reqs, 100).Error; err != nil {
		t.Fatalf("seed requests: %v", err)
	}
	if err := db.gorm.CreateInBatches(grants, 100).Error; err != nil {
		t.Fatalf("seed grants: %v", err)
	}
	return out
}

func TestClaimWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		late := mustActiveGrant(t, db, alice, "db-admin", t0.Add(3*time.Hour))
		early := mustActiveGrant(t, db, bob, "db-admin", t0.Truncate(time.Second).Add(time.Hour))
		middle := mustActiveGrant(t, db, carol, "db-admin", t0.Add(time.Hour))
		future := mustActiveGrant(t, db, alice, "web-admin", t0.Add(48*time.Hour))
		// Left granting by a replica that died: its claim ended at t0-4h55.
		stuckReq := mustCreate(t, db, newRequest(bob, "web-admin", t0.Add(-6*time.Hour)))
		stuck := mustApprove(t, db, stuckReq, t0.Add(-5*time.Hour)).Grant
		now := t0.Add(4 * time.Hour)
		// Being added right now by a live replica.
		busyReq := mustCreate(t, db, newRequest(carol, "web-admin", now))
		busy := mustApprove(t, db, busyReq, now.Add(-time.Minute)).Grant

		got := mustClaim(t, db, ownerB, now, 2)
		if want := []string{stuck.ID, early.ID}; !equalStrings(ids(got), want) {
			t.Fatalf("first claim = %v, want earliest first %v", ids(got), want)
		}
		for _, g := range got {
			stored := mustGrant(t, db, g.ID)
			if g.ClaimedBy != ownerB || !g.ClaimUntil.Equal(now.Add(lease)) || stored.ClaimedBy != ownerB || !stored.ClaimUntil.Equal(now.Add(lease)) {
				t.Errorf("claimed grant %s: returned %q until %v, stored %q until %v; want %q until %v",
					g.ID, g.ClaimedBy, g.ClaimUntil, stored.ClaimedBy, stored.ClaimUntil, ownerB, now.Add(lease))
			}
		}
		if got[0].State != access.GrantGranting || got[1].State != access.GrantActive {
			t.Errorf("claimed states %s, %s; want granting, active", got[0].State, got[1].State)
		}
		got = mustClaim(t, db, ownerA, now, 10)
		if want := []string{middle.ID, late.ID}; !equalStrings(ids(got), want) {
			t.Errorf("second claim = %v, want %v (live claims are not taken)", ids(got), want)
		}
		if got := mustClaim(t, db, ownerA, now, 10); len(got) != 0 {
			t.Errorf("third claim = %v, want nothing", ids(got))
		}

		// Every change checks the claim.
		if _, err := access.PlanRevoke(ctx, db, early.ID, ownerA, now, revokeEvent(access.ActionRevoking)); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("PlanRevoke of a grant claimed by another: %v, want ErrStaleGrant", err)
		}
		if err := access.CompleteGrant(ctx, db, stuck.ID, ownerA, now, access.AuditEvent{Actor: botP, Action: access.ActionGranted}); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant by the dead replica: %v, want ErrStaleGrant", err)
		}

		// Claims that ran out are taken by another replica; the live one on
		// the grant being added has run out too by then.
		later := now.Add(lease + time.Second)
		got = mustClaim(t, db, ownerA, later, 0)
		if want := []string{stuck.ID, early.ID, middle.ID, late.ID, busy.ID}; !equalStrings(ids(got), want) {
			t.Errorf("claim after the leases ended = %v, want %v", ids(got), want)
		}
		if err := db.RecordCheck(ctx, stuck.ID, ownerB, false); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RecordCheck by the former owner: %v, want ErrStaleGrant", err)
		}
		if err := db.RecordCheck(ctx, stuck.ID, ownerA, false); err != nil {
			t.Errorf("RecordCheck by the new owner: %v", err)
		}
		// A claim ending exactly now is over.
		if got := mustClaim(t, db, ownerB, later.Add(lease), 0); len(got) != 5 {
			t.Errorf("claim when the claims end = %v, want all 5", ids(got))
		}
		// DueAt itself counts as due.
		justBefore := future.DueAt.Add(-time.Microsecond)
		if got := mustClaim(t, db, ownerB, justBefore, 0); len(got) != 5 {
			t.Errorf("claim just before the last due time = %v, want the 5 others", ids(got))
		}
		if got := mustClaim(t, db, ownerA, future.DueAt, 0); !equalStrings(ids(got), []string{future.ID}) {
			t.Errorf("claim at the due time = %v, want [%s]", ids(got), future.ID)
		}

		if _, err := db.ClaimWork(ctx, "", now, now.Add(lease), 1); err == nil {
			t.Error("ClaimWork without an owner accepted")
		}
		if _, err := db.ClaimWork(ctx, ownerA, now, time.Time{}, 1); err == nil {
			t.Error("ClaimWork with a claim that never ends accepted")
		}
	})
}

// Three replicas, each with its own connection pool, claim 300 due grants at
// once: every grant is claimed by exactly one of them.
func TestClaimWorkReplicas(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		const n, replicas = 300, 3
		dbs := make([]*DB, replicas)
		for i := range dbs {
			dbs[i] = openTest(t, dbURL)
		}
		due := t0.Add(time.Hour)
		seeded := seedDueGrants(t, dbs[0], n, due)
		now := due.Add(time.Minute)

		claimed := make([][]string, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for r := range replicas {
			wg.Go(func() {
				<-start
				owner := fmt.Sprintf("replica-%d", r)
				for {
					gs, err := dbs[r].ClaimWork(context.Background(), owner, now, now.Add(lease), 7)
					if err != nil {
						errs[r] = err
						return
					}
					if len(gs) == 0 {
						return
					}
					for _, g := range gs {
						if g.ClaimedBy != owner {
							errs[r] = fmt.Errorf("grant %s returned claimed by %q", g.ID, g.ClaimedBy)
							return
						}
						claimed[r] = append(claimed[r], g.ID)
					}
				}
			})
		}
		close(start)
		wg.Wait()

		owner := map[string]int{}
		for r := range replicas {
			if errs[r] != nil {
				t.Fatalf("replica %d: %v", r, errs[r])
			}
			t.Logf("replica %d claimed %d grants", r, len(claimed[r]))
			for _, id := range claimed[r] {
				if prev, dup := owner[id]; dup {
					t.Errorf("grant %s claimed by replicas %d and %d", id, prev, r)
				}
				owner[id] = r
			}
		}
		if len(owner) != n {
			t.Errorf("%d grants claimed, want %d", len(owner), n)
		}
		for _, id := range seeded {
			r, ok := owner[id]
			if !ok {
				t.Errorf("grant %s not claimed", id)
				continue
			}
			if g := mustGrant(t, dbs[0], id); g.ClaimedBy != fmt.Sprintf("replica-%d", r) {
				t.Errorf("grant %s stored claimed by %q, returned to replica %d", id, g.ClaimedBy, r)
			}
		}
	})
}

// On PostgreSQL a replica does not wait for rows another replica has locked:
// it skips them.
func TestClaimWorkSkipsLockedRows(t *testing.T) {
	dbURL := newPostgresURL(t)
	db1, db2 := openTest(t, dbURL), openTest(t, dbURL)
	due := t0.Add(time.Hour)
	seeded := seedDueGrants(t, db1, 10, due)

	tx := db2.gorm.Begin()
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	defer tx.Rollback()
	var locked []string
	if err := tx.Raw("SELECT id FROM grants WHERE id IN ? FOR UPDATE", seeded[:4]).Scan(&locked).Error; err != nil {
		t.Fatal(err)
	}
	if len(locked) != 4 {
		t.Fatalf("locked %d rows, want 4", len(locked))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := due.Add(time.Minute)
	got, err := db1.ClaimWork(ctx, ownerA, now, now.Add(lease), 0)
	if err != nil {
		t.Fatalf("ClaimWork while rows are locked: %v", err)
	}
	if len(got) != 6 {
		t.Errorf("claimed %d grants, want the 6 unlocked ones", len(got))
	}
	isLocked := map[string]bool{}
	for _, id := range locked {
		isLocked[id] = true
	}
	for _, g := range got {
		if isLocked[g.ID] {
			t.Errorf("claimed the locked grant %s", g.ID)
		}
	}
	tx.Rollback()
	if got := mustClaim(t, db1, ownerB, now, 0); len(got) != 4 {
		t.Errorf("after the lock is released %d grants claimed, want 4", len(got))
	}
}

func TestNextDue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		check := func(want time.Time, what string) {
			t.Helper()
			got, ok, err := db.NextDue(ctx)
			if err != nil || !ok || !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("NextDue %s = %v %v %v, want %v in UTC", what, got, ok, err, want)
			}
		}
		if _, ok, err := db.NextDue(ctx); err != nil || ok {
			t.Fatalf("NextDue on an empty database = ok %v, err %v; want none", ok, err)
		}
		late := mustActiveGrant(t, db, alice, "db-admin", t0.Add(3*time.Hour))
		early := mustActiveGrant(t, db, bob, "db-admin", t0.Truncate(time.Second).Add(time.Hour))
		mustActiveGrant(t, db, carol, "db-admin", t0.Add(time.Hour))
		check(early.DueAt, "with active grants")

		// A shared grant's claim from its approval ends long before it is due:
		// it does not pull NextDue forward.
		req := mustCreate(t, db, sharedRequest(alice, "other", late.GroupID, t0))
		shared := mustApprove(t, db, req, t0).Grant
		if !shared.Shared || !shared.ClaimUntil.Before(early.DueAt) {
			t.Fatalf("shared grant = %+v", shared)
		}
		check(early.DueAt, "with a shared grant's ended claim")

		// A granting grant: work once its claim ends; at once without a claim.
		gReq := mustCreate(t, db, newRequest(bob, "web-admin", t0))
		granting := mustApprove(t, db, gReq, t0.Add(-2*time.Hour)).Grant
		check(granting.ClaimUntil, "with a claimed granting grant")
		if err := db.ReleaseClaims(ctx, ownerA); err != nil {
			t.Fatal(err)
		}
		check(granting.ApprovedAt, "with an unclaimed granting grant")
		claimAt := t0.Add(-90 * time.Minute)
		mustClaim(t, db, ownerB, claimAt, 1)
		check(claimAt.Add(lease), "with a granting grant claimed again")
		if err := access.FailGrant(ctx, db, granting.ID, ownerB, "403", access.AuditEvent{At: claimAt, Actor: botP, Action: access.ActionGrantFailed}); err != nil {
			t.Fatal(err)
		}
		check(early.DueAt, "after the granting grant failed")

		// A claimed due grant: work once its claim ends.
		now := early.DueAt.Add(30 * time.Minute)
		claimed := mustClaim(t, db, ownerA, now, 0)
		if len(claimed) != 2 {
			t.Fatalf("claimed %v, want the two grants due at t0+1h", ids(claimed))
		}
		check(now.Add(lease), "with the due grants claimed")
		for _, g := range claimed {
			if _, err := access.PlanRevoke(ctx, db, g.ID, ownerA, now, revokeEvent(access.ActionRevoking)); err != nil {
				t.Fatal(err)
			}
			if _, err := access.FinishRevoke(ctx, db, g.ID, ownerA, now, revokeEvent(access.ActionRevoked)); err != nil {
				t.Fatal(err)
			}
		}
		check(shared.DueAt, "after the revocations")
		// A retried revocation is due at its retry time.
		at := shared.DueAt
		if got := mustClaim(t, db, ownerA, at, 0); !equalStrings(ids(got), []string{shared.ID}) {
			t.Fatalf("claimed %v, want the shared grant", ids(got))
		}
		if err := db.RetryRevoke(ctx, shared.ID, ownerA, access.RevokeFailure{Attempts: 1, NextDue: at.Add(10 * time.Minute), Error: "503", Irrevocable: false}, access.AuditEvent{At: at, Actor: botP, Action: access.ActionRevokeFailed}); err != nil {
			t.Fatal(err)
		}
		check(at.Add(10*time.Minute), "after a failed attempt")
	})
}

func TestReleaseClaims(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := mustApprove(t, db, mustCreate(t, db, newRequest(alice, "db-admin", t0)), t0).Grant // claimed by A
		b := mustActiveGrant(t, db, bob, "db-admin", t0.Add(time.Hour))
		c := mustActiveGrant(t, db, carol, "db-admin", t0.Add(time.Hour))
		now := t0.Add(time.Hour)
		if got := mustClaim(t, db, ownerB, now, 1); len(got) != 1 {
			t.Fatalf("claimed %v", ids(got))
		}
		mustClaim(t, db, ownerA, now, 0)
		byB := 0
		for _, g := range []access.Grant{*a, b, c} {
			if mustGrant(t, db, g.ID).ClaimedBy == ownerB {
				byB++
			}
		}
		if byB != 1 {
			t.Fatalf("%d grants claimed by %s, want 1", byB, ownerB)
		}
		if err := db.ReleaseClaims(ctx, ownerA); err != nil {
			t.Fatal(err)
		}
		for _, g := range []access.Grant{*a, b, c} {
			got := mustGrant(t, db, g.ID)
			if got.ClaimedBy == ownerA || (got.ClaimedBy == "" && !got.ClaimUntil.IsZero()) {
				t.Errorf("after ReleaseClaims grant %s is claimed by %q until %v", g.ID, got.ClaimedBy, got.ClaimUntil)
			}
		}
		// The released work is taken at once by another replica.
		if got := mustClaim(t, db, ownerB, now, 0); len(got) != 2 {
			t.Errorf("claimed after the release: %v, want the 2 released grants", ids(got))
		}
		if err := db.ReleaseClaims(ctx, ""); err == nil {
			t.Error("ReleaseClaims without an owner accepted")
		}
	})
}

// Many grants due at the same moment, in every ending state, are claimed a
// few at a time in id order across the states, each exactly once, and a
// grant not yet due or under a live claim is never among them.
func TestClaimWorkInDueOrderAcrossStates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		due := t0.Add(time.Hour)
		all := seedDueGrants(t, db, 60, due)
		set := func(ids []string, cols map[string]any) { t.Helper(); setGrantColumns(t, db, cols, ids...) }
		set(all[0:10], map[string]any{"state": string(access.GrantIrrevocable)})
		set(all[10:20], map[string]any{"state": string(access.GrantRevoking)})
		set(all[20:25], map[string]any{"due_at": dbTime(due.Add(time.Hour))})                               // not due yet
		set(all[25:30], map[string]any{"claimed_by": "other", "claim_until": dbTime(due.Add(time.Minute))}) // a live claim
		want := slices.Clone(all[:20])
		want = append(want, all[30:]...)
		slices.Sort(want)

		var got []string
		for range 10 {
			c := mustClaim(t, db, ownerA, due, 7)
			if len(c) == 0 {
				break
			}
			got = append(got, ids(c)...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("claimed %d grants in the order\n%v\nwant %d in id order\n%v", len(got), got, len(want), want)
		}
	})
}

// BenchmarkClaimWork claims 8 of 10,000 grants due at the same moment, as
// the scheduler does during a mass expiry:
// go test -run '^$' -bench BenchmarkClaimWork ./storage/
func BenchmarkClaimWork(b *testing.B) {
	onEachDatabase(b, func(b *testing.B, db *DB) {
		due := t0.Add(time.Hour)
		seedDueGrants(b, db, 10000, due)
		now := due
		for b.Loop() {
			// Each claim starts after the last one's lease: the same 8 again.
			now = now.Add(2 * lease)
			if gs, err := db.ClaimWork(context.Background(), ownerA, now, now.Add(lease), 8); err != nil || len(gs) != 8 {
				b.Fatalf("claimed %d: %v", len(gs), err)
			}
		}
	})
}

// BenchmarkRevokeChunk is the database's part of a mass expiry, as one
// replica's writer does it: claim a chunk of 32 of 10,000 grants due at the
// same moment, record their intents together (PlanRevokes), then their
// ends together (FinishRevokes); it reports the time per grant.
//
//	go test -run '^$' -bench BenchmarkRevokeChunk -benchtime 100x -count 5 ./storage/
func BenchmarkRevokeChunk(b *testing.B) {
	const chunk, seeded = 32, 10000
	onEachDatabase(b, func(b *testing.B, db *DB) {
		ctx := context.Background()
		due := t0.Add(time.Hour)
		seedDueGrants(b, db, seeded, due)
		left := seeded
		now := due.Add(time.Second)
		b.ResetTimer()
		for range b.N {
			if left < chunk {
				b.StopTimer()
				seedDueGrants(b, db, seeded, due)
				left += seeded
				b.StartTimer()
			}
			now = now.Add(time.Millisecond)
			claimed, err := db.ClaimWork(ctx, ownerA, now, now.Add(lease), chunk)
			if err != nil || len(claimed) != chunk {
				b.Fatalf("claimed %d: %v", len(claimed), err)
			}
			left -= chunk
			steps := make([]access.RevokeStep, len(claimed))
			for i := range claimed {
				// The event as the scheduler writes it: of the grant's
				// request, profile, group and member.
				g := &claimed[i]
				ev := revokeEvent(access.ActionRevoking)
				ev.RequestID, ev.Profile, ev.GroupID, ev.TargetUserID = g.RequestID, g.Profile, g.GroupID, g.User.ObjectID
				steps[i] = access.RevokeStep{Grant: g, At: now, Event: ev}
			}
			for _, o := range access.PlanRevokes(ctx, db, ownerA, steps) {
				if o.Err != nil || !o.Remove {
					b.Fatalf("plan: remove %v, %v", o.Remove, o.Err)
				}
			}
			for i := range steps {
				steps[i].Event.Action = access.ActionRevoked
			}
			for _, o := range access.FinishRevokes(ctx, db, ownerA, steps) {
				if o.Err != nil || o.Request == nil || o.Request.State != access.RequestExpired {
					b.Fatalf("finish: %+v", o)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*chunk), "µs/grant")
	})
}
