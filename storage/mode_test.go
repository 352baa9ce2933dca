package storage

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestDatabaseRecordsItsMode(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, db *DB) {
		if got, err := db.Mode(ctx, ModeServe); err != nil || got != ModeServe {
			t.Fatalf("new database: %q, %v", got, err)
		}
		// The first mode stays, whoever asks next.
		if got, err := db.Mode(ctx, ModeDemo); err != nil || got != ModeServe {
			t.Fatalf("asked as demo: %q, %v; want the recorded serve", got, err)
		}
		if _, err := db.Mode(ctx, "prod"); err == nil {
			t.Fatal("an unknown mode was accepted")
		}
	})
}

func TestModeOfADatabaseFromBeforeModes(t *testing.T) {
	ctx := context.Background()
	forget := func(t *testing.T, db *DB) {
		t.Helper()
		if err := db.gorm.Where("1 = 1").Delete(&metaRow{}).Error; err != nil {
			t.Fatal(err)
		}
	}
	forEachBackend(t, func(t *testing.T, db *DB) {
		// A demo database: it holds demo directory memberships.
		if err := db.DemoDirectory().SetMember(ctx, "6d656d6f-0000-4000-8000-000000000002", "22222222-2222-4222-8222-222222222222"); err != nil {
			t.Fatal(err)
		}
		forget(t, db)
		if got, err := db.Mode(ctx, ModeServe); err != nil || got != ModeDemo {
			t.Fatalf("database with demo memberships: %q, %v; want demo", got, err)
		}
	})
	forEachBackend(t, func(t *testing.T, db *DB) {
		// A serve database: requests, and no demo directory.
		req := &access.Request{Profile: "prod-db", GroupID: "g", Requester: access.Person{ObjectID: "u", Name: "U"}, Duration: time.Hour, Justification: "j"}
		if _, err := db.CreateRequest(ctx, req, access.AuditEvent{At: time.Now(), Action: access.ActionRequested}); err != nil {
			t.Fatal(err)
		}
		forget(t, db)
		if got, err := db.Mode(ctx, ModeDemo); err != nil || got != ModeServe {
			t.Fatalf("database with requests: %q, %v; want serve", got, err)
		}
	})
}
