package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
)

// benchGrants is how many grants BenchmarkGrantCounts seeds: a large
// deployment's history, a tenth of it live.
const benchGrants = 100_000

// BenchmarkGrantCounts measures what a /metrics scrape costs the database:
// counting the live grants by profile and state among benchGrants grants,
// on SQLite and (with JITBOT_TEST_POSTGRES) PostgreSQL. Run it with
//
//	go test -run '^$' -bench BenchmarkGrantCounts ./storage/
func BenchmarkGrantCounts(b *testing.B) {
	onEachDatabase(b, func(b *testing.B, db *DB) {
		fillGrants(b, db, benchGrants)
		b.ResetTimer()
		for b.Loop() {
			counts, err := db.GrantCounts(context.Background())
			if err != nil || len(counts) != 10 {
				b.Fatalf("GrantCounts: %d profiles, %v", len(counts), err)
			}
		}
	})
}

// fillGrants stores n grants of 10 profiles, one in ten live (active), the
// rest revoked, with their requests.
func fillGrants(b *testing.B, db *DB, n int) {
	b.Helper()
	const batch = 1000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		reqs := make([]requestRow, 0, batch)
		grants := make([]grantRow, 0, batch)
		for i := 0; i < batch && done < n; i++ {
			profile := fmt.Sprintf("profile-%d", done%10)
			state, reqState := access.GrantRevoked, access.RequestExpired
			if done%100 < 10 {
				state, reqState = access.GrantActive, access.RequestActive
			}
			id := uuid.NewString()
			user := fmt.Sprintf("00000000-0000-4000-8000-%012d", done)
			reqs = append(reqs, requestRow{ID: id, Profile: profile, GroupID: "group-" + profile, RequesterID: user, RequesterName: "User",
				State: string(reqState), CreatedAt: at, UpdatedAt: at})
			grants = append(grants, grantRow{ID: uuid.NewString(), RequestID: id, Profile: profile, GroupID: "group-" + profile, UserID: user,
				UserName: "User", State: string(state), ApprovedAt: at, ExpiresAt: at.Add(time.Hour), DueAt: at.Add(time.Hour)})
			done++
		}
		if err := db.gorm.CreateInBatches(&reqs, 100).Error; err != nil {
			b.Fatal(err)
		}
		if err := db.gorm.CreateInBatches(&grants, 100).Error; err != nil {
			b.Fatal(err)
		}
	}
}
