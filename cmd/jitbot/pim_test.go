package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// pimClock makes the fake Graph's clock run ahead of the real one by an
// offset the test moves: Entra's own time, independent of jitbot's.
type pimClock struct{ offset atomic.Int64 }

func (c *pimClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *pimClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// grantPIM asks for and approves a grant of profile 0 for user, and waits
// until the member is in the group through a PIM assignment.
func grantPIM(t *testing.T, r *rig, p *proc, user, dur string) {
	t.Helper()
	reqID, err := r.request(p, user, "request "+fProfile(0)+" "+dur+" pim backstop")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, err := r.approve(p, reqID); err != nil || code != http.StatusOK {
		t.Fatalf("approve: %d, %v", code, err)
	}
	waitFor(t, 20*time.Second, "the PIM assignment", func() bool {
		return len(r.graph.PIMAssignments(fGroup(0))) == 1 && r.told(user, "Access granted")
	})
}

// TestPIMEntraEndsAccessWithoutJitbot grants in pim mode, kills jitbot for
// good, and moves Entra's clock past the grant's end: the member is gone
// with no jitbot running, and jitbot never added a direct membership.
func TestPIMEntraEndsAccessWithoutJitbot(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	clock := &pimClock{}
	r.graph.SetClock(clock.now)
	user, group := fUser(1), fGroup(0)
	r.graph.AddUser(user)
	dbURL := "sqlite:" + filepath.Join(r.dir, "jitbot.db")
	p := r.start("pim", r.config(botOpts{database: dbURL, replica: "pim-1", membership: "pim"}))

	asked := time.Now()
	grantPIM(t, r, p, user, "10m")
	as := r.graph.PIMAssignments(group)
	if end := as[0].End; end.Before(asked.Add(10*time.Minute-time.Second)) || end.After(time.Now().Add(10*time.Minute+time.Second)) {
		t.Errorf("assignment ends %s; want the grant's end, 10m after the approval", end)
	}
	if n := r.graph.Count(graphtest.RouteAddMember); n != 0 {
		t.Errorf("%d direct additions in pim mode; want none", n)
	}
	if !strings.Contains(p.output(), "group not onboarded to PIM for Groups") {
		t.Error("serve did not warn at start that the group is not onboarded to PIM")
	}
	if got := r.graph.PIMOnboardings(); len(got) != 1 {
		t.Errorf("onboardings %v; want the group, onboarded by the first grant", got)
	}
	if !r.graph.IsMember(group, user) {
		t.Fatal("not a member during the grant")
	}

	p.kill() // for good: nothing of jitbot runs from here on
	clock.advance(9 * time.Minute)
	if !r.graph.IsMember(group, user) {
		t.Error("the member left before the assignment's end")
	}
	clock.advance(2 * time.Minute)
	if r.graph.IsMember(group, user) {
		t.Error("still a member after the assignment's end, with jitbot stopped")
	}
	// Through Graph, as anyone would check: not among the members.
	req, _ := http.NewRequest(http.MethodGet, r.graph.URL()+"/v1.0/groups/"+group+"/members?$select=id", nil)
	req.Header.Set("Authorization", "Bearer "+r.graph.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), user) {
		t.Errorf("GET members after the end lists the user: %s", body)
	}
}

// TestPIMRefusals: a request below Entra's 5-minute minimum, beyond the
// group's PIM maximum, or in a group whose policy requires MFA on
// assignment is refused before approval, saying why; nothing is assigned.
func TestPIMRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(2), fGroup(0)
	r.graph.AddUser(user)
	r.graph.OnboardPIM(group)
	r.graph.SetPIMPolicy(group, graphtest.PIMPolicy{MaxDuration: time.Hour})
	p := r.start("pim", r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "pim-1", membership: "pim"}))
	say := func(text string) string {
		t.Helper()
		msg := r.personal(user, "User")
		msg["text"] = text
		if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
			t.Fatalf("post: %d, %v", code, err)
		}
		return r.lastText("a:" + user)
	}
	if got := say("request " + fProfile(0) + " 2m too short"); !strings.Contains(got, "shortest assignment is 5m") {
		t.Errorf("2m: %q", got)
	}
	if got := say("request " + fProfile(0) + " 2h too long"); !strings.Contains(got, "at most 1h") || !strings.Contains(got, "Expire active assignment after") {
		t.Errorf("2h beyond the PIM maximum: %q", got)
	}
	// The policy is cached briefly; a fresh jitbot reads the new one.
	p.stop(15 * time.Second)
	r.graph.SetPIMPolicy(group, graphtest.PIMPolicy{RequireMFA: true})
	p = r.start("pim-2", r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "pim-1", membership: "pim"}))
	if got := say("request " + fProfile(0) + " 30m needs mfa"); !strings.Contains(got, "multifactor authentication") || !strings.Contains(got, "Require Azure Multi-Factor Authentication on active assignment") {
		t.Errorf("MFA policy: %q", got)
	}
	if n := r.graph.Count(graphtest.RoutePIMRequest); n != 0 {
		t.Errorf("%d PIM requests for refused requests", n)
	}
	for _, c := range r.conn.Conversations() {
		if strings.HasPrefix(c, fApproversChan) {
			t.Errorf("a refused request reached the approvers (%s)", c)
		}
	}
}

// TestPIMRevokeAtExpiry: jitbot's scheduler removes the assignment itself
// at the grant's end (adminRemove), whatever Entra's end time; with the
// licence lapsed (Entra keeps the assignment for good) that is what ends
// the access.
func TestPIMRevokeAtExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(3), fGroup(0)
	r.graph.AddUser(user)
	dbURL := "sqlite:" + filepath.Join(r.dir, "jitbot.db")
	p := r.start("pim", r.config(botOpts{database: dbURL, replica: "pim-1", membership: "pim"}))
	grantPIM(t, r, p, user, "5m")
	r.graph.LapsePIMLicence()
	// Release: the same durable path as expiry, without waiting 5 minutes.
	msg := r.personal(user, "User")
	msg["text"] = "release"
	if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
		t.Fatalf("release: %d, %v", code, err)
	}
	waitFor(t, 20*time.Second, "the removal", func() bool { return !r.graph.IsMember(group, user) })
	if len(r.graph.PIMAssignments(group)) != 0 {
		t.Error("the assignment is still there")
	}
	var removes int
	for _, c := range r.graph.CallsTo(graphtest.RoutePIMRequest) {
		var b struct{ Action string }
		_ = c.JSON(&b)
		if b.Action == "adminRemove" && c.Status == http.StatusCreated {
			removes++
		}
	}
	if removes != 1 {
		t.Errorf("%d adminRemove answered 201; want 1", removes)
	}
	if n := r.graph.Count(graphtest.RouteRemoveMember); n != 0 {
		t.Errorf("%d direct removals; the membership was a PIM assignment", n)
	}
}

// TestReconcileFindsMemberAfterRestore grants in pim mode, restores the
// database from a backup taken before the grant, and runs `jitbot
// reconcile`: it lists the member with the assignment's end; with
// --remove it removes it, audited.
func TestReconcileFindsMemberAfterRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(4), fGroup(0)
	r.graph.AddUser(user)
	dbFile := filepath.Join(r.dir, "jitbot.db")
	dbURL := "sqlite:" + dbFile
	cfg := r.config(botOpts{database: dbURL, replica: "pim-1", membership: "pim"})

	// The backup: the database before the grant.
	p := r.start("before", cfg)
	if !p.stop(15 * time.Second) {
		t.Fatalf("first run did not stop cleanly:\n%s", p.output())
	}
	backup, err := os.ReadFile(dbFile)
	if err != nil {
		t.Fatal(err)
	}
	p = r.start("grant", cfg)
	grantPIM(t, r, p, user, "2h")
	end := r.graph.PIMAssignments(group)[0].End
	if !p.stop(15 * time.Second) {
		t.Fatalf("second run did not stop cleanly:\n%s", p.output())
	}
	// Restore.
	for _, f := range []string{dbFile + "-wal", dbFile + "-shm"} {
		_ = os.Remove(f)
	}
	if err := os.WriteFile(dbFile, backup, 0o600); err != nil {
		t.Fatal(err)
	}

	reconcile := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(r.bin, append([]string{"reconcile", "--config", cfg}, args...)...)
		cmd.Env = r.env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("reconcile %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := reconcile()
	line := fProfile(0) + "\t" + group + "\t" + user + "\tPIM assignment\tends " + end.UTC().Format(time.RFC3339)
	if !strings.Contains(out, line) || !strings.Contains(out, "1 not explained by any grant") {
		t.Errorf("reconcile lists\n%s\nwant the line %q", out, line)
	}
	if !r.graph.IsMember(group, user) {
		t.Fatal("reconcile without --remove removed the member")
	}
	out = reconcile("--remove")
	if !strings.Contains(out, "removed: "+user) {
		t.Errorf("reconcile --remove:\n%s", out)
	}
	if r.graph.IsMember(group, user) || len(r.graph.PIMAssignments(group)) != 0 {
		t.Error("still a member after reconcile --remove")
	}
	st := openStore(t, dbURL)
	evs, err := asStore(st).Audit(context.Background(), access.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, e := range evs {
		if e.Action == access.ActionReconcileRemoved && e.TargetUserID == user && e.GroupID == group {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no %s event for the removal in %v", access.ActionReconcileRemoved, actions(evs))
	}
	if out := reconcile(); !strings.Contains(out, "every member of the managed groups is explained") {
		t.Errorf("reconcile after the removal:\n%s", out)
	}
}

// pimCalls counts the assignment schedule requests of an action: all of
// them, and those answered 201.
func pimCalls(g *graphtest.Graph, action string) (all, created int) {
	for _, c := range g.CallsTo(graphtest.RoutePIMRequest) {
		var b struct{ Action string }
		if c.JSON(&b) == nil && b.Action == action {
			all++
			if c.Status == http.StatusCreated {
				created++
			}
		}
	}
	return all, created
}

// TestCrashAtEveryPointPIM is TestCrashAtEveryPoint in pim mode: jitbot is
// SIGKILLed at each failpoint of the grant and revoke paths, restarted, and
// must end with the assignment made once, removed once, the member gone,
// and one grant.added and one grant.revoked audited. PIM's shortest
// assignment is 5 minutes, so the end is a release (the same durable path
// as expiry) rather than a wait.
func TestCrashAtEveryPointPIM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := faultBinary(t)
	points := []struct {
		name    string
		revoke  bool
		state   access.GrantState
		checked bool
		member  bool
		// assigns and removes are the adminAssign and adminRemove calls
		// of the whole run: a resumed assignment is answered "exists",
		// which counts as made; a resumed removal asks first.
		assigns, removes int
	}{
		{"grant.after-intent", false, access.GrantGranting, false, false, 1, 1},
		{"grant.after-check", false, access.GrantGranting, true, false, 1, 1},
		{"grant.after-add", false, access.GrantGranting, true, true, 2, 1},
		{"revoke.after-intent", true, access.GrantRevoking, true, true, 1, 1},
		{"revoke.after-remove", true, access.GrantRevoking, true, false, 1, 1},
	}
	for _, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, bin, 1)
			user, group := fUser(1), fGroup(0)
			r.graph.AddUser(user)
			dbURL := "sqlite:" + filepath.Join(r.dir, "jitbot.db")
			cfg := r.config(botOpts{database: dbURL, replica: "crash-1", membership: "pim"})
			release := func(p *proc) {
				msg := r.personal(user, "User")
				msg["text"] = "release"
				_, _, _ = r.post(p, msg) // the process may die answering
			}

			p1 := r.start("armed", cfg, "JITBOT_FAILPOINT="+pt.name)
			reqID, err := r.request(p1, user, "request "+fProfile(0)+" 10m crash test at "+pt.name)
			if err != nil {
				t.Fatal(err)
			}
			code, _, err := r.approve(p1, reqID)
			if pt.revoke {
				if err != nil || code != http.StatusOK {
					t.Fatalf("approve: HTTP %d %v", code, err)
				}
				waitFor(t, 20*time.Second, "the grant", func() bool { return r.told(user, "Access granted") })
				release(p1)
			}
			if !p1.waitExit(20*time.Second) || !strings.Contains(p1.output(), "failpoint reached") {
				t.Fatalf("the process did not die at %s", pt.name)
			}
			st := openStore(t, dbURL)
			req, err := asStore(st).GetRequest(context.Background(), reqID)
			if err != nil || req.Grant == nil {
				t.Fatalf("request after the crash: %v, %v", err, req)
			}
			left := *req.Grant
			_ = st.Close()
			if member := r.graph.IsMember(group, user); left.State != pt.state || left.Checked != pt.checked || member != pt.member {
				t.Errorf("the crash left grant %s checked=%v member=%v; want %s checked=%v member=%v",
					left.State, left.Checked, member, pt.state, pt.checked, pt.member)
			}

			p2 := r.start("restarted", cfg)
			if !pt.revoke {
				waitFor(t, 30*time.Second, "the resumed grant", func() bool { return r.told(user, "Access granted") })
				release(p2)
			}
			waitFor(t, 30*time.Second, "the requester to be told the access ended", func() bool { return r.told(user, "has ended") })
			if !p2.stop(15 * time.Second) {
				t.Errorf("graceful shutdown failed: %v", p2.cmd.ProcessState)
			}
			if r.graph.IsMember(group, user) || len(r.graph.PIMAssignments(group)) != 0 {
				t.Error("still a member at the end")
			}
			assigns, assigned := pimCalls(r.graph, "adminAssign")
			removes, removed := pimCalls(r.graph, "adminRemove")
			if assigns != pt.assigns || assigned != 1 || removes != pt.removes || removed != 1 {
				t.Errorf("adminAssign %d (%d made), adminRemove %d (%d made); want %d (1), %d (1)",
					assigns, assigned, removes, removed, pt.assigns, pt.removes)
			}
			if n := r.graph.Count(graphtest.RouteAddMember); n != 0 {
				t.Errorf("%d direct additions in pim mode", n)
			}
			st = openStore(t, dbURL)
			final, err := asStore(st).GetRequest(context.Background(), reqID)
			if err != nil || final.Grant == nil || final.Grant.State != access.GrantRevoked {
				t.Fatalf("final request %v, %v; want the grant revoked", final, err)
			}
			evs, err := asStore(st).Audit(context.Background(), access.AuditFilter{RequestID: reqID})
			if err != nil {
				t.Fatal(err)
			}
			acts := actions(evs)
			if countAction(acts, access.ActionGranted) != 1 || countAction(acts, access.ActionRevoked) != 1 ||
				!inOrder(acts, access.ActionRequested, access.ActionApproved, access.ActionGranted, access.ActionRevoked) {
				t.Errorf("audit trail %v: want one grant.added then one grant.revoked", acts)
			}
		})
	}
}

// TestPIMExtensionMovesAssignmentEnd: an extension the requester applies
// at once moves the PIM assignment's end with the grant's, so that Entra
// does not end the access early.
func TestPIMExtensionMovesAssignmentEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(5), fGroup(0)
	r.graph.AddUser(user)
	cfg := r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "pim-1", membership: "pim",
		profileExtra: "    self_extend_max: 30m\n"})
	p := r.start("pim", cfg)
	grantPIM(t, r, p, user, "10m")
	before := r.graph.PIMAssignments(group)[0].End
	msg := r.personal(user, "User")
	msg["text"] = "extend 20m the migration is still running"
	if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
		t.Fatalf("extend: %d, %v", code, err)
	}
	waitFor(t, 20*time.Second, "the assignment's new end", func() bool {
		as := r.graph.PIMAssignments(group)
		return len(as) == 1 && as[0].End.Sub(before) >= 20*time.Minute-time.Second
	})
	if after := r.graph.PIMAssignments(group)[0].End; after.Sub(before) > 20*time.Minute+time.Second {
		t.Errorf("assignment end moved from %s to %s; want 20m later", before, after)
	}
	if n, made := pimCalls(r.graph, "adminExtend"); n != 1 || made != 1 {
		t.Errorf("adminExtend %d (%d made); want 1", n, made)
	}
}

// TestPIMDriftReportsOutlivingAssignment: once Entra keeps an assignment
// for good (the licence lapsed), drift detection tells the security
// channel, once, that Entra's end is no longer a backstop.
func TestPIMDriftReportsOutlivingAssignment(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(6), fGroup(0)
	r.graph.AddUser(user)
	dbURL := "sqlite:" + filepath.Join(r.dir, "jitbot.db")
	p := r.start("pim", r.config(botOpts{database: dbURL, replica: "pim-1", membership: "pim", security: true, driftInterval: "1s"}))
	grantPIM(t, r, p, user, "10m")
	time.Sleep(2 * time.Second) // drift checks while the assignment ends on time: nothing to say
	for _, a := range r.alerts() {
		if a.about(user) {
			t.Fatalf("alert while the assignment ends with the grant: %s", a.raw)
		}
	}
	r.graph.LapsePIMLicence()
	waitFor(t, 20*time.Second, "the drift alert", func() bool {
		for _, a := range r.alerts() {
			if a.about(user) && strings.Contains(a.raw, "PIM assignment outlives its grant") && strings.Contains(a.raw, "never") {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second)
	n := 0
	for _, a := range r.alerts() {
		if a.about(user) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d alerts about the assignment; want 1", n)
	}
	if !r.graph.IsMember(group, user) {
		t.Error("drift detection removed a member whose grant is live")
	}
}

// TestGraphFaultsLoseNothingPIM is TestGraphFaultsLoseNothing in pim mode:
// the removals (adminRemove) meet a 429 storm with Retry-After, 500s, 503s,
// an answer lost after the removal (504, committed), a slow answer; then a
// permanent refusal (403) and a transient storm beyond max_attempts, both
// of which must surface as irrevocable alerts and be cleared by the sweep.
// The grants end by release (PIM's shortest assignment is 5 minutes).
func TestGraphFaultsLoseNothingPIM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	r := newRig(t, faultBinary(t), 1)
	group := fGroup(0)
	const n = 14
	users := make([]string, n)
	for i := range users {
		users[i] = fUser(i + 1)
		r.graph.AddUser(users[i])
	}
	dbURL := "sqlite:" + filepath.Join(r.dir, "jitbot.db")
	p := r.start("bot", r.config(botOpts{database: dbURL, replica: "faults-1", maxAttempts: 3,
		backoff: "1s", backoffMax: "2s", sweep: "2s", lease: "60s", security: true, membership: "pim"}))
	reqIDs := map[string]string{}
	grantAll := func(cohort []string) {
		t.Helper()
		for _, u := range cohort {
			id, err := r.request(p, u, "request "+fProfile(0)+" 30m fault test")
			if err != nil {
				t.Fatal(err)
			}
			if code, ans, err := r.approve(p, id); err != nil || code != http.StatusOK || !ans.isCard() {
				t.Fatalf("approve %s: HTTP %d %v %q", u, code, err, ans.text())
			}
			if !r.graph.IsMember(group, u) {
				t.Fatalf("%s not a member after approval", u)
			}
			reqIDs[u] = id
		}
	}
	releaseAll := func(cohort []string) {
		t.Helper()
		for _, u := range cohort {
			msg := r.personal(u, "User")
			msg["text"] = "release"
			if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
				t.Fatalf("release %s: %d %v", u, code, err)
			}
		}
	}
	ended := func(cohort []string) func() bool {
		return func() bool {
			for _, u := range cohort {
				if !r.told(u, "has ended") {
					return false
				}
			}
			return true
		}
	}
	route := graphtest.RoutePIMRequest

	// Phase 1: transient faults and a lost answer.
	cohort1 := users[:9]
	grantAll(cohort1)
	for _, f := range []graphtest.Fault{
		{Route: route, Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 8},
		{Route: route, Status: http.StatusInternalServerError, Times: 3},
		{Route: route, Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 4},
		{Route: route, Status: http.StatusGatewayTimeout, RetryAfter: "1", Commit: true}, // removed, answer lost
		{Route: route, Delay: 2 * time.Second},                                           // slow but in time
	} {
		r.graph.InjectFault(f)
	}
	releaseAll(cohort1)
	waitFor(t, 90*time.Second, "cohort 1 (transient faults) to be revoked", ended(cohort1))
	r.graph.ClearFaults()

	// Phase 2: a permanent refusal on every removal.
	cohort2 := users[9:12]
	grantAll(cohort2)
	r.graph.InjectFault(graphtest.Fault{Route: route, Status: http.StatusForbidden, Times: 1 << 30})
	releaseAll(cohort2)
	waitFor(t, 30*time.Second, "irrevocable alerts for cohort 2", func() bool {
		for _, u := range cohort2 {
			if a, ok := r.alertFor(u); !ok || !a.retryButton() {
				return false
			}
		}
		return true
	})
	for _, u := range cohort2 {
		if a, _ := r.alertFor(u); !a.permanent() || !strings.Contains(a.raw, access.PIMPermission) {
			t.Errorf("alert for %s does not say the refusal is permanent, naming the permission", u)
		}
		if !r.graph.IsMember(group, u) {
			t.Errorf("%s removed although every removal was refused", u)
		}
	}
	r.graph.ClearFaults()
	waitFor(t, 30*time.Second, "the sweep to remove cohort 2", ended(cohort2))

	// Phase 3: a transient storm beyond max_attempts.
	cohort3 := users[12:]
	grantAll(cohort3)
	r.graph.InjectFault(graphtest.Fault{Route: route, Status: http.StatusInternalServerError, Times: 1 << 30})
	releaseAll(cohort3)
	waitFor(t, 40*time.Second, "irrevocable alerts for cohort 3", func() bool {
		for _, u := range cohort3 {
			if a, ok := r.alertFor(u); !ok || !a.retryButton() {
				return false
			}
		}
		return true
	})
	r.graph.ClearFaults()
	waitFor(t, 30*time.Second, "the sweep to remove cohort 3", ended(cohort3))
	waitFor(t, 10*time.Second, "every alert to be marked resolved", func() bool {
		for _, a := range r.alerts() {
			if !a.resolved() || a.retryButton() {
				return false
			}
		}
		return true
	})
	if !p.stop(15 * time.Second) {
		t.Errorf("graceful shutdown failed: %v", p.cmd.ProcessState)
	}

	// Nothing lost: no member left, each assignment removed once, made
	// once, never a direct membership.
	for _, u := range users {
		if r.graph.IsMember(group, u) {
			t.Errorf("%s is still a member", u)
		}
		eff := 0
		for _, c := range r.spy.of("remove", u) {
			if c.wasMember && !c.isMember {
				eff++
			}
		}
		if eff != 1 {
			t.Errorf("%s: assignment removed %d times, want 1", u, eff)
		}
		made := 0
		for _, c := range r.spy.of("add", u) {
			if c.succeeded() {
				made++
			}
		}
		if made != 1 {
			t.Errorf("%s: %d assignments made, want 1", u, made)
		}
	}
	if n := r.graph.Count(graphtest.RouteAddMember) + r.graph.Count(graphtest.RouteRemoveMember); n != 0 {
		t.Errorf("%d direct membership calls in pim mode", n)
	}
	st := openStore(t, dbURL)
	s := asStore(st)
	irrevocable := 0
	for _, u := range users {
		req, err := s.GetRequest(context.Background(), reqIDs[u])
		if err != nil {
			t.Fatal(err)
		}
		if req.Grant == nil || req.Grant.State != access.GrantRevoked {
			t.Errorf("%s: grant %+v, want revoked", u, req.Grant)
		}
		evs, err := s.Audit(context.Background(), access.AuditFilter{RequestID: reqIDs[u]})
		if err != nil {
			t.Fatal(err)
		}
		acts := actions(evs)
		if countAction(acts, access.ActionGranted) != 1 || countAction(acts, access.ActionRevoked) != 1 {
			t.Errorf("%s: audit trail %v", u, acts)
		}
		irrevocable += countAction(acts, access.ActionIrrevocable)
	}
	if got := len(r.alerts()); got != irrevocable || irrevocable < len(cohort2)+len(cohort3) {
		t.Errorf("%d alert cards for %d grant.irrevocable events (want at least %d)", got, irrevocable, len(cohort2)+len(cohort3))
	}
	t.Logf("warnings and errors:%s", p.problems())
}

// TestPIMGrantFailuresSayWhy: an assignment Entra refuses at approval
// (a missing permission; a policy tightened after the request was checked)
// fails the grant, and the requester is told why; nothing is added.
func TestPIMGrantFailuresSayWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	u1, u2, group := fUser(7), fUser(8), fGroup(0)
	r.graph.AddUser(u1, u2)
	p := r.start("pim", r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "pim-1", membership: "pim"}))

	r.graph.InjectFault(graphtest.Fault{Route: graphtest.RoutePIMRequest, Status: http.StatusForbidden})
	id, err := r.request(p, u1, "request "+fProfile(0)+" 30m no permission")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, err := r.approve(p, id); err != nil || code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, err)
	}
	waitFor(t, 20*time.Second, "the failure notice", func() bool {
		return r.told(u1, "could not be granted") && r.told(u1, access.PIMPermission)
	})

	id, err = r.request(p, u2, "request "+fProfile(0)+" 2h policy tightened")
	if err != nil {
		t.Fatal(err)
	}
	r.graph.SetPIMPolicy(group, graphtest.PIMPolicy{MaxDuration: time.Hour})
	if code, _, err := r.approve(p, id); err != nil || code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, err)
	}
	waitFor(t, 20*time.Second, "the failure notice", func() bool {
		return r.told(u2, "could not be granted") && r.told(u2, "ExpirationRule")
	})
	if r.graph.IsMember(group, u1) || r.graph.IsMember(group, u2) {
		t.Error("a refused assignment left a member")
	}
	if n := r.graph.Count(graphtest.RouteAddMember); n != 0 {
		t.Errorf("%d direct additions after a refused assignment", n)
	}
}

// TestPIMExtensionBeyondPolicyRefused: an extension that would make the
// assignment longer than the group's PIM policy allows is refused before
// it is applied, the limit named; the assignment keeps its end.
func TestPIMExtensionBeyondPolicyRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(9), fGroup(0)
	r.graph.AddUser(user)
	r.graph.OnboardPIM(group)
	r.graph.SetPIMPolicy(group, graphtest.PIMPolicy{MaxDuration: time.Hour})
	cfg := r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "pim-1", membership: "pim",
		profileExtra: "    self_extend_max: 1h\n"})
	p := r.start("pim", cfg)
	grantPIM(t, r, p, user, "50m")
	before := r.graph.PIMAssignments(group)[0].End
	msg := r.personal(user, "User")
	msg["text"] = "extend 20m the migration is still running"
	if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
		t.Fatalf("extend: %d, %v", code, err)
	}
	if got := r.lastText("a:" + user); !strings.Contains(got, "at most 1h in all") || !strings.Contains(got, "Expire active assignment after") {
		t.Errorf("extension beyond the PIM maximum: %q", got)
	}
	if n, _ := pimCalls(r.graph, "adminExtend"); n != 0 {
		t.Errorf("%d adminExtend for a refused extension", n)
	}
	if after := r.graph.PIMAssignments(group)[0].End; !after.Equal(before) {
		t.Errorf("assignment end moved from %s to %s", before, after)
	}
}

// TestPIMSharedMembershipKeepsLatestEnd: two profiles on one pim group; a
// second grant sharing the membership, ending later, moves the
// assignment's end to its own; releasing the first leaves the member in,
// releasing the second removes the assignment.
func TestPIMSharedMembershipKeepsLatestEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(10), fGroup(0)
	r.graph.AddUser(user)
	cfg := r.config(botOpts{database: "sqlite:" + filepath.Join(r.dir, "jitbot.db"), replica: "pim-1", membership: "pim"})
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	second := "  - name: prod-db-b\n    description: \"The same group, another profile\"\n    group_id: \"" + group +
		"\"\n    max_duration: 4h\n    membership: pim\n    approvers: { groups: [\"" + fApproverGroup + "\"], channel_id: \"" + fApproversChan + "\" }\n"
	if err := os.WriteFile(cfg, append(raw, second...), 0o600); err != nil {
		t.Fatal(err)
	}
	p := r.start("pim", cfg)
	grantPIM(t, r, p, user, "10m")
	first := r.graph.PIMAssignments(group)[0].End

	id, err := r.request(p, user, "request prod-db-b 40m shared membership")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, err := r.approve(p, id); err != nil || code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, err)
	}
	waitFor(t, 20*time.Second, "the assignment's later end", func() bool {
		as := r.graph.PIMAssignments(group)
		return len(as) == 1 && as[0].End.Sub(first) >= 30*time.Minute-2*time.Second
	})
	say := func(text string) {
		t.Helper()
		msg := r.personal(user, "User")
		msg["text"] = text
		if code, _, err := r.post(p, msg); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %v", text, code, err)
		}
	}
	var firstID string
	st := openStore(t, "sqlite:"+filepath.Join(r.dir, "jitbot.db"))
	reqs, err := asStore(st).OpenRequests(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range reqs {
		if q.Profile == fProfile(0) {
			firstID = q.ID
		}
	}
	_ = st.Close()
	say("release " + firstID)
	waitFor(t, 20*time.Second, "the first grant to end", func() bool { return r.told(user, "has ended") })
	if !r.graph.IsMember(group, user) || len(r.graph.PIMAssignments(group)) != 1 {
		t.Fatal("the member left with the first grant although the second holds the membership")
	}
	say("release " + id)
	waitFor(t, 20*time.Second, "the removal", func() bool { return !r.graph.IsMember(group, user) })
	if assigns, made := pimCalls(r.graph, "adminAssign"); assigns != 1 || made != 1 {
		t.Errorf("adminAssign %d (%d made); want 1: the second grant shares the assignment", assigns, made)
	}
	if _, removed := pimCalls(r.graph, "adminRemove"); removed != 1 {
		t.Errorf("%d adminRemove made; want 1", removed)
	}
}

// TestReconcileRefusesDatabaseWithoutJitbot: `jitbot reconcile` pointed at
// a database that is not jitbot's (a SQLite file that does not exist, as
// after a mistyped path, or one without jitbot's tables) refuses, naming
// the key, and creates and removes nothing: with no grants to compare
// with, every member of every managed group would count as unexplained and
// --remove would empty the groups.
func TestReconcileRefusesDatabaseWithoutJitbot(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newRig(t, faultBinary(t), 1)
	user, group := fUser(4), fGroup(0)
	r.graph.AddUser(user)
	empty := filepath.Join(r.dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, file string }{{"missing", filepath.Join(r.dir, "typo.db")}, {"empty", empty}} {
		name, dbFile := c.name, c.file
		t.Run(name, func(t *testing.T) {
			r.graph.AddMember(group, user)
			removals := r.graph.Count(graphtest.RouteRemoveMember)
			cfg := r.config(botOpts{database: "sqlite:" + dbFile, replica: "reconcile-" + name})
			cmd := exec.Command(r.bin, "reconcile", "--config", cfg, "--remove")
			cmd.Env = r.env()
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "database") {
				t.Errorf("reconcile --remove on a %s database: %v\n%s", name, err, out)
			}
			if !r.graph.IsMember(group, user) || r.graph.Count(graphtest.RouteRemoveMember) != removals {
				t.Fatalf("reconcile --remove on a %s database removed the member:\n%s", name, out)
			}
			if name == "missing" {
				if _, err := os.Stat(dbFile); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("reconcile created %s", dbFile)
				}
			}
		})
	}
}
