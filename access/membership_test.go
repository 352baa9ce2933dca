package access

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func grantIn(id string, st GrantState) Grant { return Grant{ID: id, State: st} }

func ids(gs []Grant) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

func TestApprovalShares(t *testing.T) {
	for _, c := range []struct {
		grants []Grant
		want   bool
	}{
		{nil, false},
		{[]Grant{grantIn("a", GrantGranting)}, true},
		{[]Grant{grantIn("a", GrantActive)}, true},
		{[]Grant{grantIn("a", GrantIrrevocable)}, true},
		// A revoking grant's membership is on its way out: a new grant adds it.
		{[]Grant{grantIn("a", GrantRevoking)}, false},
	} {
		if got := approvalShares(&Membership{Grants: c.grants}); got != c.want {
			t.Errorf("approvalShares(%+v) = %v, want %v", c.grants, got, c.want)
		}
	}
}

func TestRevokePlan(t *testing.T) {
	active := grantIn("x", GrantActive)
	pre := active
	pre.PreExisting = true
	for _, c := range []struct {
		name   string
		m      Membership
		g      Grant
		step   revokeStep
		reason string
	}{
		{"alone", Membership{}, active, revokeRemove, ""},
		{"another active grant holds it", Membership{Grants: []Grant{grantIn("y", GrantActive)}}, active, revokeKeep, ReasonKept},
		{"another granting grant holds it", Membership{Grants: []Grant{grantIn("y", GrantGranting)}}, active, revokeKeep, ReasonKept},
		{"another irrevocable grant holds it", Membership{Grants: []Grant{grantIn("y", GrantIrrevocable)}}, grantIn("x", GrantIrrevocable), revokeKeep, ReasonKept},
		{"another grant is being revoked", Membership{Grants: []Grant{grantIn("y", GrantRevoking)}}, active, revokeRemove, ""},
		{"the ledger says pre-existing", Membership{PreExisting: true}, active, revokeSkip, ReasonPreExisting},
		{"the grant says pre-existing", Membership{}, pre, revokeSkip, ReasonPreExisting},
		{"kept wins over pre-existing", Membership{PreExisting: true, Grants: []Grant{grantIn("y", GrantActive)}}, active, revokeKeep, ReasonKept},
		// A revoking grant's removal was decided before it was interrupted.
		{"revoking stays removing", Membership{PreExisting: true, Grants: []Grant{grantIn("y", GrantActive)}}, grantIn("x", GrantRevoking), revokeRemove, ""},
	} {
		m := c.m
		m.Grants = append([]Grant{c.g}, m.Grants...)
		step, reason := revokePlan(&m, &c.g)
		if step != c.step || reason != c.reason {
			t.Errorf("%s: revokePlan = %v %q, want %v %q", c.name, step, reason, c.step, c.reason)
		}
	}
}

func TestReaddAfterRemoval(t *testing.T) {
	m := &Membership{Grants: []Grant{
		grantIn("removed", GrantRevoking), grantIn("a", GrantActive), grantIn("g", GrantGranting),
		grantIn("r", GrantRevoking), grantIn("i", GrantIrrevocable),
	}}
	if got := ids(readdAfterRemoval(m, "removed")); !slices.Equal(got, []string{"a", "g"}) {
		t.Errorf("readdAfterRemoval = %v, want [a g]", got)
	}
}

func TestOrphanedShared(t *testing.T) {
	shared := func(id string) Grant { g := grantIn(id, GrantActive); g.Shared = true; return g }
	claimed := shared("claimed")
	claimed.ClaimedBy, claimed.ClaimUntil = "replica-2", at.Add(time.Minute)
	ended := shared("ended")
	ended.ClaimedBy, ended.ClaimUntil = "replica-2", at
	failed := grantIn("failed", GrantGranting)
	for _, c := range []struct {
		name   string
		grants []Grant
		want   []string
	}{
		{"shared grants lose their backer", []Grant{failed, shared("s1"), shared("s2")}, []string{"s1", "s2"}},
		{"another granting grant backs them", []Grant{failed, shared("s1"), grantIn("g", GrantGranting)}, nil},
		{"an active unshared grant backs them", []Grant{failed, shared("s1"), grantIn("a", GrantActive)}, nil},
		{"an irrevocable grant backs them", []Grant{failed, shared("s1"), grantIn("i", GrantIrrevocable)}, nil},
		{"a revoking grant backs nothing", []Grant{failed, shared("s1"), grantIn("r", GrantRevoking)}, []string{"s1"}},
		{"a grant another replica is ending is left to it", []Grant{failed, claimed, ended}, []string{"ended"}},
	} {
		got := ids(orphanedShared(&Membership{Grants: c.grants}, "failed", at))
		if !slices.Equal(got, append([]string{}, c.want...)) {
			t.Errorf("%s: orphanedShared = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLedgerAfterGrant(t *testing.T) {
	for _, c := range []struct {
		g        Grant
		set, pre bool
	}{
		{Grant{Checked: true, PreExisting: true}, true, true},
		{Grant{Checked: true}, true, false},
		{Grant{Shared: true}, false, false},
	} {
		if set, pre := ledgerAfterGrant(&c.g); set != c.set || pre != c.pre {
			t.Errorf("ledgerAfterGrant(%+v) = %v %v, want %v %v", c.g, set, pre, c.set, c.pre)
		}
	}
}

func TestRetryable(t *testing.T) {
	expires := at.Add(time.Hour)
	g := func(st GrantState, attempts int, due time.Time) *Grant {
		return &Grant{ID: "x", State: st, Attempts: attempts, ExpiresAt: expires, DueAt: due}
	}
	claimedBy := func(gr *Grant, until time.Time) *Grant { gr.ClaimedBy, gr.ClaimUntil = "replica-2", until; return gr }
	for _, c := range []struct {
		name string
		g    *Grant
		err  error  // nil: may retry
		says string // in the refusal
	}{
		{"irrevocable", g(GrantIrrevocable, 8, at.Add(time.Hour)), nil, ""},
		{"revoking after a failed attempt", g(GrantRevoking, 2, at.Add(time.Minute)), nil, ""},
		{"active past due after a failed attempt", g(GrantActive, 1, at), nil, ""},
		{"irrevocable under a claim that ended", claimedBy(g(GrantIrrevocable, 8, at), at), nil, ""},
		{"irrevocable under a live claim", claimedBy(g(GrantIrrevocable, 8, at), at.Add(time.Second)), ErrStaleGrant, "being worked on right now"},
		{"active, not due", g(GrantActive, 0, expires), ErrNothingToRetry, "active until " + FormatTime(expires)},
		{"active, not due, with attempts", g(GrantActive, 1, at.Add(time.Minute)), ErrNothingToRetry, "active until"},
		{"active, due, no failed attempt", g(GrantActive, 0, at), ErrNothingToRetry, "has not failed"},
		{"revoking, no failed attempt", g(GrantRevoking, 0, at), ErrNothingToRetry, "has not failed"},
		{"granting", g(GrantGranting, 0, expires), ErrNothingToRetry, "still being added"},
		{"revoked", &Grant{State: GrantRevoked, RevokedAt: at}, ErrNothingToRetry, "already ended (revoked at " + FormatTime(at)},
		{"failed", &Grant{State: GrantFailed}, ErrNothingToRetry, "could never be added"},
	} {
		r := Retryable(c.g, at)
		switch {
		case c.err == nil && r != nil:
			t.Errorf("%s: refused: %s", c.name, r.Reason)
		case c.err != nil && (r == nil || !errors.Is(r, c.err) || !strings.Contains(r.Reason, c.says)):
			t.Errorf("%s: Retryable = %v, want %v saying %q", c.name, r, c.err, c.says)
		}
	}
}
