package bot_test

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cards"
)

const auditGroup = "aaaaaaaa-0000-4000-8000-0000000000a0"

// auditWorld is newWorld with sam in the audit reader group (through a
// nested group, so membership is transitive), the bot signing download
// links, and the download endpoint served beside /api/messages.
func auditWorld(t *testing.T) (*world, *httptest.Server) {
	t.Helper()
	w := newWorld(t)
	const nested = "aaaaaaaa-0000-4000-8000-0000000000a1"
	w.graph.AddGroup(auditGroup, nested)
	w.graph.SetNested(auditGroup, nested)
	w.graph.AddMember(nested, samID)
	signer, err := audit.NewRandomLinkSigner()
	if err != nil {
		t.Fatal(err)
	}
	var dl *api.Download
	mux := http.NewServeMux()
	mux.Handle("POST /api/messages", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.handler.Load().ServeHTTP(rw, r) }))
	mux.Handle("GET "+bot.DownloadPath+"{token}", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { dl.ServeHTTP(rw, r) }))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w.botCfg.Links, w.botCfg.PublicURL = signer, srv.URL
	w.reconfigure(func(c *access.Config) { c.AuditReaderGroups = []string{auditGroup} })
	dl = &api.Download{Links: signer, Reports: w.svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return w, srv
}

// events returns the audit events of an action.
func (w *world) events(a access.Action) []access.AuditEvent {
	w.t.Helper()
	var out []access.AuditEvent
	err := w.db.EachAudit(context.Background(), access.AuditQuery{}, func(ev access.AuditEvent) error {
		if ev.Action == a {
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// downloadURL is the Download CSV button's link on the last card the bot
// sent to a conversation.
func (w *world) downloadURL(conv string) string {
	w.t.Helper()
	acts := w.conn.Activities(conv)
	if len(acts) == 0 {
		w.t.Fatal("no reply")
	}
	card := acts[len(acts)-1].Card()
	actions, _ := card["actions"].([]any)
	for _, a := range actions {
		if m, _ := a.(map[string]any); m["type"] == "Action.OpenUrl" && m["title"] == cards.DownloadTitle {
			return m["url"].(string)
		}
	}
	w.t.Fatalf("the last card has no %s button: %s", cards.DownloadTitle, cardJSON(card))
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAuditReportOverHTTP: an audit reader (a transitive member of the
// reader group) sends `audit 30d` and gets the report card; its Download
// CSV link serves the period's grants once, as inert CSV, and the use is
// audited. A second use, a use after ten minutes, a link altered to name
// another person, a link with another key and a link whose reader has
// left the group are all refused.
func TestAuditReportOverHTTP(t *testing.T) {
	w, _ := auditWorld(t)
	w.post(w.message(riley, `request prod-db 2h INC-4711 =HYPERLINK("http://x","y")`))
	req := w.onlyRequest()
	w.clock.Advance(4 * time.Minute)
	if code, _ := w.post(w.click(alex, "approve", req.ID, nil)); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	w.clock.Advance(time.Minute)

	samChat := "a:personal-" + samID
	if code, _ := w.post(w.message(sam, "audit 30d")); code != http.StatusOK {
		t.Fatalf("audit: HTTP %d", code)
	}
	card := cardJSON(w.conn.Activities(samChat)[0].Card())
	for _, want := range []string{"Audit report", "median 4m, p90 4m (1 decided)", "Riley Responder", "Alex Approver"} {
		if !strings.Contains(card, want) {
			t.Errorf("report card lacks %q: %s", want, card)
		}
	}
	link := w.downloadURL(samChat)
	if !strings.HasPrefix(link, w.botCfg.PublicURL+bot.DownloadPath) {
		t.Fatalf("link %s is not under public_url", link)
	}

	if resp, err := http.Head(link); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("HEAD: %v %v, want 405 without using the link", resp, err)
	}
	code, body := get(t, link)
	if code != http.StatusOK {
		t.Fatalf("download: HTTP %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV: %v %q", err, rows)
	}
	if j := rows[1][6]; j != `'=HYPERLINK("http://x","y")` {
		t.Errorf("justification cell %q is not inert", j)
	}
	if got := w.events(access.ActionDownloaded); len(got) != 1 || got[0].Actor.ObjectID != samID {
		t.Errorf("download not audited: %+v", got)
	}
	if code, body := get(t, link); code != http.StatusGone || !strings.Contains(body, "used already") {
		t.Errorf("second use: HTTP %d %s", code, body)
	}

	// Another person: the link altered to name alex (who is no reader
	// either) no longer verifies.
	w.post(w.message(sam, "audit"))
	fresh := w.downloadURL(samChat)
	base, token, _ := strings.Cut(fresh, bot.DownloadPath)
	payload, sig, _ := strings.Cut(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	altered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), samID, alexID, 1)))
	if code, _ := get(t, base+bot.DownloadPath+altered+"."+sig); code != http.StatusNotFound {
		t.Errorf("link altered to name another person: HTTP %d, want 404", code)
	}
	other, _ := audit.NewRandomLinkSigner()
	var l access.DownloadLink
	l.ID, l.UserID, l.ExpiresAt = "forged", samID, w.clock.Now().Add(time.Minute)
	forged, _ := other.Sign(l)
	if code, _ := get(t, base+bot.DownloadPath+forged); code != http.StatusNotFound {
		t.Errorf("link signed with another key: HTTP %d, want 404", code)
	}

	// Expired: ten minutes later the fresh link is refused, unused.
	w.clock.Advance(access.DownloadLinkTTL)
	if code, body := get(t, fresh); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Errorf("after ten minutes: HTTP %d %s", code, body)
	}

	// A reader who left the group cannot use a link made for them.
	w.post(w.message(sam, "audit 7d"))
	last := w.downloadURL(samChat)
	w.graph.RemoveMember("aaaaaaaa-0000-4000-8000-0000000000a1", samID)
	if code, _ := get(t, last); code != http.StatusForbidden {
		t.Errorf("reader removed from the group: HTTP %d, want 403", code)
	}
	if got := w.events(access.ActionDownloaded); len(got) != 1 {
		t.Errorf("%d downloads audited, want 1", len(got))
	}
	// The refusal spent the link: replays are refused without a directory
	// question or an audit event.
	w.graph.ResetCalls()
	for i := 0; i < 3; i++ {
		if code, _ := get(t, last); code != http.StatusGone {
			t.Errorf("replay of the refused link: HTTP %d, want 410", code)
		}
	}
	if n := len(w.graph.Calls()); n != 0 {
		t.Errorf("replays of a spent link made %d Graph calls, want none", n)
	}
	if got := w.events(access.ActionDownloadRefused); len(got) != 1 {
		t.Errorf("%d refused downloads audited, want 1 (the reader who left)", len(got))
	}
}

// TestAuditReportRefusedOverHTTP: someone outside the reader groups who
// sends `audit` gets a polite refusal, no card and no link, and the
// refusal is audited; in a channel even a reader is sent to the personal
// chat, so no link is posted where others see it.
func TestAuditReportRefusedOverHTTP(t *testing.T) {
	w, _ := auditWorld(t)
	if code, _ := w.post(w.message(eve, "audit 30d prod-db")); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	acts := w.conn.Activities("a:personal-" + eveID)
	if len(acts) != 1 || acts[0].Card() != nil || !strings.Contains(acts[0].Text(), "not in an audit reader group") {
		t.Fatalf("non-reader's answer: %s", w.texts("a:personal-"+eveID))
	}
	refused := w.events(access.ActionReportRefused)
	if len(refused) != 1 || refused[0].Actor.ObjectID != eveID || refused[0].Profile != "prod-db" {
		t.Errorf("refusal audit: %+v", refused)
	}
	if len(w.events(access.ActionReportViewed)) != 0 {
		t.Error("a refused report was recorded as viewed")
	}

	msg := w.message(sam, "audit")
	msg["conversation"] = map[string]any{"id": channelID + ";messageid=9", "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	if code, _ := w.post(msg); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	if got := w.texts(channelID + ";messageid=9"); !strings.Contains(got, "personal chat") || strings.Contains(got, bot.DownloadPath) {
		t.Errorf("audit in a channel: %s", got)
	}
	if len(w.events(access.ActionReportViewed)) != 0 {
		t.Error("a report was made for a channel")
	}

	// A non-reader's `audit` in a channel is refused as a non-reader's,
	// and audited like one.
	msg = w.message(eve, "audit")
	msg["conversation"] = map[string]any{"id": channelID + ";messageid=10", "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	w.post(msg)
	if got := w.texts(channelID + ";messageid=10"); !strings.Contains(got, "not in an audit reader group") {
		t.Errorf("non-reader's audit in a channel: %s", got)
	}
	if refused := w.events(access.ActionReportRefused); len(refused) != 2 {
		t.Errorf("%d refusals audited, want 2 (the personal chat's and the channel's)", len(refused))
	}
}
