package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// A pending request's escalation is stored, found when due, recorded by
// one replica only, and never for a request that is no longer pending.
func TestEscalation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		at := t0.Add(20 * time.Minute)
		req := newRequest(alice, "db-admin", t0)
		req.EscalateAt = at
		got := mustCreate(t, db, req)
		if !got.EscalateAt.Equal(at) || !got.EscalatedAt.IsZero() {
			t.Fatalf("stored escalation %v %v", got.EscalateAt, got.EscalatedAt)
		}
		other := mustCreate(t, db, newRequest(bob, "db-admin", t0))
		if next, ok, err := db.NextEscalation(ctx); err != nil || !ok || !next.Equal(at) {
			t.Fatalf("NextEscalation = %v %v %v", next, ok, err)
		}
		if due, err := db.DueEscalations(ctx, at.Add(-time.Second), 0); err != nil || len(due) != 0 {
			t.Fatalf("due early: %d %v", len(due), err)
		}
		due, err := db.DueEscalations(ctx, at, 0)
		if err != nil || len(due) != 1 || due[0].ID != req.ID {
			t.Fatalf("due: %d %v", len(due), err)
		}
		ev := access.AuditEvent{Actor: botP, Action: access.ActionEscalated, TargetUserID: alice.ObjectID}
		errs := race(2, func(int) error { return db.RecordEscalation(ctx, req.ID, at, ev) })
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrNotPending):
				t.Fatalf("RecordEscalation: %v", err)
			}
		}
		if won != 1 || auditCount(t, db, req.ID, access.ActionEscalated) != 1 {
			t.Fatalf("%d replicas escalated", won)
		}
		got = mustGet(t, db, req.ID)
		if !got.EscalatedAt.Equal(at) || !got.EscalateAt.IsZero() {
			t.Fatalf("after the escalation: %v %v", got.EscalateAt, got.EscalatedAt)
		}
		if _, ok, _ := db.NextEscalation(ctx); ok {
			t.Fatal("an escalated request is still to be escalated")
		}
		if err := db.RecordEscalation(ctx, other.ID, at, ev); !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("escalation of a request without one: %v", err)
		}
		chat := access.ConversationRef{ConversationID: "19:esc@thread.tacv2;messageid=9"}
		if err := db.SetEscalationCard(ctx, req.ID, chat, "9"); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, db, req.ID); got.EscalationChat.ConversationID != chat.ConversationID || got.EscalationActivityID != "9" {
			t.Fatalf("escalation card %+v %q", got.EscalationChat, got.EscalationActivityID)
		}
	})
}
