package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// ParseStart reads a start in the requester's zone by that zone's rules on
// the day meant, not by a fixed offset: across a change to or from
// daylight saving time "tomorrow 9:00" is 9:00 on the wall clock.
func TestParseStart(t *testing.T) {
	berlin, _ := access.Zone("Europe/Berlin")
	newYork, _ := access.Zone("America/New_York")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		text string
		zone *time.Location
		now  string
		want string // "" for an ordinary request
		bad  bool
	}{
		{"22:00", berlin, "2026-11-23T09:00:00Z", "2026-11-23T21:00:00Z", false},
		{"22:00", time.UTC, "2026-11-23T09:00:00Z", "2026-11-23T22:00:00Z", false},
		{"9:30", berlin, "2026-11-23T09:00:00Z", "2026-11-24T08:30:00Z", false}, // 10:00 in Berlin: passed, tomorrow
		{"21h", berlin, "2026-11-23T09:00:00Z", "2026-11-23T20:00:00Z", false},
		{"today 9:30", berlin, "2026-11-23T09:00:00Z", "", false},                         // said to be today, and passed: now
		{"tomorrow 9:00", berlin, "2026-11-23T22:30:00Z", "2026-11-24T08:00:00Z", false},  // 23:30 Berlin is the 23rd
		{"tomorrow 09:00", berlin, "2026-11-23T23:30:00Z", "2026-11-25T08:00:00Z", false}, // 00:30 Berlin is the 24th
		{"2026-12-02 22:00", berlin, "2026-11-23T09:00:00Z", "2026-12-02T21:00:00Z", false},
		{"2026-12-02t22:00", berlin, "2026-11-23T09:00:00Z", "2026-12-02T21:00:00Z", false},
		{"2026-11-20 22:00", berlin, "2026-11-23T09:00:00Z", "", false}, // in the past: now
		{"now", berlin, "2026-11-23T09:00:00Z", "", false},
		{"", berlin, "2026-11-23T09:00:00Z", "", false},
		// Spring forward in Berlin (29 Mar 2026, 02:00 CET -> 03:00 CEST).
		{"tomorrow 9:00", berlin, "2026-03-28T12:00:00Z", "2026-03-29T07:00:00Z", false},
		{"9:00", berlin, "2026-03-28T12:00:00Z", "2026-03-29T07:00:00Z", false},
		// Fall back in New York (1 Nov 2026, 02:00 EDT -> 01:00 EST).
		{"tomorrow 9:00", newYork, "2026-10-31T16:00:00Z", "2026-11-01T14:00:00Z", false},
		{"9:00", newYork, "2026-10-31T14:00:00Z", "2026-11-01T14:00:00Z", false}, // 10:00 EDT: passed
		{"25:00", berlin, "2026-11-23T09:00:00Z", "", true},
		{"22:5", berlin, "2026-11-23T09:00:00Z", "", true},
		{"tonight", berlin, "2026-11-23T09:00:00Z", "", true},
		{"next week 9:00", berlin, "2026-11-23T09:00:00Z", "", true},
		{"2026-13-01 9:00", berlin, "2026-11-23T09:00:00Z", "", true},
	} {
		got, err := access.ParseStart(tc.text, tc.zone, at(tc.now))
		if tc.bad {
			if !errors.Is(err, access.ErrInvalidInput) {
				t.Errorf("ParseStart(%q) = %v, %v; want a refusal", tc.text, got, err)
			}
			continue
		}
		want := time.Time{}
		if tc.want != "" {
			want = at(tc.want)
		}
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseStart(%q in %s at %s) = %v, %v; want %v", tc.text, tc.zone, tc.now, got, err, want)
		}
	}
}

// The zone a client names is used when it is a real IANA zone; anything
// else (none, the server's "Local", an unknown or hostile name) is UTC.
func TestZone(t *testing.T) {
	for name, want := range map[string]string{
		"Europe/Berlin": "Europe/Berlin", "": "UTC", "Local": "UTC", "UTC": "UTC",
		"Mars/Olympus": "UTC", "../../etc/passwd": "UTC", "Europe/Berlin ": "Europe/Berlin",
	} {
		if _, got := access.Zone(name); got != want {
			t.Errorf("Zone(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestFormatStartAndIn(t *testing.T) {
	req := &access.Request{StartsAt: time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC), StartZone: "Europe/Berlin"}
	if got, want := access.FormatStart(req), "22:00 on 23 Nov 2026 Europe/Berlin (21:00 UTC)"; got != want {
		t.Errorf("FormatStart = %q, want %q", got, want)
	}
	req.StartZone = "UTC"
	if got, want := access.FormatStart(req), "21:00 UTC on 23 Nov 2026"; got != want {
		t.Errorf("FormatStart in UTC = %q, want %q", got, want)
	}
	for d, want := range map[time.Duration]string{3*time.Hour + 10*time.Minute: "3h 10m", 45 * time.Minute: "45m", 2 * time.Hour: "2h", 20 * time.Second: "less than a minute"} {
		if got := access.FormatIn(req.StartsAt, req.StartsAt.Add(-d)); got != want {
			t.Errorf("FormatIn(%s) = %q, want %q", d, got, want)
		}
	}
}

// A scheduled request on each store: approved ahead with nothing added;
// at its start it shares the membership another active grant of the
// requester holds (nothing is added for it), and ends at start +
// duration, the membership staying while the other grant holds it.
func TestScheduledStartSharesAMembershipOnEachStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		ctx := context.Background()
		e := newEnv(t, store)
		now := e.submit(riley, 4*time.Hour)
		if _, err := e.decide(now.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		later, err := e.svc.Submit(ctx, access.Submission{
			TenantID: tenant, Requester: riley, Profile: "prod-db", Duration: time.Hour, Ticket: "INC-4712",
			Justification: "the migration after the fix", Start: "11:00", TimeZone: "UTC",
		})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
		if !later.StartsAt.Equal(at) || later.StartZone != "UTC" {
			t.Fatalf("start %v in %q", later.StartsAt, later.StartZone)
		}
		got, err := e.decide(later.ID, alex, access.Approve, "")
		if err != nil || got.State != access.RequestScheduled || got.Grant != nil {
			t.Fatalf("approved ahead: %v %+v", err, got)
		}
		e.clock.Set(at.Add(-time.Second))
		if n, err := e.svc.WorkStarts(ctx); n != 0 || err != nil {
			t.Fatalf("started early: %d %v", n, err)
		}
		e.clock.Set(at)
		if n, err := e.svc.WorkStarts(ctx); n != 1 || err != nil {
			t.Fatalf("start: %d %v", n, err)
		}
		g := mustGrant(t, e, later.ID)
		if g.State != access.GrantActive || !g.Shared || !g.ExpiresAt.Equal(at.Add(time.Hour)) || !g.ApprovedAt.Equal(at) {
			t.Fatalf("the started grant: %+v", g)
		}
		e.clock.Set(at.Add(time.Hour))
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}
		if g := mustGrant(t, e, later.ID); g.State != access.GrantRevoked || !e.isMember(riley.ObjectID) {
			t.Fatalf("at start + duration: %s, member %v (the first grant still holds it)", g.State, e.isMember(riley.ObjectID))
		}
		if n, err := e.svc.WorkStarts(ctx); n != 0 || err != nil {
			t.Fatalf("started again: %d %v", n, err)
		}
	})
}
