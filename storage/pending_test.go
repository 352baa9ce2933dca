package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func pendingEvent(req *access.Request, action access.Action, at time.Time) access.AuditEvent {
	return access.AuditEvent{At: at, Actor: access.System, Action: action, RequestID: req.ID, Profile: req.Profile, GroupID: req.GroupID, TargetUserID: req.Requester.ObjectID}
}

func TestPendingDeadlinesAndReminders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := newRequest(alice, "prod-db", t0)
		req.DecideBy, req.NextReminderAt = t0.Add(time.Hour), t0.Add(15*time.Minute)
		got := mustCreate(t, db, req)
		if !got.DecideBy.Equal(req.DecideBy) || !got.NextReminderAt.Equal(req.NextReminderAt) || got.Reminders != 0 {
			t.Fatalf("stored %s / %s / %d", got.DecideBy, got.NextReminderAt, got.Reminders)
		}
		mustCreate(t, db, newRequest(bob, "prod-db", t0)) // stored without a deadline
		next, ok, err := db.NextPending(ctx)
		if err != nil || !ok || !next.Equal(req.NextReminderAt) {
			t.Fatalf("NextPending: %s %v %v", next, ok, err)
		}
		if due, err := db.DuePending(ctx, t0.Add(14*time.Minute), 10); err != nil || len(due) != 0 {
			t.Fatalf("due at +14m: %d, %v", len(due), err)
		}
		due, err := db.DuePending(ctx, t0.Add(15*time.Minute), 10)
		if err != nil || len(due) != 1 || due[0].ID != got.ID {
			t.Fatalf("due at +15m: %v, %v", due, err)
		}

		// Two replicas record reminder 1: one wins.
		at := t0.Add(15 * time.Minute)
		errs := race(2, func(int) error {
			return db.RecordReminder(ctx, got.ID, 1, t0.Add(30*time.Minute), pendingEvent(got, access.ActionReminded, at))
		})
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrNotPending):
				t.Fatalf("RecordReminder: %v", err)
			}
		}
		if won != 1 || auditCount(t, db, got.ID, access.ActionReminded) != 1 {
			t.Fatalf("%d replicas recorded reminder 1", won)
		}
		if cur := mustGet(t, db, got.ID); cur.Reminders != 1 || !cur.NextReminderAt.Equal(t0.Add(30*time.Minute)) {
			t.Fatalf("after reminder 1: %d, %s", cur.Reminders, cur.NextReminderAt)
		}

		// Two replicas close it at its deadline: one wins, and then nothing is due.
		closeAt := t0.Add(time.Hour)
		closed := race(2, func(i int) error {
			to := access.RequestTimedOut
			if i == 1 {
				to = access.RequestCancelled
			}
			_, err := db.CloseRequest(ctx, got.ID, to, closeAt, pendingEvent(got, access.ActionTimedOut, closeAt))
			return err
		})
		won = 0
		for _, err := range closed {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrNotPending):
				t.Fatalf("CloseRequest: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d closes won", won)
		}
		if cur := mustGet(t, db, got.ID); !cur.State.Final() || !cur.NextReminderAt.IsZero() {
			t.Fatalf("closed request: %s, next reminder %s", cur.State, cur.NextReminderAt)
		}
		if err := db.RecordReminder(ctx, got.ID, 2, time.Time{}, pendingEvent(got, access.ActionReminded, closeAt)); !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("reminder of a closed request: %v", err)
		}
		if _, err := db.CloseRequest(ctx, "missing", access.RequestCancelled, closeAt, pendingEvent(got, access.ActionCancelled, closeAt)); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("closing a missing request: %v", err)
		}
		if due, err := db.DuePending(ctx, t0.Add(10*time.Hour), 10); err != nil || len(due) != 0 {
			t.Fatalf("due after closing: %v, %v", due, err)
		}
		if _, ok, err := db.NextPending(ctx); err != nil || ok {
			t.Fatalf("NextPending after closing: %v %v", ok, err)
		}
		// The requester may ask again for the profile.
		mustCreate(t, db, newRequest(alice, "prod-db", closeAt))
	})
}

// Requests stored before deadlines existed are found and dated once, by one
// of racing replicas; a dated or closed request is left as it is.
func TestUndatedPendingAndSetDeadline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		dated := newRequest(alice, "prod-db", t0)
		dated.DecideBy = t0.Add(time.Hour)
		mustCreate(t, db, dated)
		old := mustCreate(t, db, newRequest(bob, "prod-db", t0.Add(time.Minute)))
		undated, err := db.UndatedPending(ctx, 10)
		if err != nil || len(undated) != 1 || undated[0].ID != old.ID {
			t.Fatalf("UndatedPending: %v, %v; want only %s", undated, err, old.ID)
		}
		deadline, first := t0.Add(3*time.Hour), t0.Add(2*time.Hour+15*time.Minute)
		ev := access.AuditEvent{At: t0.Add(2 * time.Hour), Actor: access.System, Action: access.ActionDeadlineSet, Reason: "decide by 12:00 UTC"}
		errs := race(2, func(int) error { return db.SetDeadline(ctx, old.ID, deadline, first, ev) })
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, access.ErrNotPending):
				t.Fatalf("losing SetDeadline: %v, want ErrNotPending", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d replicas set the deadline, want 1", won)
		}
		got := mustGet(t, db, old.ID)
		if !got.DecideBy.Equal(deadline) || !got.NextReminderAt.Equal(first) {
			t.Fatalf("stored deadline %s, reminder %s", got.DecideBy, got.NextReminderAt)
		}
		// The one that won is audited, in the request's trail; the losers
		// appended nothing.
		evs, err := db.Audit(ctx, access.AuditFilter{RequestID: old.ID})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, got := range evs {
			if got.Action == access.ActionDeadlineSet {
				n++
				if got.Actor.ObjectID != access.System.ObjectID || got.Reason != ev.Reason || !got.At.Equal(ev.At) {
					t.Fatalf("deadline event %+v", got)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d %s events, want 1", n, access.ActionDeadlineSet)
		}
		if undated, err := db.UndatedPending(ctx, 10); err != nil || len(undated) != 0 {
			t.Fatalf("UndatedPending after dating: %v, %v", undated, err)
		}
		if err := db.SetDeadline(ctx, "no-such-request", deadline, time.Time{}, ev); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("SetDeadline of a missing request: %v, want ErrNotFound", err)
		}
	})
}

// The due pending requests are those whose deadline or next reminder (or
// both) has come, each once, oldest first, up to the limit; a decided
// request is not due, whatever its deadline.
func TestDuePendingByDeadlineOrReminder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := t0.Add(time.Hour)
		person := func(n int) access.Person {
			return access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), Name: fmt.Sprintf("User %d", n)}
		}
		create := func(n int, decideBy, remind time.Time) *access.Request {
			t.Helper()
			req := newRequest(person(n), "prod-db", t0.Add(time.Duration(n)*time.Minute))
			req.DecideBy, req.NextReminderAt = decideBy, remind
			return mustCreate(t, db, req)
		}
		both := create(1, now.Add(-time.Minute), now.Add(-2*time.Minute))
		byReminder := create(2, now.Add(time.Hour), now)
		notYet := create(3, now.Add(time.Hour), now.Add(time.Second))
		byDeadline := create(4, now, time.Time{})
		decided := create(5, now.Add(-time.Hour), now.Add(-time.Hour))
		mustApprove(t, db, decided, now.Add(-2*time.Hour))

		due, err := db.DuePending(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range due {
			got = append(got, r.ID)
		}
		if want := []string{both.ID, byReminder.ID, byDeadline.ID}; !equalStrings(got, want) {
			t.Errorf("DuePending = %v, want %v (not %s, not yet due, nor %s, decided)", got, want, notYet.ID, decided.ID)
		}
		due, err = db.DuePending(ctx, now, 2)
		if err != nil || len(due) != 2 || due[0].ID != both.ID || due[1].ID != byReminder.ID {
			t.Errorf("DuePending(limit 2) = %v %v, want the two oldest", due, err)
		}
	})
}
