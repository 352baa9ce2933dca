package bot_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/connectortest"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// teamsID is a person's Teams id, as the world's activities send it.
func teamsID(p person) string { return "29:" + p.id }

func member(p person) connectortest.Member {
	return connectortest.Member{ID: teamsID(p), Name: p.name, AadObjectID: p.id, TenantID: tenantID}
}

// withAudience gives the bot and its notifier the refresh audience: the
// approvers' channel roster (as set on the fake connector) intersected
// with the approver groups in the fake Graph.
func (w *world) withAudience() *bot.Audience {
	w.t.Helper()
	dir, err := graph.New(graph.Config{GraphURL: w.graph.URL(), Transport: w.graph.Transport()}, w.graph.Credential(), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	aud := &bot.Audience{Roster: w.client, Directory: dir, Now: w.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w.svcCfg.Notifier.(*bot.Notifier).Audience = aud
	w.botCfg.Audience = aud
	w.reconfigure(nil)
	return aud
}

// refresh is the automatic refresh invoke p's client sends for the card.
func (w *world) refresh(p person, requestID string) map[string]any {
	act := w.click(p, "refresh", requestID, nil)
	act["value"].(map[string]any)["trigger"] = "automatic"
	return act
}

// view reads an invoke answer that must be a card: its note (the
// warning line at the top, "" for none), its buttons' verbs and its inputs.
type view struct {
	note   string
	verbs  []string
	inputs []string
	body   string // the body without the note and inputs
	json   string
	card   map[string]any
}

func (w *world) viewOf(code int, resp map[string]any) view {
	w.t.Helper()
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
		w.t.Fatalf("want a card: HTTP %d %v", code, resp)
	}
	card, _ := resp["value"].(map[string]any)
	v := view{json: cardJSON(card), card: card}
	var body []string
	for _, e := range card["body"].([]any) {
		m := e.(map[string]any)
		switch {
		case m["type"] == "TextBlock" && m["color"] == "Warning" && m["spacing"] == "Small":
			v.note = m["text"].(string)
		case strings.HasPrefix(fmt.Sprint(m["type"]), "Input."):
			v.inputs = append(v.inputs, m["id"].(string))
		default:
			body = append(body, cardJSON(m))
		}
	}
	v.body = strings.Join(body, "\n")
	acts, _ := card["actions"].([]any)
	for _, a := range acts {
		v.verbs = append(v.verbs, a.(map[string]any)["verb"].(string))
	}
	return v
}

// viewIn is viewOf's note and verbs.
func (w *world) viewIn(code int, resp map[string]any) (string, []string) {
	w.t.Helper()
	v := w.viewOf(code, resp)
	return v.note, v.verbs
}

// writes counts the connector calls that change something (all but GET).
func (w *world) writes() int {
	n := 0
	for _, r := range w.conn.Requests() {
		if r.Method != http.MethodGet {
			n++
		}
	}
	return n
}

// rosterReads counts the roster calls to the approvers' channel.
func (w *world) rosterReads() int {
	n := 0
	for _, r := range w.conn.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v3/conversations/"+channelID+"/members" {
			n++
		}
	}
	return n
}

func refreshIDs(card map[string]any) []string {
	r, _ := card["refresh"].(map[string]any)
	ids, _ := r["userIds"].([]any)
	var out []string
	for _, id := range ids {
		out = append(out, id.(string))
	}
	return out
}

func TestEachViewerGetsTheirOwnCardFromTheRefresh(t *testing.T) {
	w := newWorld(t)
	w.withAudience()
	// The approvers' team: riley (the requester), both approvers, eve,
	// and the bot itself.
	w.conn.SetRoster(channelID, member(eve), member(alex), member(riley), member(sam),
		connectortest.Member{ID: "28:" + appID, Name: "jitbot"})
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	_, base := w.approvalThread()

	// The card in the channel: the approvers' buttons, refreshed for the
	// requester first, then the approvers in roster order.
	if got, want := refreshIDs(base), []string{teamsID(riley), teamsID(alex), teamsID(sam)}; !slices.Equal(got, want) {
		t.Fatalf("refresh.userIds %v, want %v", got, want)
	}
	if c := cardJSON(base); !strings.Contains(c, `"verb":"approve"`) || !strings.Contains(c, `"verb":"deny"`) || strings.Contains(c, `"verb":"cancelRequest"`) {
		t.Fatalf("channel card: %s", c)
	}

	writes, graphCalls, audit := w.writes(), len(w.graph.CallsTo(graphtest.RouteAddMember)), len(w.auditOf(req.ID))
	views := map[string]view{}
	for _, c := range []struct {
		who    person
		verbs  []string
		inputs []string
	}{
		{riley, []string{"cancelRequest"}, nil},
		{alex, []string{"approve", "deny"}, []string{"reason"}},
		{sam, []string{"approve", "deny"}, []string{"reason"}},
		{eve, nil, nil},
	} {
		v := w.viewOf(w.post(w.refresh(c.who, req.ID)))
		if !slices.Equal(v.verbs, c.verbs) || !slices.Equal(v.inputs, c.inputs) || v.note != "" {
			t.Errorf("%s's card: buttons %v inputs %v note %q; want %v and %v", c.who.name, v.verbs, v.inputs, v.note, c.verbs, c.inputs)
		}
		if !strings.Contains(v.json, "Pending") || !strings.Contains(v.json, "checkout latency spike") {
			t.Errorf("%s's card lacks the request's state or facts: %s", c.who.name, v.json)
		}
		if got := refreshIDs(v.card); !slices.Equal(got, refreshIDs(base)) {
			t.Errorf("%s's card refreshes for %v, want %v", c.who.name, got, refreshIDs(base))
		}
		views[c.who.name] = v
	}
	for name, v := range views {
		if v.body != views[eve.name].body {
			t.Errorf("%s's card body differs from the bystander's:\n%s\n---\n%s", name, v.body, views[eve.name].body)
		}
	}
	// Refreshing changes nothing and posts nothing.
	if w.writes() != writes || len(w.graph.CallsTo(graphtest.RouteAddMember)) != graphCalls || len(w.auditOf(req.ID)) != audit {
		t.Fatal("a refresh changed something")
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("state %s after refreshes", got.State)
	}

	// Once active: the requester has I'm done, the approvers Revoke now.
	w.post(w.click(alex, "approve", req.ID, nil))
	for _, c := range []struct {
		who   person
		verbs []string
	}{{riley, []string{cards.VerbRelease, cards.VerbExtend}}, {sam, []string{"revokeNow"}}, {eve, nil}} {
		if _, verbs := w.viewIn(w.post(w.refresh(c.who, req.ID))); !slices.Equal(verbs, c.verbs) {
			t.Errorf("active, %s's buttons %v, want %v", c.who.name, verbs, c.verbs)
		}
	}

	// An unknown request: a read-only "not found" card, not an error.
	v := w.viewOf(w.post(w.refresh(alex, "no-such-request")))
	if len(v.verbs) != 0 || len(v.inputs) != 0 || !strings.Contains(v.json, "Request not found") {
		t.Fatalf("unknown request: %s", v.json)
	}
}

func TestRefreshAudienceIsCachedCappedAndFallsBack(t *testing.T) {
	w := newWorld(t)
	w.withAudience()
	// 70 approvers in the team, nested one group down.
	const nested = "aaaaaaaa-0000-4000-8000-0000000000c1"
	w.graph.AddGroup(nested)
	w.graph.AddMember(approverGroup, nested)
	roster := []connectortest.Member{member(riley)}
	for i := range 70 {
		id := fmt.Sprintf("77777777-7777-4777-8777-%012d", i)
		w.graph.AddUser(id)
		w.graph.AddMember(nested, id)
		roster = append(roster, connectortest.Member{ID: "29:approver-" + id, AadObjectID: id})
	}
	w.conn.SetRoster(channelID, roster...)
	w.post(w.message(riley, "request prod-db 1h INC-1 first"))
	_, card := w.approvalThread()
	ids := refreshIDs(card)
	if len(ids) != 60 || ids[0] != teamsID(riley) || ids[1] != "29:approver-77777777-7777-4777-8777-000000000000" {
		t.Fatalf("%d userIds: %v", len(ids), ids)
	}

	// The next cards within the cache's life read no roster.
	req := w.onlyRequest()
	w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": "not now"}))
	w.post(w.message(riley, "request prod-db 1h INC-2 second"))
	if n := w.rosterReads(); n != 1 {
		t.Fatalf("%d roster reads for two cards within the TTL", n)
	}
	if n := w.graph.Count(graphtest.RouteTransitiveMembers); n != 1 {
		t.Fatalf("%d transitiveMembers calls for two cards within the TTL", n)
	}
	w.clock.Advance(bot.DefaultAudienceTTL + time.Minute)
	second := w.onlyRequest()
	w.post(w.click(alex, "deny", second.ID, map[string]any{"reason": "still not"}))
	if n := w.rosterReads(); n != 2 {
		t.Fatalf("%d roster reads after the TTL, want 2", n)
	}

	// The roster cannot be read: the requester alone.
	w2 := newWorld(t)
	var logs lockedBuffer
	w2.withAudience().Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w2.conn.SetRoster(channelID, member(alex))
	w2.graph.InjectFault(graphtest.Fault{Route: graphtest.RouteTransitiveMembers, Status: http.StatusForbidden})
	w2.post(w2.message(riley, "request prod-db 1h INC-1 graph says no"))
	_, card = w2.approvalThread()
	if got := refreshIDs(card); !slices.Equal(got, []string{teamsID(riley)}) {
		t.Fatalf("userIds %v after a Graph failure, want the requester alone", got)
	}
	if c := cardJSON(card); !strings.Contains(c, `"verb":"approve"`) {
		t.Fatal("the channel card lost the approvers' buttons")
	}
	if !strings.Contains(logs.String(), "only the requester gets their own view") || !strings.Contains(logs.String(), "403") {
		t.Fatalf("the failure is not logged:\n%s", logs.String())
	}
	// A failure is tried again a minute later, not at every card.
	first := w2.onlyRequest()
	w2.post(w2.click(alex, "deny", first.ID, map[string]any{"reason": "try again"}))
	if n := w2.graph.Count(graphtest.RouteTransitiveMembers); n != 1 {
		t.Fatalf("%d transitiveMembers calls within a minute of the failure", n)
	}
	w2.clock.Advance(2 * time.Minute)
	w2.post(w2.message(riley, "request prod-db 1h INC-2 graph is back"))
	conv := w2.conn.Conversations()
	slices.Sort(conv)
	var latest map[string]any
	for _, c := range conv {
		if strings.HasPrefix(c, channelID+";") {
			if acts := w2.conn.Activities(c); len(acts) > 0 && strings.Contains(cardJSON(acts[0].Card()), "graph is back") {
				latest = acts[0].Card()
			}
		}
	}
	if got := refreshIDs(latest); !slices.Equal(got, []string{teamsID(riley), teamsID(alex)}) {
		t.Fatalf("userIds %v once Graph answers again", got)
	}

	// No roster for the channel (the bot is not in the team): the
	// requester alone.
	w3 := newWorld(t)
	w3.withAudience()
	w3.post(w3.message(riley, "request prod-db 1h INC-1 no roster"))
	_, card = w3.approvalThread()
	if got := refreshIDs(card); !slices.Equal(got, []string{teamsID(riley)}) || w3.rosterReads() != 1 {
		t.Fatalf("userIds %v without a roster (%d reads), want the requester alone", got, w3.rosterReads())
	}
}

func TestClicksByPeopleWhoMayNotActGetTheirOwnCard(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	thread, _ := w.approvalThread()
	onCard := map[string]any{"card": "approval"}

	for _, c := range []struct {
		who   person
		verb  string
		extra map[string]any
		note  string
		verbs []string
		audit access.Action
	}{
		{eve, "approve", nil, "not an approver for prod-db", nil, access.ActionDecisionRefused},
		{eve, "deny", map[string]any{"reason": "no"}, "not an approver for prod-db", nil, access.ActionDecisionRefused},
		{riley, "approve", nil, "cannot decide your own request", []string{"cancelRequest"}, access.ActionDecisionRefused},
		{eve, "cancelRequest", onCard, "Only the person who asked", nil, access.ActionCancelRefused},
		{alex, "cancelRequest", onCard, "Only the person who asked", []string{"approve", "deny"}, access.ActionCancelRefused},
		{alex, "deny", nil, "Say why you deny", []string{"approve", "deny"}, ""},
	} {
		writes, adds := w.writes(), w.graph.Count(graphtest.RouteAddMember)
		audit := len(w.auditOf(req.ID))
		note, verbs := w.viewIn(w.post(w.click(c.who, c.verb, req.ID, c.extra)))
		if !strings.Contains(note, c.note) || !slices.Equal(verbs, c.verbs) {
			t.Errorf("%s's %s: note %q, buttons %v; want %q and %v", c.who.name, c.verb, note, verbs, c.note, c.verbs)
		}
		wantAudit := audit
		if c.audit != "" {
			wantAudit++
			if evs := w.auditOf(req.ID); evs[len(evs)-1].Action != c.audit || evs[len(evs)-1].Actor.ObjectID != c.who.id {
				t.Errorf("%s's %s: last audit %+v, want %s", c.who.name, c.verb, evs[len(evs)-1], c.audit)
			}
		}
		if got := len(w.auditOf(req.ID)); got != wantAudit {
			t.Errorf("%s's %s: %d audit events, want %d", c.who.name, c.verb, got, wantAudit)
		}
		if w.writes() != writes || w.graph.Count(graphtest.RouteAddMember) != adds {
			t.Errorf("%s's %s posted or changed something", c.who.name, c.verb)
		}
		if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
			t.Fatalf("%s's %s moved the request to %s", c.who.name, c.verb, got.State)
		}
	}

	// Active: I'm done on the approval card by anyone but the requester.
	w.post(w.click(alex, "approve", req.ID, nil))
	for _, c := range []struct {
		who   person
		verbs []string
	}{{eve, nil}, {sam, []string{"revokeNow"}}} {
		writes := w.writes()
		note, verbs := w.viewIn(w.post(w.click(c.who, "release", req.ID, onCard)))
		if !strings.Contains(note, "Only the person who asked") || !slices.Equal(verbs, c.verbs) {
			t.Errorf("%s's I'm done: note %q, buttons %v", c.who.name, note, verbs)
		}
		if w.auditBy(req.ID, access.ActionReleaseRefused, c.who.id) != 1 || w.writes() != writes {
			t.Errorf("%s's I'm done: not audited once, or something was posted", c.who.name)
		}
		w.unchanged(req.ID)
	}

	// The requester's own I'm done on their view of the approval card.
	v := w.viewOf(w.post(w.click(riley, "release", req.ID, onCard)))
	if v.note != "" || len(v.verbs) != 0 || !strings.Contains(v.json, "Released early by the requester") {
		t.Fatalf("requester's I'm done: %s", v.json)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after I'm done")
	}
	if acts := w.conn.Activities(thread); acts[0].Version < 3 {
		t.Fatal("the channel card was not updated")
	}
}

func TestRequesterCancelsFromTheirViewOfTheApprovalCard(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	v := w.viewOf(w.post(w.click(riley, "cancelRequest", req.ID, map[string]any{"card": "approval"})))
	if v.note != "" || len(v.verbs) != 0 || !strings.Contains(v.json, "Cancelled by the requester") {
		t.Fatalf("after cancel: %s", v.json)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestCancelled {
		t.Fatalf("state %s", got.State)
	}
	// The "request received" card's Cancel still answers with that card.
	w.post(w.message(riley, "request prod-db 2h INC-4712 again"))
	again := w.onlyRequest()
	if v := w.viewOf(w.post(w.personalClick(riley, "cancelRequest", again.ID, nil))); !strings.Contains(v.json, "Request cancelled") {
		t.Fatalf("submitted card cancel: %s", v.json)
	}
}

func TestReasonsOverHTTP(t *testing.T) {
	w := newWorld(t)
	w.reconfigure(func(c *access.Config) { c.Profiles[0].RequireReason = true })
	personal := "a:personal-" + rileyID
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	_, card := w.approvalThread()
	c := cardJSON(card)
	if !strings.Contains(c, `"label":"Reason (required; shown to the requester)"`) || strings.Contains(c, `"associatedInputs":"none"`) {
		t.Fatalf("with require_reason, Approve must send the required reason: %s", c)
	}

	writes := w.writes()
	note, verbs := w.viewIn(w.post(w.click(alex, "approve", req.ID, nil)))
	if !strings.Contains(note, "needs a reason to approve") || !slices.Equal(verbs, []string{"approve", "deny"}) {
		t.Fatalf("approve without a reason: %q %v", note, verbs)
	}
	if w.graph.Count(graphtest.RouteAddMember) != 0 || w.writes() != writes || w.auditBy(req.ID, access.ActionApproved, alexID) != 0 {
		t.Fatal("an approval without a required reason changed something")
	}
	v := w.viewOf(w.post(w.click(alex, "approve", req.ID, map[string]any{"reason": "INC-4711 is a sev-1"})))
	if !strings.Contains(v.json, `"Reason: "`) || !strings.Contains(v.json, "INC-4711 is a sev-1") || !slices.Equal(v.verbs, []string{"revokeNow"}) {
		t.Fatalf("approved card: %s", v.json)
	}
	if !strings.Contains(w.texts(personal), "approved by Alex Approver. Access until") || !strings.Contains(w.texts(personal), "Reason: `INC-4711 is a sev-1`") {
		t.Fatalf("requester not told the reason:\n%s", w.texts(personal))
	}
	evs := w.auditOf(req.ID)
	if !slices.ContainsFunc(evs, func(ev access.AuditEvent) bool {
		return ev.Action == access.ActionApproved && ev.Reason == "INC-4711 is a sev-1"
	}) {
		t.Fatal("the reason is not audited")
	}
}

// auditOf returns the request's audit events.
func (w *world) auditOf(requestID string) []access.AuditEvent {
	w.t.Helper()
	evs, err := w.db.Audit(context.Background(), access.AuditFilter{RequestID: requestID})
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}
