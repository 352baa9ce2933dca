package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// BenchmarkNextPending is what the scheduler's look for the next pending
// deadline or reminder (NextPending) and for the pending requests due
// (DuePending) cost with 10 pending requests among 20,000 decided ones,
// every one of which kept its deadline: neither may walk past the decided
// requests. SQLite. Run it with
//
//	go test -run '^$' -bench BenchmarkNextPending ./storage/
func BenchmarkNextPending(b *testing.B) {
	const decided, pending = 20_000, 10
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "jitbot.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows := make([]requestRow, 0, decided+pending)
	for i := range decided + pending {
		user := access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: "User"}
		req := newRequest(user, "db-admin", t0.Add(time.Duration(i)*time.Second))
		req.ID = fmt.Sprintf("request-%d", i)
		req.State = access.RequestDenied
		if i >= decided {
			req.State = access.RequestPending
		}
		row, err := toRequestRow(req)
		if err != nil {
			b.Fatal(err)
		}
		// Deadlines and reminders from the start of the history on: the
		// earliest ones are the decided requests'.
		decideBy := dbTime(t0.Add(time.Duration(i) * time.Second).Add(time.Hour))
		remind := dbTime(t0.Add(time.Duration(i) * time.Second).Add(10 * time.Minute))
		row.DecideBy, row.NextReminderAt = &decideBy, &remind
		row.UpdatedAt = row.CreatedAt
		rows = append(rows, row)
	}
	if err := db.gorm.CreateInBatches(rows, 500).Error; err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := t0.Add(decided * time.Second) // the pending requests are not due yet
	b.ResetTimer()
	for b.Loop() {
		next, ok, err := db.NextPending(ctx)
		if err != nil || !ok || next.Before(now) {
			b.Fatalf("next pending = %v, %v, %v; want one of the pending requests'", next, ok, err)
		}
		due, err := db.DuePending(ctx, now, 20)
		if err != nil || len(due) != 0 {
			b.Fatalf("due pending = %d, %v; want none", len(due), err)
		}
	}
}

// BenchmarkNextExpiryReminder is what the scheduler's look for the next
// expiry reminder (NextExpiryReminder) and for the reminders due
// (DueExpiryReminders) cost with 10,000 active grants, whose reminders
// are all still to come: neither may read every active grant. SQLite.
// Run it with
//
//	go test -run '^$' -bench BenchmarkNextExpiryReminder ./storage/
func BenchmarkNextExpiryReminder(b *testing.B) {
	const active = 10_000
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "jitbot.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	reqs := make([]requestRow, 0, active)
	grants := make([]grantRow, 0, active)
	for i := range active {
		user := access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: "User"}
		at := t0.Add(time.Duration(i) * time.Second)
		req := newRequest(user, "db-admin", at)
		req.ID, req.State = fmt.Sprintf("request-%d", i), access.RequestActive
		rr, err := toRequestRow(req)
		if err != nil {
			b.Fatal(err)
		}
		rr.UpdatedAt = rr.CreatedAt
		reqs = append(reqs, rr)
		g := access.Grant{
			ID: fmt.Sprintf("grant-%d", i), RequestID: req.ID, Profile: req.Profile, GroupID: req.GroupID, User: user,
			State: access.GrantActive, ApprovedAt: at, GrantedAt: at, ExpiresAt: at.Add(24 * time.Hour), DueAt: at.Add(24 * time.Hour),
			RemindAt: at.Add(23 * time.Hour), Checked: true,
		}
		gr, err := toGrantRow(&g)
		if err != nil {
			b.Fatal(err)
		}
		grants = append(grants, gr)
	}
	if err := db.gorm.CreateInBatches(reqs, 500).Error; err != nil {
		b.Fatal(err)
	}
	if err := db.gorm.CreateInBatches(grants, 500).Error; err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := t0.Add(active * time.Second) // no reminder is due yet
	b.ResetTimer()
	for b.Loop() {
		next, ok, err := db.NextExpiryReminder(ctx, now)
		if err != nil || !ok || !next.Equal(t0.Add(23*time.Hour)) {
			b.Fatalf("next reminder = %v, %v, %v; want the first grant's", next, ok, err)
		}
		due, err := db.DueExpiryReminders(ctx, now, 20)
		if err != nil || len(due) != 0 {
			b.Fatalf("due reminders = %d, %v; want none", len(due), err)
		}
	}
}
