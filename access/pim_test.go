package access_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
)

// TestPIMNeedsOneModeAndAPIMDirectory: profiles sharing a group cannot
// differ in membership mode, a pim profile needs a PIM directory, and an
// unknown mode is refused.
func TestPIMNeedsOneModeAndAPIMDirectory(t *testing.T) {
	e := newEnv(t, onMemory)
	pim := prodProfile()
	pim.Membership = access.MembershipPIM
	other := prodProfile()
	other.Name = "prod-db-admin"
	for _, c := range []struct {
		name     string
		profiles []access.Profile
		want     string
	}{
		{"two modes on one group", []access.Profile{pim, other}, "a group has one membership mode"},
		{"no PIM directory", []access.Profile{pim}, "need a PIM directory"},
		{"unknown mode", []access.Profile{func() access.Profile { p := prodProfile(); p.Membership = "entra"; return p }()}, `membership "entra": want direct or pim`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := access.Config{TenantID: tenant, Profiles: c.profiles, Store: e.store, Directory: e.dir, Notifier: e.notes,
				Clock: e.clock, NewID: func() string { return "id" }}
			if _, err := access.New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v; want an error with %q", err, c.want)
			}
		})
	}
	if got := prodProfile().MembershipMode(); got != access.MembershipDirect {
		t.Errorf("default mode %q, want direct", got)
	}
}

// pimRecorder is a PIM directory that records the assignments made and
// lets time pass (the clock advanced by delay) when asked whether an
// assignment exists, as the calls before an add take time.
type pimRecorder struct {
	clock    *accesstest.Clock
	delay    time.Duration
	assigned []access.PIMAssignment
}

func (p *pimRecorder) AssignPIM(_ context.Context, a access.PIMAssignment) error {
	p.assigned = append(p.assigned, a)
	return nil
}
func (p *pimRecorder) ExtendPIM(context.Context, access.PIMAssignment) error { return nil }
func (p *pimRecorder) RemovePIM(context.Context, string, string) error       { return nil }
func (p *pimRecorder) PIMActive(context.Context, string, string) (bool, error) {
	p.clock.Advance(p.delay)
	return false, nil
}
func (p *pimRecorder) PIMAssignments(context.Context, string) ([]access.PIMAssignment, error) {
	return p.assigned, nil
}
func (p *pimRecorder) PIMPolicy(context.Context, string) (access.PIMPolicy, error) {
	return access.PIMPolicy{Onboarded: true}, nil
}

// TestPIMShortestGrantIsAssignedWhole: a grant of Entra's shortest
// assignment, added a few seconds after its approval, is still assigned
// for at least that long (Entra refuses less), from the time of the add.
func TestPIMShortestGrantIsAssignedWhole(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		pim := &pimRecorder{clock: e.clock, delay: 3 * time.Second}
		e.openWith(func(c *access.Config) {
			p := prodProfile()
			p.Membership, p.MinDuration = access.MembershipPIM, access.PIMMinDuration
			c.Profiles, c.PIM = []access.Profile{p}, pim
		})
		req := e.submit(riley, access.PIMMinDuration)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		if len(pim.assigned) != 1 {
			t.Fatalf("%d assignments, want 1", len(pim.assigned))
		}
		a := pim.assigned[0]
		g := mustGrant(t, e, req.ID)
		if d := a.End.Sub(a.Start); d < access.PIMMinDuration {
			t.Errorf("assigned for %s (from %s, the grant ends %s), less than Entra's shortest %s", d, a.Start, g.ExpiresAt, access.PIMMinDuration)
		}
		if a.End.Before(g.ExpiresAt) {
			t.Errorf("the assignment ends at %s, before the grant (%s)", a.End, g.ExpiresAt)
		}
	})
}
