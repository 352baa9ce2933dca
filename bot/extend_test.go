package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// withExtensions sets the prod-db profile's expiry reminder, self-extension
// limit and total bound (0: the default, max_duration).
func (w *world) withExtensions(remind, selfMax, total time.Duration) {
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].RemindBefore, c.Profiles[0].SelfExtendMax, c.Profiles[0].MaxTotalDuration = remind, selfMax, total
	})
}

// threads returns the approval threads opened in the approvers' channel,
// oldest first.
func (w *world) threads() []string {
	var out []string
	for _, r := range w.conn.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/v3/conversations") {
			if ch, _ := r.JSON["channelData"].(map[string]any); ch != nil && ch["channel"] != nil {
				out = append(out, r.ConversationID)
			}
		}
	}
	return out
}

// extension returns riley's open extension request of request id, or nil.
func (w *world) extension(id string) *access.Request {
	w.t.Helper()
	reqs, err := w.db.OpenRequests(context.Background(), rileyID)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := range reqs {
		if reqs[i].ExtendsRequestID == id {
			return &reqs[i]
		}
	}
	return nil
}

// grantOf returns the grant of request id as stored.
func (w *world) grantOf(id string) *access.Grant {
	w.t.Helper()
	r, err := w.db.GetRequest(context.Background(), id)
	if err != nil || r.Grant == nil {
		w.t.Fatalf("request %s: %v (grant %v)", id, err, r)
	}
	return r.Grant
}

// extendClick is p's Extend on the expiry reminder of request id.
func (w *world) extendClick(p person, id, duration, reason string) (int, map[string]any) {
	return w.post(w.personalClick(p, cards.VerbExtend, id, map[string]any{cards.InputExtendDuration: duration, cards.InputExtendReason: reason}))
}

// neverRemoved fails unless riley was added once and never removed.
func (w *world) neverRemoved() {
	w.t.Helper()
	if n := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, ""); n != 0 {
		w.t.Fatalf("%d DELETE calls on the group: an extension removed the member", n)
	}
	if n := w.graph.CountFor(graphtest.RouteAddMember, prodGroup, ""); n != 1 {
		w.t.Fatalf("%d POST calls adding a member, want the approval's 1", n)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		w.t.Fatal("riley is not a member")
	}
}

func TestExpiryReminderAndApprovedExtensionOverHTTP(t *testing.T) {
	w := newWorld(t)
	w.withExtensions(10*time.Minute, 0, 0)
	ctx := context.Background()
	personal := "a:personal-" + rileyID
	req := w.granted() // approved at 09:01 for 2h: ends 11:01, reminder at 10:51
	g := w.grantOf(req.ID)
	grantID := g.ID
	end := start.Add(time.Minute + 2*time.Hour)
	if !g.ExpiresAt.Equal(end) || !g.RemindAt.Equal(end.Add(-10*time.Minute)) {
		t.Fatalf("grant ends %v, reminder %v", g.ExpiresAt, g.RemindAt)
	}

	// Not yet due: nothing is sent.
	w.clock.Set(end.Add(-10*time.Minute - time.Second))
	if n, err := w.svc.WorkExpiryReminders(ctx); n != 0 || err != nil {
		t.Fatalf("early reminders: %d %v", n, err)
	}
	w.clock.Set(end.Add(-10 * time.Minute))
	if n, err := w.svc.WorkExpiryReminders(ctx); n != 1 || err != nil {
		t.Fatalf("reminders: %d %v", n, err)
	}
	// Sent once: again, and from another replica, nothing.
	other := w.svcCfg
	other.Owner = "replica-2"
	svc2, err := access.New(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*access.Service{w.svc, svc2} {
		if n, err := s.WorkExpiryReminders(ctx); n != 0 || err != nil {
			t.Fatalf("repeated reminder: %d %v", n, err)
		}
	}
	if got := strings.Count(w.texts(personal), "Your access ends soon"); got != 1 {
		t.Fatalf("%d expiry reminders in the personal chat, want 1:\n%s", got, w.texts(personal))
	}
	texts := w.texts(personal)
	for _, want := range []string{"Your access to prod-db ends at {{DATE(2026-11-23T11:01:00Z, SHORT)}}", `"verb":"extendGrant"`, `"title":"Extend"`, `"title":"I'm done"`} {
		if !strings.Contains(texts, want) {
			t.Fatalf("the reminder lacks %s:\n%s", want, texts)
		}
	}
	if w.auditBy(req.ID, access.ActionExpiryReminded, access.System.ObjectID) != 1 {
		t.Fatal("the reminder is not audited once")
	}

	// Someone else's Extend is refused, audited, and changes nothing.
	calls := len(w.conn.Requests())
	code, resp := w.extendClick(eve, req.ID, "30m", "let me in")
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.activity.message" || !strings.Contains(cardJSON(resp["value"]), "There is no request") {
		t.Fatalf("eve's Extend: HTTP %d %v", code, resp)
	}
	w.unchanged(req.ID)
	if w.auditBy(req.ID, access.ActionExtendRefused, eveID) != 1 {
		t.Fatal("eve's refused extension is not audited")
	}
	if n := len(w.conn.Requests()); n != calls || w.extension(req.ID) != nil {
		t.Fatalf("eve's refused Extend made %d connector calls or an extension request", n-calls)
	}

	// Riley's Extend beyond self_extend_max (0) goes to the approvers.
	w.clock.Advance(time.Minute)
	code, resp = w.extendClick(riley, req.ID, "30m", "the migration is still running")
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("Extend: HTTP %d %v", code, resp)
	}
	ext := w.extension(req.ID)
	if ext == nil || ext.State != access.RequestPending || ext.Duration != 30*time.Minute || ext.Justification != "the migration is still running" {
		t.Fatalf("extension request %+v", ext)
	}
	if !ext.ExtendsFrom.Equal(end) || ext.DecideBy.After(end) {
		t.Fatalf("extension extends from %v, decide by %v (the grant ends %v)", ext.ExtendsFrom, ext.DecideBy, end)
	}
	if c := cardJSON(resp["value"]); !strings.Contains(c, `"verb":"cancelRequest"`) {
		t.Fatalf("the answer to Extend is not the request received card with Cancel: %s", c)
	}
	ths := w.threads()
	if len(ths) != 2 {
		t.Fatalf("%d approval threads, want the original's and the extension's", len(ths))
	}
	card := w.currentCard(ths[1])
	for _, want := range []string{`"text":"Extension request"`, `"text":"Extension of "`, `"text":"prod-db"`, `"text":"Riley Responder"`, `"text":": +30m"`, "Extends request " + req.ID + ", which ends at {{DATE(2026-11-23T11:01:00Z", `"verb":"approve"`} {
		if !strings.Contains(card, want) {
			t.Fatalf("extension approval card lacks %s: %s", want, card)
		}
	}
	if w.auditBy(ext.ID, access.ActionExtendRequested, rileyID) != 1 {
		t.Fatal("the extension request is not audited")
	}

	// A second extension while one waits is refused, naming the first.
	code, _ = w.post(w.message(riley, "extend 15m one more thing"))
	if code != http.StatusOK || !strings.Contains(w.texts(personal), "already waiting for the approvers") || !strings.Contains(w.texts(personal), ext.ID) {
		t.Fatalf("second extension not refused with the first named:\n%s", w.texts(personal))
	}

	// Eve may not decide it, nor riley her own.
	// Each gets their own card with why, without Approve.
	for p, why := range map[person]string{eve: "You are not an approver for prod-db", riley: "You cannot decide your own request"} {
		code, resp = w.post(w.click(p, "approve", ext.ID, nil))
		if code != http.StatusOK || resp["type"] != cards.ContentType || !strings.Contains(cardJSON(resp["value"]), why) ||
			strings.Contains(cardJSON(resp["value"]), `"verb":"approve"`) {
			t.Fatalf("%s's approval: HTTP %d %v", p.name, code, resp)
		}
		w.unchanged(req.ID)
	}
	if !w.grantOf(req.ID).ExpiresAt.Equal(end) {
		t.Fatal("a refused approval moved the end")
	}

	// Alex approves: the same grant ends 30m later; the member stays.
	w.clock.Advance(time.Minute)
	code, resp = w.post(w.click(alex, "approve", ext.ID, nil))
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "Extension approved") {
		t.Fatalf("approve extension: HTTP %d %v", code, resp)
	}
	newEnd := end.Add(30 * time.Minute)
	g = w.grantOf(req.ID)
	if g.ID != grantID || g.State != access.GrantActive || !g.ExpiresAt.Equal(newEnd) || !g.DueAt.Equal(newEnd) {
		t.Fatalf("grant after the extension: %+v", g)
	}
	if !g.RemindAt.Equal(newEnd.Add(-10*time.Minute)) || g.Extended.Count != 1 || g.Extended.By.ObjectID != alexID || g.Extended.Added != 30*time.Minute {
		t.Fatalf("extension record %+v, reminder %v", g.Extended, g.RemindAt)
	}
	w.neverRemoved()
	got, _ := w.db.GetRequest(ctx, ext.ID)
	if got.State != access.RequestExtended || access.NewGrantRecord(*got).Outcome != access.OutcomeExtended {
		t.Fatalf("extension request %s", got.State)
	}
	if w.auditBy(req.ID, access.ActionExtended, alexID) != 1 || w.auditBy(ext.ID, access.ActionApproved, alexID) != 1 {
		t.Fatal("the approved extension is not audited")
	}
	texts = w.texts(personal)
	for _, want := range []string{`"text":"Access extended"`, "now ends at {{DATE(2026-11-23T11:31:00Z", `"text":"Alex Approver"`, `"text":" (+30m)"`, `"text":"the migration is still running"`} {
		if !strings.Contains(texts, want) {
			t.Fatalf("requester not told %q:\n%s", want, texts)
		}
	}
	var summary string
	for _, a := range w.conn.Activities(personal) {
		if s, _ := a.Fields()["summary"].(string); strings.Contains(s, "extended") {
			summary = s
		}
	}
	if want := "was extended by Alex Approver (+30m): it now ends at 11:31 UTC on 23 Nov 2026. Reason: `the migration is still running`"; !strings.Contains(summary, want) {
		t.Fatalf("the extended notice's summary %q lacks %q", summary, want)
	}
	orig := w.currentCard(ths[0])
	for _, want := range []string{"Active until {{DATE(2026-11-23T11:31:00Z", `"text":"Extended by "`, `"text":"Alex Approver"`, `"text":" (+30m)"`} {
		if !strings.Contains(orig, want) {
			t.Fatalf("original approval card lacks %s: %s", want, orig)
		}
	}
	// A second click on the decided extension changes nothing.
	code, resp = w.post(w.click(sam, "approve", ext.ID, nil))
	if code != http.StatusOK || !w.grantOf(req.ID).ExpiresAt.Equal(newEnd) {
		t.Fatalf("second approval: HTTP %d %v", code, resp)
	}

	// A new reminder comes before the new end, once; then the grant ends.
	w.clock.Set(newEnd.Add(-10 * time.Minute))
	if n, err := w.svc.WorkExpiryReminders(ctx); n != 1 || err != nil {
		t.Fatalf("reminder for the new end: %d %v", n, err)
	}
	w.clock.Set(newEnd)
	if n, err := w.svc.Work(ctx); n != 1 || err != nil {
		t.Fatalf("expiry: %d %v", n, err)
	}
	if n := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID); n != 1 || w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("%d removals at the new end", n)
	}
}

func TestSelfExtensionByCommandAndItsBounds(t *testing.T) {
	w := newWorld(t)
	w.reconfigure(func(c *access.Config) { c.Profiles[0].MaxDuration = 2 * time.Hour })
	w.withExtensions(10*time.Minute, 30*time.Minute, 2*time.Hour+30*time.Minute)
	personal := "a:personal-" + rileyID
	req := w.granted()
	end := start.Add(time.Minute + 2*time.Hour)
	w.clock.Advance(time.Hour)

	// Refusals say why and change nothing.
	for text, want := range map[string]string{
		"extend 10m":                        "Say why",
		"extend 0m x":                       "Say how much longer",
		"extend soon x":                     "not a duration",
		"extend 40m more than allowed":      "at most 30m more, not 40m",
		"extend nope 10m some reason":       "There is no request",
		"extend " + req.ID + " 1h too long": "at most 30m more, not 1h",
	} {
		calls := w.graph.Count(graphtest.RouteCheckMemberGroups)
		if code, _ := w.post(w.message(riley, text)); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", text, code)
		}
		if got := w.texts(personal); !strings.Contains(got, want) {
			t.Fatalf("%q: reply lacks %q:\n%s", text, want, got)
		}
		w.unchanged(req.ID)
		if n := w.graph.Count(graphtest.RouteCheckMemberGroups); n != calls {
			t.Fatalf("%q: asked the directory %d times", text, n-calls)
		}
	}
	code, _ := w.post(w.message(eve, "extend "+req.ID+" 10m let me"))
	if code != http.StatusOK || !strings.Contains(w.texts("a:personal-"+eveID), "There is no request") {
		t.Fatalf("eve's extend: %s", w.texts("a:personal-"+eveID))
	}
	w.unchanged(req.ID)
	if w.auditBy(req.ID, access.ActionExtendRefused, eveID) != 1 {
		t.Fatal("eve's extend not audited")
	}

	// Within self_extend_max: applied at once, no approver asked.
	if code, _ := w.post(w.message(riley, "extend 20m still debugging")); code != http.StatusOK {
		t.Fatal("extend: HTTP", code)
	}
	g := w.grantOf(req.ID)
	if !g.ExpiresAt.Equal(end.Add(20*time.Minute)) || !g.DueAt.Equal(g.ExpiresAt) || g.Extended.By.ObjectID != rileyID {
		t.Fatalf("grant after self-extension: %+v", g)
	}
	if got := w.texts(personal); !strings.Contains(got, "Access extended") || !strings.Contains(got, "now ends at {{DATE(2026-11-23T11:21:00Z") {
		t.Fatalf("no extended card:\n%s", got)
	}
	if len(w.threads()) != 1 || w.extension(req.ID) != nil {
		t.Fatal("a self-extension asked the approvers")
	}
	if w.auditBy(req.ID, access.ActionExtended, rileyID) != 1 {
		t.Fatal("the self-extension is not audited")
	}
	if c := w.currentCard(w.threads()[0]); !strings.Contains(c, "Active until {{DATE(2026-11-23T11:21:00Z") || !strings.Contains(c, `"text":"the requester"`) {
		t.Fatalf("approval card does not show the self-extension: %s", c)
	}
	w.neverRemoved()

	// 2h20m of 2h30m used: 20m more is beyond max_total_duration.
	if code, _ := w.post(w.message(riley, "extend 20m a bit more")); code != http.StatusOK {
		t.Fatal("extend: HTTP", code)
	}
	if got := w.texts(personal); !strings.Contains(got, "at most 2h30m in all (max_total_duration); this grant can be extended by at most 10m more, not 20m") {
		t.Fatalf("beyond the total not refused:\n%s", got)
	}
	if !w.grantOf(req.ID).ExpiresAt.Equal(end.Add(20 * time.Minute)) {
		t.Fatal("a refused extension moved the end")
	}
	w.neverRemoved()
}

// TestExtensionRacingExpiry: an extension at the moment the grant falls due
// either extends a grant that is still active or is refused; the member is
// never both removed and extended. The scheduler runs on a replica whose
// clock has reached the end while the requester's replica is a second
// behind.
func TestExtensionRacingExpiry(t *testing.T) {
	setup := func(t *testing.T) (*world, *access.Request, time.Time, *access.Service, chan struct{}, chan struct{}) {
		w := newWorld(t)
		w.withExtensions(0, 30*time.Minute, 0)
		req := w.granted()
		end := start.Add(time.Minute + 2*time.Hour)
		w.clock.Set(end.Add(-time.Second))
		reached, proceed := make(chan struct{}, 1), make(chan struct{})
		cfg := w.svcCfg
		cfg.Owner, cfg.Clock = "replica-2", accesstest.NewClock(end)
		cfg.Failpoint = func(name string) {
			if name == "revoke.after-intent" {
				reached <- struct{}{}
				<-proceed
			}
		}
		sched, err := access.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return w, req, end, sched, reached, proceed
	}

	t.Run("the scheduler first", func(t *testing.T) {
		w, req, end, sched, reached, proceed := setup(t)
		done := make(chan int)
		go func() { n, _ := sched.Work(context.Background()); done <- n }()
		<-reached // the removal is decided and recorded, not yet done
		if code, _ := w.post(w.message(riley, "extend "+req.ID+" 20m not done yet")); code != http.StatusOK {
			t.Fatal("extend: HTTP", code)
		}
		close(proceed)
		if n := <-done; n != 1 {
			t.Fatalf("scheduler finished %d grants", n)
		}
		if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "reached its end and is being removed") {
			t.Fatalf("the extension was not refused:\n%s", got)
		}
		g := w.grantOf(req.ID)
		if g.State != access.GrantRevoked || !g.ExpiresAt.Equal(end) || g.Extended.Count != 0 || w.auditBy(req.ID, access.ActionExtended, rileyID) != 0 {
			t.Fatalf("grant both removed and extended: %+v", g)
		}
		if w.graph.IsMember(prodGroup, rileyID) || w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID) != 1 {
			t.Fatal("the member was not removed once")
		}
	})

	t.Run("the scheduler between the checks and the update", func(t *testing.T) {
		w, req, end, sched, reached, proceed := setup(t)
		done := make(chan int, 1)
		var once sync.Once
		w.reconfigure(func(c *access.Config) {
			c.Directory = &hookDirectory{Directory: c.Directory, beforeMemberGroups: func() {
				// The extension passed its checks (the grant was active
				// and not due on its replica's clock) and asks whether
				// riley is still eligible: the expiry starts now.
				once.Do(func() {
					go func() { n, _ := sched.Work(context.Background()); done <- n }()
					<-reached
				})
			}}
		})
		if code, _ := w.post(w.message(riley, "extend "+req.ID+" 20m not done yet")); code != http.StatusOK {
			t.Fatal("extend: HTTP", code)
		}
		close(proceed)
		if n := <-done; n != 1 {
			t.Fatalf("scheduler finished %d grants", n)
		}
		if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "reached its end and is being removed") {
			t.Fatalf("the extension was not refused:\n%s", got)
		}
		g := w.grantOf(req.ID)
		if g.State != access.GrantRevoked || !g.ExpiresAt.Equal(end) || g.Extended.Count != 0 || w.auditBy(req.ID, access.ActionExtended, rileyID) != 0 {
			t.Fatalf("grant both removed and extended: %+v", g)
		}
		if w.graph.IsMember(prodGroup, rileyID) || w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID) != 1 {
			t.Fatal("the member was not removed once")
		}
	})

	t.Run("the extension first", func(t *testing.T) {
		w, req, end, sched, _, proceed := setup(t)
		close(proceed)
		if code, _ := w.post(w.message(riley, "extend 20m not done yet")); code != http.StatusOK {
			t.Fatal("extend: HTTP", code)
		}
		if n, err := sched.Work(context.Background()); n != 0 || err != nil {
			t.Fatalf("scheduler worked on %d grants (%v) after the extension", n, err)
		}
		g := w.grantOf(req.ID)
		if g.State != access.GrantActive || !g.ExpiresAt.Equal(end.Add(20*time.Minute)) {
			t.Fatalf("grant %+v", g)
		}
		w.neverRemoved()
	})

	t.Run("at once", func(t *testing.T) {
		w, req, end, sched, reached, proceed := setup(t)
		close(proceed)
		go func() {
			for range reached {
			}
		}()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = sched.Work(context.Background()) }()
		go func() { defer wg.Done(); w.post(w.message(riley, "extend 20m not done yet")) }()
		wg.Wait()
		close(reached)
		g := w.grantOf(req.ID)
		extended := g.ExpiresAt.Equal(end.Add(20 * time.Minute))
		removed := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID) > 0
		switch {
		case extended && removed:
			t.Fatalf("both extended and removed: %+v", g)
		case extended:
			w.neverRemoved()
			if g.State != access.GrantActive {
				t.Fatalf("extended grant is %s", g.State)
			}
		case removed:
			if !g.ExpiresAt.Equal(end) || w.graph.IsMember(prodGroup, rileyID) {
				t.Fatalf("removed grant %+v", g)
			}
		default:
			t.Fatalf("neither extended nor removed: %+v", g)
		}
	})
}

// TestExtensionOfAnEndedGrant: a pending extension of a grant that is
// released is closed at once; a later approval changes nothing and the
// card says why.
func TestExtensionOfAnEndedGrant(t *testing.T) {
	w := newWorld(t)
	w.withExtensions(0, 0, 0)
	req := w.granted()
	w.clock.Advance(time.Hour)
	if code, _ := w.post(w.message(riley, "extend 30m need more")); code != http.StatusOK {
		t.Fatal("extend: HTTP", code)
	}
	ext := w.extension(req.ID)
	if ext == nil {
		t.Fatal("no extension request")
	}
	if code, _ := w.post(w.personalClick(riley, "release", req.ID, nil)); code != http.StatusOK {
		t.Fatal("release: HTTP", code)
	}
	got, _ := w.db.GetRequest(context.Background(), ext.ID)
	if got.State != access.RequestDenied || access.NewGrantRecord(*got).Outcome != access.OutcomeClosed {
		t.Fatalf("extension of a released grant: %s", got.State)
	}
	if c := w.currentCard(w.threads()[1]); !strings.Contains(c, "No longer valid: the access it extends has ended.") || strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("extension card after the release: %s", c)
	}
	if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "Your extension of prod-db (+30m) was closed: the access it extends has ended.") {
		t.Fatalf("requester not told:\n%s", got)
	}
	code, resp := w.post(w.click(alex, "approve", ext.ID, nil))
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "No longer valid") {
		t.Fatalf("late approval: HTTP %d %v", code, resp)
	}
	g := w.grantOf(req.ID)
	if g.State != access.GrantRevoked || g.Extended.Count != 0 || !g.ExpiresAt.Equal(start.Add(time.Minute+2*time.Hour)) {
		t.Fatalf("ended grant changed: %+v", g)
	}
	if n := w.graph.CountFor(graphtest.RouteRemoveMember, prodGroup, rileyID); n != 1 || w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID) != 1 {
		t.Fatal("the membership was touched again")
	}
}

// TestExtensionOfAnEndingGrant: an extension approved while its grant is
// being removed (the removal failed; it is irrevocable) is closed as no longer valid
// and changes nothing.
func TestExtensionOfAnEndingGrant(t *testing.T) {
	w := newWorld(t)
	w.withExtensions(0, 0, 0)
	req := w.granted()
	end := start.Add(time.Minute + 2*time.Hour)
	w.clock.Set(end.Add(-20 * time.Minute))
	if code, _ := w.post(w.message(riley, "extend 30m need more")); code != http.StatusOK {
		t.Fatal("extend: HTTP", code)
	}
	ext := w.extension(req.ID)
	if ext == nil {
		t.Fatal("no extension request")
	}
	w.graph.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	// The removal runs on a replica whose clock reached the end; the
	// approver's is a second behind, before the extension's deadline (the
	// grant's end).
	w.clock.Set(end.Add(-time.Second))
	cfg := w.svcCfg
	cfg.Owner, cfg.Clock = "replica-2", accesstest.NewClock(end)
	sched, err := access.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sched.Work(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := w.grantOf(req.ID); g.Attempts == 0 || g.State == access.GrantRevoked {
		t.Fatalf("the removal did not fail: %+v", g)
	}
	code, resp := w.post(w.click(alex, "approve", ext.ID, nil))
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "No longer valid") {
		t.Fatalf("approval of an ending grant's extension: HTTP %d %v", code, resp)
	}
	if g := w.grantOf(req.ID); !g.ExpiresAt.Equal(end) || g.Extended.Count != 0 {
		t.Fatalf("the ending grant was extended: %+v", g)
	}
	if w.auditBy(req.ID, access.ActionExtended, alexID) != 0 || w.auditBy(ext.ID, access.ActionInvalidated, alexID) != 1 {
		t.Fatal("audit of the closed extension")
	}
	if got := w.texts("a:personal-" + rileyID); !strings.Contains(got, "the access it extends has ended or is being ended") {
		t.Fatalf("requester not told:\n%s", got)
	}
}

// hookDirectory is a directory that runs beforeMemberGroups before each
// MemberGroups question.
type hookDirectory struct {
	access.Directory
	beforeMemberGroups func()
}

func (h *hookDirectory) MemberGroups(ctx context.Context, userID string, groupIDs []string) ([]string, error) {
	h.beforeMemberGroups()
	return h.Directory.MemberGroups(ctx, userID, groupIDs)
}

// TestSchedulerWakesForTheExpiryReminder: the scheduler sleeps until the
// reminder is due, sends it once, and a restart does not send it again.
func TestSchedulerWakesForTheExpiryReminder(t *testing.T) {
	w := newWorld(t)
	w.withExtensions(10*time.Minute, 0, 0)
	// A long lease, so that the scheduler's periodic look does not come
	// between the steps below: it must wake for the reminder itself.
	w.reconfigure(func(c *access.Config) { c.Lease = 2 * time.Hour })
	personal := "a:personal-" + rileyID
	w.granted()
	end := start.Add(time.Minute + 2*time.Hour)
	reminders := func() int { return strings.Count(w.texts(personal), "Your access ends soon") }
	run := func() func() {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.svc.Run(ctx) }()
		return func() { stop(); <-done }
	}
	stop := run()
	step := func(to time.Time) {
		waitFor(t, "the scheduler to sleep", func() bool { return w.clock.Timers() > 0 })
		w.clock.Set(to)
	}
	step(end.Add(-10*time.Minute - time.Second))
	time.Sleep(50 * time.Millisecond)
	if n := reminders(); n != 0 {
		t.Fatalf("%d reminders before their time", n)
	}
	step(end.Add(-10 * time.Minute))
	waitFor(t, "the expiry reminder", func() bool { return reminders() == 1 })
	stop()

	// Restarted: the reminder is recorded as sent and not repeated.
	w.reconfigure(nil)
	stop = run()
	defer stop()
	step(end.Add(-5 * time.Minute))
	waitFor(t, "the scheduler to sleep again", func() bool { return w.clock.Timers() > 0 })
	time.Sleep(50 * time.Millisecond)
	if n := reminders(); n != 1 {
		t.Fatalf("%d reminders after a restart, want 1", n)
	}
}

// TestExtensionDeniedAndCancelled: a denied extension leaves the grant as
// it was and tells the requester; a pending one can be cancelled like any
// request, and then another may be asked.
func TestExtensionDeniedAndCancelled(t *testing.T) {
	w := newWorld(t)
	w.withExtensions(0, 0, 0)
	personal := "a:personal-" + rileyID
	req := w.granted()
	end := start.Add(time.Minute + 2*time.Hour)
	w.clock.Advance(time.Hour)
	w.post(w.message(riley, "extend 30m need more"))
	ext := w.extension(req.ID)
	if ext == nil {
		t.Fatal("no extension request")
	}
	code, resp := w.post(w.click(alex, "deny", ext.ID, map[string]any{"reason": "wrap up today"}))
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "Denied by") {
		t.Fatalf("deny: HTTP %d %v", code, resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), ext.ID); got.State != access.RequestDenied {
		t.Fatalf("denied extension is %s", got.State)
	}
	w.unchanged(req.ID)
	if g := w.grantOf(req.ID); !g.ExpiresAt.Equal(end) || g.Extended.Count != 0 {
		t.Fatalf("a denied extension changed the grant: %+v", g)
	}
	want := "Your extension of prod-db (+30m) was denied by Alex Approver. Your access still ends at 11:01 UTC on 23 Nov 2026. Reason: `wrap up today`"
	if got := w.texts(personal); !strings.Contains(got, want) {
		t.Fatalf("requester not told %q:\n%s", want, got)
	}

	// Asked again and cancelled: the card says so, and a third may be asked.
	w.post(w.message(riley, "extend 20m really need more"))
	ext2 := w.extension(req.ID)
	if ext2 == nil || ext2.ID == ext.ID {
		t.Fatal("no second extension request")
	}
	if code, _ := w.post(w.message(riley, "cancel "+ext2.ID)); code != http.StatusOK {
		t.Fatal("cancel: HTTP", code)
	}
	if got, _ := w.db.GetRequest(context.Background(), ext2.ID); got.State != access.RequestCancelled {
		t.Fatalf("cancelled extension is %s", got.State)
	}
	if c := w.currentCard(w.threads()[2]); !strings.Contains(c, "Cancelled by the requester") {
		t.Fatalf("extension card after cancel: %s", c)
	}
	w.unchanged(req.ID)
	w.post(w.message(riley, "extend 10m last try"))
	if ext3 := w.extension(req.ID); ext3 == nil || ext3.ID == ext2.ID || ext3.State != access.RequestPending {
		t.Fatalf("third extension %+v", ext3)
	}
	w.neverRemoved()
}

// verbsOf lists the verbs of every Action.Execute on a card, in order.
func verbsOf(card any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Action.Execute" {
				if verb, _ := x["verb"].(string); verb != cards.VerbRefresh {
					out = append(out, verb)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	raw, _ := json.Marshal(card)
	var m any
	_ = json.Unmarshal(raw, &m)
	walk(m)
	return out
}

// Extend on the status card and on the requester's own view of the
// approval card opens the form that asks how much longer and why; what the
// form sends extends the grant. Someone else pressing either gets their own
// card with why, and nothing changes; a grant with no time left under
// max_total_duration has no Extend button.
func TestExtendFromStatusAndTheApprovalCard(t *testing.T) {
	w := newWorld(t)
	w.reconfigure(func(c *access.Config) { c.Profiles[0].MaxDuration = 2 * time.Hour })
	w.withExtensions(10*time.Minute, 30*time.Minute, 3*time.Hour)
	req := w.granted()
	end := w.grantOf(req.ID).ExpiresAt

	// status lists the grant with I'm done and Extend.
	w.post(w.message(riley, "status"))
	if got := verbsOf(w.rileyCard()); !slices.Contains(got, cards.VerbExtend) || !slices.Contains(got, cards.VerbRelease) {
		t.Fatalf("status buttons %v, want I'm done and Extend", got)
	}
	code, resp := w.statusClick(riley, cards.VerbExtend, req.ID)
	form := cardJSON(resp["value"])
	if code != http.StatusOK || !strings.Contains(form, "Extend your access") || !strings.Contains(form, `"id":"`+cards.InputExtendDuration+`"`) {
		t.Fatalf("Extend on the status card: HTTP %d %s", code, form)
	}
	w.unchanged(req.ID)

	// The requester's view of the approval card has Extend too, opening
	// the same form; a bystander's press gets their read-only card.
	code, resp = w.post(w.click(riley, cards.VerbRefresh, req.ID, nil))
	if got := verbsOf(resp["value"]); code != http.StatusOK || !slices.Contains(got, cards.VerbExtend) {
		t.Fatalf("riley's view of the approval card: buttons %v", got)
	}
	code, resp = w.post(w.click(riley, cards.VerbExtend, req.ID, map[string]any{cards.DataCard: cards.CardApproval}))
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "Extend your access") {
		t.Fatalf("Extend on the approval card: HTTP %d %v", code, resp)
	}
	code, resp = w.post(w.click(eve, cards.VerbExtend, req.ID, map[string]any{cards.DataCard: cards.CardApproval}))
	if got := cardJSON(resp["value"]); code != http.StatusOK || !strings.Contains(got, "Only the person who asked for this access can extend it") || len(verbsOf(resp["value"])) != 0 {
		t.Fatalf("eve's Extend on the approval card: HTTP %d %s", code, got)
	}
	code, resp = w.post(w.personalClick(eve, cards.VerbExtend, req.ID, map[string]any{cards.DataCard: cards.CardStatus}))
	if got := cardJSON(resp["value"]); code != http.StatusOK || !strings.Contains(got, "Only the person who asked") || strings.Contains(got, req.ID) {
		t.Fatalf("eve's Extend from a status card: HTTP %d %s", code, got)
	}
	w.unchanged(req.ID)
	if !w.grantOf(req.ID).ExpiresAt.Equal(end) {
		t.Fatal("opening the form moved the end")
	}

	// The form's Extend, within self_extend_max, applies at once.
	code, resp = w.extendClick(riley, req.ID, "30m", "still debugging")
	if code != http.StatusOK || !strings.Contains(cardJSON(resp["value"]), "Access extended") {
		t.Fatalf("the form's Extend: HTTP %d %v", code, resp)
	}
	if g := w.grantOf(req.ID); !g.ExpiresAt.Equal(end.Add(30 * time.Minute)) {
		t.Fatalf("end after the extension %s, want %s", g.ExpiresAt, end.Add(30*time.Minute))
	}
	w.neverRemoved()

	// 2h30m of 3h are used; with the bound lowered to that, no time is
	// left: no Extend button anywhere, and a press is refused.
	w.withExtensions(10*time.Minute, 30*time.Minute, 2*time.Hour+30*time.Minute)
	w.post(w.message(riley, "status"))
	if got := verbsOf(w.rileyCard()); slices.Contains(got, cards.VerbExtend) {
		t.Fatalf("status offers Extend with no time left: %v", got)
	}
	code, resp = w.statusClick(riley, cards.VerbExtend, req.ID)
	if got := cardJSON(resp["value"]); code != http.StatusOK || !strings.Contains(got, "Only the person who asked") {
		t.Fatalf("Extend with no time left: HTTP %d %s", code, got)
	}
}

// A double-click on the expiry reminder's Extend (two invokes at once from
// one card) extends the grant once: the card sends the end it showed, and
// the second click is told the access was extended already.
func TestExtendDoubleClickOverHTTP(t *testing.T) {
	w := newWorld(t)
	w.withExtensions(10*time.Minute, 15*time.Minute, 0)
	ctx := context.Background()
	personal := "a:personal-" + rileyID
	req := w.granted() // ends 11:01, reminder at 10:51
	end := start.Add(time.Minute + 2*time.Hour)
	w.clock.Set(end.Add(-10 * time.Minute))
	if n, err := w.svc.WorkExpiryReminders(ctx); n != 1 || err != nil {
		t.Fatalf("reminders: %d %v", n, err)
	}
	shown := end.UTC().Format(time.RFC3339Nano)
	if texts := w.texts(personal); !strings.Contains(texts, `"extendsFrom":"`+shown+`"`) {
		t.Fatalf("the reminder's Extend does not send the end it shows (%s):\n%s", shown, texts)
	}
	data := map[string]any{cards.InputExtendDuration: "10m", cards.InputExtendReason: "almost done", cards.DataExtendsFrom: shown}
	var wg sync.WaitGroup
	resps := make([]map[string]any, 2)
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], resps[i] = w.post(w.personalClick(riley, cards.VerbExtend, req.ID, data))
		}()
	}
	wg.Wait()
	extended, refused := 0, 0
	for i := range 2 {
		body := cardJSON(resps[i]["value"])
		switch {
		case codes[i] != http.StatusOK:
			t.Fatalf("click %d: HTTP %d %v", i, codes[i], resps[i])
		case strings.Contains(body, "extended already"):
			refused++
		case strings.Contains(body, "{{DATE(2026-11-23T11:11:00Z"):
			extended++
		default:
			t.Fatalf("click %d answered %s", i, body)
		}
	}
	if extended != 1 || refused != 1 {
		t.Fatalf("%d extended, %d refused: want one each", extended, refused)
	}
	if g := w.grantOf(req.ID); !g.ExpiresAt.Equal(end.Add(10*time.Minute)) || g.Extended.Count != 1 {
		t.Fatalf("grant after a double-click: ends %s, %d extensions", g.ExpiresAt, g.Extended.Count)
	}
	if n := w.auditBy(req.ID, access.ActionExtended, rileyID); n != 1 {
		t.Fatalf("%d grant.extended events, want 1", n)
	}
	w.neverRemoved()
}
