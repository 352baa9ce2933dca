package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// mustBreakGlassGrant creates an active break-glass grant of alice
// approved at approved, reviewed by approved+review, its first review step
// at first.
func mustBreakGlassGrant(t *testing.T, db *DB, approved, reviewBy, first time.Time) access.Grant {
	t.Helper()
	ctx := context.Background()
	req := newRequest(alice, "db-admin", approved.Add(-time.Second))
	req.Duration = 2 * time.Hour
	mustCreate(t, db, req)
	g := grantFor(req, approved)
	g.BreakGlass, g.ReviewBy, g.ReviewDueAt = true, reviewBy, first
	d := access.Decision{Approver: botP, Verdict: access.Approve, Reason: access.BreakGlassReason, DecidedAt: approved}
	got, err := access.RecordDecision(ctx, db, req.ID, d, g, ownerA, approved.Add(lease), decidedEvent(req, d))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordCheck(ctx, got.Grant.ID, ownerA, false); err != nil {
		t.Fatal(err)
	}
	ev := access.AuditEvent{Actor: botP, Action: access.ActionGranted, RequestID: req.ID, TargetUserID: alice.ObjectID}
	if err := access.CompleteGrant(ctx, db, got.Grant.ID, ownerA, approved.Add(time.Second), ev); err != nil {
		t.Fatal(err)
	}
	return *mustGrant(t, db, got.Grant.ID)
}

// A break-glass grant keeps its review fields; its review steps are found
// when due, a reminder is recorded by one replica only, a review once, and
// a reviewed grant is neither due nor revocable as unreviewed.
func TestBreakGlassReview(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		reviewBy, first := t0.Add(time.Hour), t0.Add(30*time.Minute)
		g := mustBreakGlassGrant(t, db, t0, reviewBy, first)
		if !g.BreakGlass || !g.ReviewBy.Equal(reviewBy) || !g.ReviewDueAt.Equal(first) || g.ReviewReminders != 0 || !g.Review.At.IsZero() {
			t.Fatalf("stored grant %+v", g)
		}
		plain := mustActiveGrant(t, db, bob, "db-admin", t0.Add(2*time.Hour))
		if plain.BreakGlass || !plain.ReviewDueAt.IsZero() {
			t.Fatalf("a plain grant has review fields: %+v", plain)
		}
		if next, ok, err := db.NextReview(ctx); err != nil || !ok || !next.Equal(first) {
			t.Fatalf("NextReview = %v %v %v", next, ok, err)
		}
		if due, err := db.DueReviews(ctx, first.Add(-time.Second), 0); err != nil || len(due) != 0 {
			t.Fatalf("due early: %v %v", ids(due), err)
		}
		due, err := db.DueReviews(ctx, first, 0)
		if err != nil || len(due) != 1 || due[0].ID != g.ID {
			t.Fatalf("due at its time: %v %v", ids(due), err)
		}
		ev := access.AuditEvent{At: first, Actor: botP, Action: access.ActionReviewReminded, TargetUserID: alice.ObjectID}
		errs := race(2, func(int) error { return db.RecordReviewReminder(ctx, g.ID, 1, reviewBy, ev) })
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrStaleGrant):
				t.Fatalf("RecordReviewReminder: %v", err)
			}
		}
		if won != 1 || auditCount(t, db, g.RequestID, access.ActionReviewReminded) != 1 {
			t.Fatalf("%d replicas recorded the reminder", won)
		}
		if got := mustGrant(t, db, g.ID); got.ReviewReminders != 1 || !got.ReviewDueAt.Equal(reviewBy) {
			t.Fatalf("after the reminder: %d next %v", got.ReviewReminders, got.ReviewDueAt)
		}

		// The review, once.
		at := first.Add(time.Minute)
		rv := access.Review{By: bob, Note: "checked", At: at}
		rev := access.AuditEvent{At: at, Actor: bob, Action: access.ActionReviewed, TargetUserID: alice.ObjectID}
		errs = race(2, func(int) error { return db.RecordReview(ctx, g.ID, rv, rev) })
		won = 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrReviewed):
				t.Fatalf("RecordReview: %v", err)
			}
		}
		if won != 1 || auditCount(t, db, g.RequestID, access.ActionReviewed) != 1 {
			t.Fatalf("%d reviews recorded", won)
		}
		got := mustGrant(t, db, g.ID)
		if got.Review.By.ObjectID != bob.ObjectID || got.Review.Note != "checked" || !got.Review.At.Equal(at) || !got.ReviewDueAt.IsZero() {
			t.Fatalf("stored review %+v next %v", got.Review, got.ReviewDueAt)
		}
		if due, _ := db.DueReviews(ctx, reviewBy, 0); len(due) != 0 {
			t.Fatal("a reviewed grant is still due for review")
		}
		if _, ok, _ := db.NextReview(ctx); ok {
			t.Fatal("a reviewed grant has a next review step")
		}
		if err := db.RecordReviewReminder(ctx, g.ID, 2, time.Time{}, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Fatalf("reminder of a reviewed grant: %v", err)
		}
		// Revoking it as unreviewed is refused: it was reviewed.
		_, err = extendGrant(t, db, *got, access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantActive}, At: reviewBy, DueAt: reviewBy, Unreviewed: true,
			Early: &access.EarlyEnd{Kind: access.EndUnreviewed, By: botP, Reason: "not reviewed", At: reviewBy}})
		if !errors.Is(err, access.ErrStaleGrant) {
			t.Fatalf("revoke a reviewed grant as unreviewed: %v", err)
		}
		if err := db.RecordReview(ctx, plain.ID, rv, rev); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("review of a plain grant: %v", err)
		}
		chat := access.ConversationRef{ConversationID: "19:security@thread.tacv2;messageid=7"}
		if err := db.SetReviewCard(ctx, g.ID, chat, "7"); err != nil {
			t.Fatal(err)
		}
		if got := mustGrant(t, db, g.ID); got.ReviewChat.ConversationID != chat.ConversationID || got.ReviewActivityID != "7" {
			t.Fatalf("review card %+v %q", got.ReviewChat, got.ReviewActivityID)
		}
	})
}

// The next review step and the due ones are the active, unreviewed
// break-glass grants', earliest first, passing over the earlier steps of
// grants that are not break-glass, were reviewed, ended early or fell due.
func TestReviewsInReviewOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := t0.Add(time.Minute)
		expires := t0.Add(time.Hour)
		person := numberedPerson
		set := func(g access.Grant, cols map[string]any) { t.Helper(); setGrantColumns(t, db, cols, g.ID) }
		step := func(d time.Duration) map[string]any {
			return map[string]any{"break_glass": true, "review_due_at": dbTime(now.Add(d))}
		}
		notBreakGlass := mustActiveGrant(t, db, person(1), "db-admin", expires)
		set(notBreakGlass, map[string]any{"review_due_at": dbTime(now.Add(time.Second))})
		reviewed := mustActiveGrant(t, db, person(2), "db-admin", expires)
		set(reviewed, step(2*time.Second))
		set(reviewed, map[string]any{"reviewed_at": dbTime(now)})
		early := mustActiveGrant(t, db, person(3), "db-admin", expires)
		set(early, step(3*time.Second))
		set(early, map[string]any{"early_kind": "released"})
		fellDue := mustActiveGrant(t, db, person(4), "db-admin", expires)
		set(fellDue, step(4*time.Second))
		set(fellDue, map[string]any{"due_at": dbTime(now.Add(-time.Second))})
		later := mustActiveGrant(t, db, person(5), "db-admin", expires)
		set(later, step(time.Minute))
		first := mustActiveGrant(t, db, person(6), "db-admin", expires)
		set(first, step(30*time.Second))

		next, ok, err := db.NextReview(ctx)
		// NextReview looks at grants not due at the zero time: the one
		// that fell due still counts, and its step is the earliest.
		if err != nil || !ok || !next.Equal(now.Add(4*time.Second)) {
			t.Errorf("NextReview = %v %v %v, want %v", next, ok, err, now.Add(4*time.Second))
		}
		due, err := db.DueReviews(ctx, now.Add(2*time.Minute), 0)
		if err != nil || !equalStrings(ids(due), []string{first.ID, later.ID}) {
			t.Errorf("DueReviews = %v %v, want [%s %s]", ids(due), err, first.ID, later.ID)
		}
		if due, err := db.DueReviews(ctx, now.Add(2*time.Minute), 1); err != nil || !equalStrings(ids(due), []string{first.ID}) {
			t.Errorf("DueReviews(limit 1) = %v %v, want [%s]", ids(due), err, first.ID)
		}
	})
}
