package access_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
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
