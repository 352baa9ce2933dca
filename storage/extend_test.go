package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// extendGrant applies u to grant g of alice under the membership lock.
func extendGrant(t *testing.T, db *DB, g access.Grant, u access.GrantUpdate) (access.Grant, error) {
	t.Helper()
	var out access.Grant
	err := db.WithMembership(context.Background(), g.GroupID, g.User.ObjectID, u.At, func(_ *access.Membership, tx access.MembershipTx) error {
		got, err := tx.UpdateGrant(u)
		out = got
		return err
	})
	return out, err
}

// The expiry reminder is found when due, by one replica only, and never
// for a grant that ended early, fell due or ended; an extension stores the
// new end, reminder and extension record, and only while the grant is not
// due.
func TestExpiryReminderAndExtension(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		expires := t0.Add(time.Hour)
		g := mustActiveGrant(t, db, alice, "db-admin", expires)
		remind := expires.Add(-10 * time.Minute)
		at := t0.Add(time.Minute)
		if _, err := extendGrant(t, db, g, access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantActive}, At: at, RemindAt: remind}); err != nil {
			t.Fatal(err)
		}
		if next, ok, err := db.NextExpiryReminder(ctx, at); err != nil || !ok || !next.Equal(remind) {
			t.Fatalf("NextExpiryReminder = %v %v %v, want %v", next, ok, err, remind)
		}
		if due, err := db.DueExpiryReminders(ctx, remind.Add(-time.Second), 0); err != nil || len(due) != 0 {
			t.Fatalf("due before its time: %v %v", ids(due), err)
		}
		due, err := db.DueExpiryReminders(ctx, remind, 0)
		if err != nil || len(due) != 1 || due[0].ID != g.ID {
			t.Fatalf("due at its time: %v %v", ids(due), err)
		}
		// Two replicas race for it: exactly one records it.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.RecordExpiryReminder(ctx, g.ID, remind, access.AuditEvent{At: remind, Actor: botP, Action: access.ActionExpiryReminded, TargetUserID: alice.ObjectID})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrStaleGrant):
				t.Fatalf("RecordExpiryReminder: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d replicas recorded the reminder (%v)", won, errs)
		}
		evs, err := db.Audit(ctx, access.AuditFilter{RequestID: g.RequestID})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Action == access.ActionExpiryReminded {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d reminder events, want 1", n)
		}
		if due, _ := db.DueExpiryReminders(ctx, remind, 0); len(due) != 0 {
			t.Fatalf("still due after it was sent: %v", ids(due))
		}
		if _, ok, _ := db.NextExpiryReminder(ctx, remind); ok {
			t.Fatal("a sent reminder is still next")
		}

		// An extension moves the end and sets a new reminder.
		newEnd := expires.Add(30 * time.Minute)
		x := access.Extension{By: bob, Added: 30 * time.Minute, Reason: "migration", At: remind, Count: 1}
		got, err := extendGrant(t, db, g, access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantActive}, At: remind, NotDueAt: remind,
			ExpiresAt: newEnd, DueAt: newEnd, RemindAt: newEnd.Add(-10 * time.Minute), Extended: &x})
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.Equal(newEnd) || !got.DueAt.Equal(newEnd) || !got.RemindAt.Equal(newEnd.Add(-10*time.Minute)) || got.Extended != x {
			t.Fatalf("extended grant %+v", got)
		}
		if g := mustGrant(t, db, g.ID); g.Extended != x || !g.ExpiresAt.Equal(newEnd) {
			t.Fatalf("read back %+v", g)
		}
		// Not at or after the grant fell due.
		_, err = extendGrant(t, db, g, access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantActive}, At: newEnd, NotDueAt: newEnd, ExpiresAt: newEnd.Add(time.Hour), DueAt: newEnd.Add(time.Hour)})
		if !errors.Is(err, access.ErrStaleGrant) {
			t.Fatalf("extension of a due grant: %v, want ErrStaleGrant", err)
		}
		if g := mustGrant(t, db, g.ID); !g.ExpiresAt.Equal(newEnd) {
			t.Fatalf("a refused extension changed the end to %v", g.ExpiresAt)
		}
		// Not for a grant that ended early, nor once it is due.
		end := access.EarlyEnd{Kind: access.EndReleased, By: alice, At: newEnd.Add(-20 * time.Minute)}
		if _, err := extendGrant(t, db, g, access.GrantUpdate{ID: g.ID, From: []access.GrantState{access.GrantActive}, At: end.At, DueAt: end.At, Early: &end}); err != nil {
			t.Fatal(err)
		}
		if due, _ := db.DueExpiryReminders(ctx, newEnd.Add(-10*time.Minute), 0); len(due) != 0 {
			t.Fatalf("reminder due for a released grant: %v", ids(due))
		}
		if _, ok, _ := db.NextExpiryReminder(ctx, end.At); ok {
			t.Fatal("a released grant has a next reminder")
		}
	})
}

// An extension request is stored with the request it extends.
func TestExtensionRequestStored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		ext := newRequest(alice, "db-admin", t0.Add(30*time.Minute))
		ext.ExtendsRequestID, ext.ExtendsFrom = g.RequestID, g.ExpiresAt
		mustCreate(t, db, ext)
		got := mustGet(t, db, ext.ID)
		if got.ExtendsRequestID != g.RequestID || !got.ExtendsFrom.Equal(g.ExpiresAt) {
			t.Fatalf("extension stored as %q from %v", got.ExtendsRequestID, got.ExtendsFrom)
		}
		open, err := db.OpenRequests(context.Background(), alice.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range open {
			found = found || r.ID == ext.ID && r.ExtendsRequestID == g.RequestID
		}
		if !found {
			t.Fatal("open requests lack the extension with its link")
		}
	})
}

// A database from before extensions opens, gains the columns, and keeps
// its grants and requests as they were (no reminder, no extension).
func TestMigrateFromBeforeExtensions(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		db := openTest(t, dbURL)
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))
		m := db.gorm.Migrator()
		// Plain ALTER TABLE on both: SQLite's migrator would rebuild the
		// table, which its foreign keys forbid.
		for _, stmt := range []string{
			"DROP INDEX IF EXISTS idx_grants_remind_at",
			"DROP INDEX IF EXISTS idx_grants_state_remind",
			"DROP INDEX IF EXISTS idx_requests_extends_request_id",
			"ALTER TABLE grants DROP COLUMN remind_at",
			"ALTER TABLE grants DROP COLUMN extended_by_id",
			"ALTER TABLE grants DROP COLUMN extended_by_name",
			"ALTER TABLE grants DROP COLUMN extended_ns",
			"ALTER TABLE grants DROP COLUMN extended_reason",
			"ALTER TABLE grants DROP COLUMN extended_at",
			"ALTER TABLE grants DROP COLUMN extended_count",
			"ALTER TABLE requests DROP COLUMN extends_request_id",
			"ALTER TABLE requests DROP COLUMN extends_from",
		} {
			if err := db.gorm.Exec(stmt).Error; err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if m.HasColumn(&grantRow{}, "RemindAt") || m.HasColumn(&requestRow{}, "ExtendsRequestID") {
			t.Fatal("column not dropped")
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db2 := openTest(t, dbURL)
		got := mustGet(t, db2, g.RequestID)
		if got.ExtendsRequestID != "" || !got.Grant.RemindAt.IsZero() || got.Grant.Extended != (access.Extension{}) || !got.Grant.ExpiresAt.Equal(g.ExpiresAt) {
			t.Fatalf("migrated request %+v grant %+v", got, got.Grant)
		}
		if _, ok, err := db2.NextExpiryReminder(context.Background(), t0); err != nil || ok {
			t.Fatalf("a migrated grant has a reminder: %v %v", ok, err)
		}
		if !db2.gorm.Migrator().HasIndex(&grantRow{}, "idx_grants_state_remind") {
			t.Error("the migration did not make idx_grants_state_remind")
		}
	})
}

// The next expiry reminder and the due ones are the active grants' whose
// reminder is still to be sent, earliest first, passing over the earlier
// reminders of grants that fell due, ended early or ended (the look goes
// through the active grants in remind_at order).
func TestExpiryRemindersInReminderOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := t0.Add(time.Minute)
		expires := t0.Add(time.Hour)
		person := numberedPerson
		set := func(g access.Grant, cols map[string]any) { t.Helper(); setGrantColumns(t, db, cols, g.ID) }
		fellDue := mustActiveGrant(t, db, person(1), "db-admin", expires)
		set(fellDue, map[string]any{"remind_at": dbTime(now.Add(time.Minute)), "due_at": dbTime(now.Add(-time.Second))})
		early := mustActiveGrant(t, db, person(2), "db-admin", expires)
		set(early, map[string]any{"remind_at": dbTime(now.Add(2 * time.Minute)), "early_kind": "released"})
		ended := mustActiveGrant(t, db, person(3), "db-admin", expires)
		set(ended, map[string]any{"remind_at": dbTime(now.Add(30 * time.Second)), "expires_at": dbTime(now.Add(-time.Second))})
		later := mustActiveGrant(t, db, person(4), "db-admin", expires)
		set(later, map[string]any{"remind_at": dbTime(now.Add(5 * time.Minute))})
		first := mustActiveGrant(t, db, person(5), "db-admin", expires)
		set(first, map[string]any{"remind_at": dbTime(now.Add(3 * time.Minute))})
		sent := mustActiveGrant(t, db, person(6), "db-admin", expires)
		set(sent, map[string]any{"remind_at": nil})

		next, ok, err := db.NextExpiryReminder(ctx, now)
		if err != nil || !ok || !next.Equal(now.Add(3*time.Minute)) {
			t.Errorf("NextExpiryReminder = %v %v %v, want %v", next, ok, err, now.Add(3*time.Minute))
		}
		due, err := db.DueExpiryReminders(ctx, now.Add(10*time.Minute), 0)
		if err != nil || !equalStrings(ids(due), []string{first.ID, later.ID}) {
			t.Errorf("DueExpiryReminders = %v %v, want [%s %s]", ids(due), err, first.ID, later.ID)
		}
		if due, err := db.DueExpiryReminders(ctx, now.Add(10*time.Minute), 1); err != nil || !equalStrings(ids(due), []string{first.ID}) {
			t.Errorf("DueExpiryReminders(limit 1) = %v %v, want [%s]", ids(due), err, first.ID)
		}
	})
}
