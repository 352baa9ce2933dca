package storage

import (
	"context"
	"strings"
	"testing"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/jitbot/jitbot/access"
)

// The API client of a request made through the API is stored with it; a
// database from before the API gets the columns, and its requests have no
// client.
func TestAPIClientIsStoredAndOldDatabasesMigrate(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		db, err := Open(ctx, dbURL, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		old := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		// The schema as it was before requests could come through the API.
		var dialector gorm.Dialector
		if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
			dialector = sqlite.Open(path + "?" + sqliteParams)
		} else {
			dialector = postgres.Open(dbURL)
		}
		raw, err := gorm.Open(dialector, &gorm.Config{Logger: gormlogger.Discard})
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range []string{"api_client_id", "api_client_name"} {
			if err := raw.Migrator().DropColumn(&requestRow{}, col); err != nil {
				t.Fatalf("drop %s: %v", col, err)
			}
		}
		if raw.Migrator().HasColumn(&requestRow{}, "api_client_id") {
			t.Fatal("the column is still there")
		}
		if sqlDB, err := raw.DB(); err == nil {
			_ = sqlDB.Close()
		}

		db = openTest(t, dbURL)
		got := mustGet(t, db, old.ID)
		if !got.Client.IsZero() || got.Client != (access.APIClient{}) {
			t.Errorf("a request from before the API has client %+v", got.Client)
		}
		req := newRequest(bob, "db-admin", t0)
		req.RequesterChat = access.ConversationRef{}
		req.Client = access.APIClient{AppID: "7d1f3a2b-0000-4000-8000-00000000c1d0", Name: "deploy pipeline"}
		got = mustGet(t, db, mustCreate(t, db, req).ID)
		if got.Client != req.Client {
			t.Errorf("client read back %+v, want %+v", got.Client, req.Client)
		}
		open, err := db.OpenRequests(ctx, bob.ObjectID)
		if err != nil || len(open) != 1 || open[0].Client != req.Client {
			t.Errorf("open requests %+v, %v", open, err)
		}
	})
}
