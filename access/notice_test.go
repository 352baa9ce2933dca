package access_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// rfc3339 matches a timestamp a person reading a notification would have
// to convert.
var rfc3339 = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}`)

// TestNoticeTextsSayTimesInWords: the plain text of every notice (what a
// notification shows) has no RFC 3339 stamp; the approval and the grant
// say until when in words, in UTC; the end of a grant says what became of
// the membership.
func TestNoticeTextsSayTimesInWords(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		ctx := context.Background()
		req := e.submit(riley, 2*time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		got, _ := e.store.GetRequest(ctx, req.ID)
		until := access.FormatTime(got.Grant.ExpiresAt)
		e.clock.Set(got.Grant.ExpiresAt)
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}

		denied := e.submit(riley, time.Hour)
		if _, err := e.decide(denied.ID, alex, access.Deny, "use the replica"); err != nil {
			t.Fatal(err)
		}

		e.openWith(withDeadline(time.Hour, 0))
		timedOut := e.submit(riley, time.Hour)
		e.clock.Set(e.clock.Now().Add(time.Hour))
		if _, err := e.svc.WorkPending(ctx); err != nil {
			t.Fatal(err)
		}

		kinds := map[access.NoticeKind]access.Notice{}
		for _, id := range []string{req.ID, denied.ID, timedOut.ID} {
			for _, n := range e.notes.Sent(id) {
				kinds[n.Kind] = n
				if strings.TrimSpace(n.Text) == "" || rfc3339.MatchString(n.Text) {
					t.Errorf("%s notice %q is empty or has an RFC 3339 stamp", n.Kind, n.Text)
				}
			}
		}
		for _, k := range []access.NoticeKind{access.NoticeReceived, access.NoticeApproved, access.NoticeGranted, access.NoticeRevoked, access.NoticeFeedback, access.NoticeDenied, access.NoticeTimedOut} {
			if _, ok := kinds[k]; !ok {
				t.Errorf("no %s notice was sent", k)
			}
		}
		if !strings.HasSuffix(until, " UTC on "+got.Grant.ExpiresAt.UTC().Format("2 Jan 2006")) {
			t.Errorf("FormatTime = %q", until)
		}
		for _, k := range []access.NoticeKind{access.NoticeApproved, access.NoticeGranted} {
			if !strings.Contains(kinds[k].Text, "until "+until) {
				t.Errorf("%s notice %q does not say until %s", k, kinds[k].Text, until)
			}
		}
		if m := kinds[access.NoticeRevoked].Membership; m != access.MembershipRemoved {
			t.Errorf("ended notice's membership = %q, want removed", m)
		}
	})
}
