package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestEarlyEndCrashAtRevokePoints kills the process (SIGKILL, by itself)
// between the intent and the removal of an early end, I'm done (the release
// command) and Revoke now, at each failpoint of the revoke path, restarts it
// without the failpoint and checks that the member was removed exactly
// once, the requester was told, and the ledger records how it ended.
func TestEarlyEndCrashAtRevokePoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := faultBinary(t)
	for _, how := range []access.EndKind{access.EndReleased, access.EndRevoked} {
		for _, pt := range []struct {
			name   string
			member bool // whether the crash leaves the user a member
		}{
			{"revoke.after-intent", true},
			{"revoke.after-remove", false},
		} {
			t.Run(string(how)+"/"+pt.name, func(t *testing.T) {
				t.Parallel()
				r := newRig(t, bin, 1)
				user := fUser(1)
				group := fGroup(0)
				r.graph.AddUser(user)
				dbURL := "sqlite:" + filepath.Join(r.dir, "jitbot.db")
				cfg := r.config(botOpts{database: dbURL, replica: "crash-1"})

				p1 := r.start("armed", cfg, "JITBOT_FAILPOINT="+pt.name)
				reqID, err := r.request(p1, user, "request "+fProfile(0)+" 1h early end crash at "+pt.name)
				if err != nil {
					t.Fatal(err)
				}
				if code, ans, err := r.approve(p1, reqID); err != nil || code != http.StatusOK || !ans.isCard() {
					t.Fatalf("approve: HTTP %d %v %q", code, err, ans.text())
				}
				if !r.graph.IsMember(group, user) {
					t.Fatal("not a member after approval")
				}
				told := "has ended, as you asked"
				if how == access.EndReleased {
					msg := r.personal(user, "User "+user[len(user)-4:])
					msg["text"] = "release " + reqID
					_, _, _ = r.post(p1, msg) // the process dies while answering
				} else {
					told = "was revoked by"
					_, _, _ = r.click(p1, fApprover, fApproversChan+";messageid=1", "revokeNow",
						map[string]any{"requestId": reqID, "revokeReason": "incident closed"})
				}
				if !p1.waitExit(20*time.Second) || !p1.killedBy(syscall.SIGKILL) || !strings.Contains(p1.output(), "failpoint reached") {
					t.Fatalf("the process did not die by SIGKILL at %s: %v", pt.name, p1.cmd.ProcessState)
				}

				st := openStore(t, dbURL)
				left, err := asStore(st).GetRequest(context.Background(), reqID)
				_ = st.Close()
				if err != nil || left.Grant == nil {
					t.Fatalf("request after the crash: %v", err)
				}
				if g := left.Grant; g.State != access.GrantRevoking || g.Early.Kind != how || r.graph.IsMember(group, user) != pt.member {
					t.Fatalf("the crash left grant %s early %q member %v; want revoking, %s, member %v",
						g.State, g.Early.Kind, r.graph.IsMember(group, user), how, pt.member)
				}

				p2 := r.start("restarted", cfg)
				waitFor(t, 30*time.Second, "the requester to be told", func() bool { return r.told(user, told) })
				if !p2.stop(15 * time.Second) {
					t.Errorf("graceful shutdown failed: %v", p2.cmd.ProcessState)
				}

				if r.graph.IsMember(group, user) {
					t.Error("still a member at the end")
				}
				dels := r.spy.of("remove", user)
				removed := 0
				for _, c := range dels {
					if c.status == http.StatusNoContent {
						removed++
					}
				}
				if removed != 1 || len(dels) != 1 {
					t.Fatalf("%d DELETE calls (%d successful), want exactly 1", len(dels), removed)
				}
				st = openStore(t, dbURL)
				defer st.Close()
				s := asStore(st)
				final, err := s.GetRequest(context.Background(), reqID)
				if err != nil {
					t.Fatal(err)
				}
				if final.Grant.State != access.GrantRevoked || final.Grant.Early.Kind != how {
					t.Errorf("final grant %s early %q", final.Grant.State, final.Grant.Early.Kind)
				}
				evs, err := s.Audit(context.Background(), access.AuditFilter{RequestID: reqID})
				if err != nil {
					t.Fatal(err)
				}
				acts := actions(evs)
				asked := access.ActionReleased
				if how == access.EndRevoked {
					asked = access.ActionRevokedEarly
				}
				if !inOrder(acts, access.ActionGranted, asked, access.ActionRevoked) || countAction(acts, asked) != 1 || countAction(acts, access.ActionRevoked) != 1 {
					t.Errorf("audit trail %v: want one %s, then one grant.revoked", acts, asked)
				}
			})
		}
	}
}
