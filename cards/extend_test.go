package cards

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// extendedAt is when a fixture grant was extended; extendedEnd its new end.
var (
	extendedAt  = time.Date(2026, 11, 23, 15, 50, 0, 0, time.UTC)
	extendedEnd = expiresAt.Add(30 * time.Minute)
)

func init() {
	fixtureStamps[stamp(extendedAt)] = true
	fixtureStamps[stamp(extendedEnd)] = true
}

// extendedRequest is the active request's grant extended by 30m, by alex
// (approved) or by the requester herself.
func extendedRequest(self bool) *access.Request {
	r := activeRequest()
	by := alexPerson()
	if self {
		by = r.Requester
	}
	r.Grant.ExpiresAt, r.Grant.DueAt = extendedEnd, extendedEnd
	r.Grant.Extended = access.Extension{By: by, Added: 30 * time.Minute, Reason: "Migration still running. [x](https://evil.example)", At: extendedAt, Count: 1}
	return r
}

// extensionRequest is a pending extension of the active request by 30m.
func extensionRequest() *access.Request {
	orig := activeRequest()
	r := pendingRequest()
	r.ID, r.Duration = "req-0009", 30*time.Minute
	r.Justification = "Migration still running. {{DATE(2030-01-01T00:00:00Z)}}"
	r.ExtendsRequestID, r.ExtendsFrom = orig.ID, orig.Grant.ExpiresAt
	return r
}

func extendGoldens() map[string]Card {
	prod := profileProdDB()
	approved := extensionRequest()
	approved.State = access.RequestExtended
	approved.Decisions = []access.Decision{{Approver: alexPerson(), Verdict: access.Approve, DecidedAt: decidedAt}}
	denied := extensionRequest()
	denied.State = access.RequestDenied
	denied.Decisions = []access.Decision{{Approver: alexPerson(), Verdict: access.Deny, Reason: "Wrap up today.", DecidedAt: decidedAt}}
	return map[string]Card{
		"notice_extension_denied":     NoticeCard(denied, access.Notice{Kind: access.NoticeDenied}, nil),
		"expiry_reminder":             ExpiryReminder(activeRequest(), nil),
		"extend_form":                 ExtendForm(activeRequest(), nil),
		"extended":                    Extended(extendedRequest(false), nil),
		"extended_self":               Extended(extendedRequest(true), nil),
		"approval_extension_pending":  Approval(extensionRequest(), prod, refreshUsers),
		"approval_extension_approved": Approval(approved, prod, refreshUsers),
		"approval_active_extended":    Approval(extendedRequest(false), prod, refreshUsers),
	}
}

func TestExpiryReminderHasExtendAndImDone(t *testing.T) {
	req := activeRequest()
	m := decode(t, ExpiryReminder(req, nil))
	bs := buttons(m)
	if len(bs) != 2 || bs[0]["verb"] != VerbExtend || bs[0]["title"] != "Extend" || bs[1]["verb"] != VerbRelease || bs[1]["title"] != "I'm done" {
		t.Fatalf("buttons %v, want Extend and I'm done", bs)
	}
	if bs[1]["associatedInputs"] != "none" {
		t.Fatalf("I'm done sends the Extend inputs (%v): their being required would block it", bs[1]["associatedInputs"])
	}
	for _, b := range bs {
		if d, _ := b["data"].(map[string]any); d[DataRequestID] != req.ID {
			t.Fatalf("button data %v", b["data"])
		}
	}
	inputs := map[string]map[string]any{}
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if id, _ := obj["id"].(string); id != "" {
			inputs[id] = obj
		}
	})
	for id, max := range map[string]int{InputExtendDuration: access.MaxDurationText, InputExtendReason: access.MaxReason} {
		in := inputs[id]
		if in == nil || in["isRequired"] != true || in["maxLength"] != float64(max) {
			t.Errorf("input %s = %v, want required with maxLength %d", id, in, max)
		}
	}
	text := string(render(t, ExpiryReminder(req, nil)))
	if !strings.Contains(text, "Your access to prod-db ends at {{DATE("+stamp(expiresAt)+", SHORT)}} {{TIME("+stamp(expiresAt)+")}}") {
		t.Fatalf("reminder does not say when the access ends in the viewer's time:\n%s", text)
	}
	if got := ExpiryReminderSummary(req); !strings.Contains(got, "prod-db ends at "+stamp(expiresAt)) {
		t.Fatalf("summary %q", got)
	}
	// Once the grant is ending, the reminder has no buttons.
	if bs := buttons(decode(t, ExpiryReminder(endedEarly(access.EndReleased, false), nil))); len(bs) != 0 {
		t.Fatalf("reminder of an ending grant has buttons %v", bs)
	}
}

func TestExtensionApprovalCard(t *testing.T) {
	text := string(render(t, Approval(extensionRequest(), profileProdDB(), refreshUsers)))
	for _, want := range []string{`"Extension request"`, `"Extension of "`, `": +30m"`, "Extends request req-0001, which ends at {{DATE(" + stamp(expiresAt), `"verb": "approve"`, "Reason for the extension"} {
		if !strings.Contains(text, want) {
			t.Errorf("extension approval card lacks %s:\n%s", want, text)
		}
	}
	active := string(render(t, Approval(extendedRequest(false), profileProdDB(), refreshUsers)))
	for _, want := range []string{"Active until {{DATE(" + stamp(extendedEnd), `"Extended by "`, `"Alex Approver"`, `" (+30m)"`} {
		if !strings.Contains(active, want) {
			t.Errorf("extended grant's approval card lacks %s:\n%s", want, active)
		}
	}
	ext := string(render(t, Extended(extendedRequest(false), nil)))
	for _, want := range []string{"now ends at {{DATE(" + stamp(extendedEnd), `"Alex Approver"`, `" (+30m)"`, "Migration still running"} {
		if !strings.Contains(ext, want) {
			t.Errorf("extended card lacks %s:\n%s", want, ext)
		}
	}
}
