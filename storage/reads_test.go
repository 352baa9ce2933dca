package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestEachRequestPages reads more requests than one page holds, oldest
// first, with none lost or repeated at the page boundaries (several share
// one creation time), and filters across pages.
func TestEachRequestPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const n = readPage*2 + 7
		for i := 0; i < n; i++ {
			user := access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: fmt.Sprint("user ", i)}
			profile := "prod-db"
			if i%2 == 1 {
				profile = "staging"
			}
			// Three requests per microsecond: the page boundary falls inside a tie.
			mustCreate(t, db, newRequest(user, profile, t0.Add(time.Duration(i/3)*time.Microsecond)))
		}
		var got []access.Request
		if err := db.EachRequest(ctx, access.RequestQuery{}, func(r access.Request) error {
			got = append(got, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("read %d requests, want %d", len(got), n)
		}
		seen := map[string]bool{}
		for i, r := range got {
			if seen[r.ID] {
				t.Fatalf("request %s read twice", r.ID)
			}
			seen[r.ID] = true
			if i > 0 {
				p := got[i-1]
				if r.CreatedAt.Before(p.CreatedAt) || (r.CreatedAt.Equal(p.CreatedAt) && r.ID < p.ID) {
					t.Fatalf("request %d out of order", i)
				}
			}
		}
		staging := 0
		if err := db.EachRequest(ctx, access.RequestQuery{Profile: "staging", Since: t0.Add(time.Microsecond)}, func(r access.Request) error {
			if r.Profile != "staging" || r.CreatedAt.Before(t0.Add(time.Microsecond)) {
				t.Errorf("filtered read returned %s created %v", r.Profile, r.CreatedAt)
			}
			staging++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Requests 3.. of the odd ones: (n-3)/2 rounded up.
		if want := (n - 3 + 1) / 2; staging != want {
			t.Errorf("staging since t0+1µs: %d, want %d", staging, want)
		}
	})
}

// TestRedeemDownloadOnce: two replicas racing to use one download link
// (two connections to one database) admit exactly one use, audited once.
func TestRedeemDownloadOnce(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, dbURL string) {
		a, b := openTest(t, dbURL), openTest(t, dbURL)
		ev := access.AuditEvent{At: t0, Actor: alice, Action: access.ActionDownloaded, Reason: "download link L1"}
		errs := race(8, func(i int) error {
			db := a
			if i%2 == 1 {
				db = b
			}
			return db.RedeemDownload(context.Background(), "L1", alice.ObjectID, ev)
		})
		ok, used := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, access.ErrLinkUsed):
				used++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || used != 7 {
			t.Errorf("%d uses admitted and %d refused as used, want 1 and 7", ok, used)
		}
		evs, err := a.Audit(context.Background(), access.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Action != access.ActionDownloaded {
			t.Errorf("audit after the race: %+v", evs)
		}
	})
}
