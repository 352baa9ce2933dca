package cards

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
)

func reasonRequired(p access.Profile) access.Profile {
	p.RequireReason = true
	return p
}

var (
	requesterPending = access.Viewer{Requester: true, May: access.CanCancel}
	requesterActive  = access.Viewer{Requester: true, May: access.CanRelease | access.CanExtend}
	readOnly         = access.Viewer{}
)

func viewed(v access.Viewer, note string) ApprovalOptions {
	return ApprovalOptions{RefreshUserIDs: refreshUsers.RefreshUserIDs, View: &v, Note: note}
}

func approvedWithReason() *access.Request {
	r := activeRequest()
	r.Decisions[0].Reason = "Ticket INC-4711 checks out. [x](https://evil.example)"
	return r
}

func viewerGoldens() map[string]Card {
	prod := profileProdDB()
	return map[string]Card{
		"approval_requester_pending": Approval(pendingRequest(), prod, viewed(requesterPending, "")),
		"approval_requester_active":  Approval(activeRequest(), prod, viewed(requesterActive, "")),
		"approval_readonly_pending": Approval(pendingRequest(), prod, viewed(readOnly,
			"You are not an approver for prod-db; only members of its approver groups can decide.")),
		"approval_readonly_active":        Approval(activeRequest(), prod, viewed(readOnly, "")),
		"approval_pending_reason_needed":  Approval(pendingRequest(), reasonRequired(prod), refreshUsers),
		"approval_active_approval_reason": Approval(approvedWithReason(), prod, refreshUsers),
		"approval_not_found":              NotFound("req-0404"),
		"approval_self_approval_requester": Approval(selfApprovalRequest(), profileDemo(), viewed(access.Viewer{
			Requester: true, Approver: true, May: access.CanCancel | access.CanApprove | access.CanDeny,
		}, "")),
	}
}

// bodyOf is a card's body without the viewer's note and inputs: what every
// viewer reads.
func bodyOf(t *testing.T, c Card, note string) string {
	t.Helper()
	var out []string
	for _, e := range c.Body {
		if tb, ok := e.(textBlock); ok && note != "" && tb.Text == note {
			continue
		}
		if _, ok := e.(inputText); ok {
			continue
		}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(raw))
	}
	return strings.Join(out, "\n")
}

func verbs(t *testing.T, c Card) []string {
	t.Helper()
	var out []string
	for _, b := range buttons(decode(t, c)) {
		out = append(out, fmt.Sprint(b["verb"]))
	}
	return out
}

func inputIDs(t *testing.T, c Card) []string {
	t.Helper()
	var out []string
	walk(decode(t, c), "$", "", func(_ string, obj map[string]any) {
		if ty, _ := obj["type"].(string); strings.HasPrefix(ty, "Input.") {
			out = append(out, obj["id"].(string))
		}
	})
	return out
}

func TestEachViewerHasTheirOwnButtonsOnTheSameBody(t *testing.T) {
	prod := profileProdDB()
	const note = "Only approvers of prod-db can decide."
	for _, tc := range []struct {
		name   string
		req    *access.Request
		view   *access.Viewer
		verbs  []string
		inputs []string
	}{
		{"channel, pending", pendingRequest(), nil, []string{VerbApprove, VerbDeny}, []string{InputReason}},
		{"approver, pending", pendingRequest(), &access.Viewer{Approver: true, May: access.CanApprove | access.CanDeny}, []string{VerbApprove, VerbDeny}, []string{InputReason}},
		{"requester, pending", pendingRequest(), &requesterPending, []string{VerbCancel}, nil},
		{"bystander, pending", pendingRequest(), &readOnly, nil, nil},
		{"channel, active", activeRequest(), nil, []string{VerbRevokeNow}, []string{InputRevokeReason}},
		{"security, active", activeRequest(), &access.Viewer{Security: true, May: access.CanRevoke}, []string{VerbRevokeNow}, []string{InputRevokeReason}},
		{"requester, active", activeRequest(), &requesterActive, []string{VerbRelease, VerbExtend}, nil},
		{"self-approving requester, pending", pendingRequest(), &access.Viewer{Requester: true, Approver: true, May: access.CanCancel | access.CanApprove | access.CanDeny}, []string{VerbApprove, VerbDeny, VerbCancel}, []string{InputReason}},
		{"bystander, active", activeRequest(), &readOnly, nil, nil},
		{"bystander, denied", deniedRequest(), &readOnly, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Approval(tc.req, prod, ApprovalOptions{RefreshUserIDs: refreshUsers.RefreshUserIDs, View: tc.view, Note: note})
			if got := verbs(t, c); !reflect.DeepEqual(got, tc.verbs) {
				t.Errorf("buttons %v, want %v", got, tc.verbs)
			}
			if got := inputIDs(t, c); !reflect.DeepEqual(got, tc.inputs) {
				t.Errorf("inputs %v, want %v", got, tc.inputs)
			}
			base := Approval(tc.req, prod, refreshUsers)
			if bodyOf(t, c, note) != bodyOf(t, base, "") {
				t.Errorf("the body differs from the channel's card:\n%s\n---\n%s", bodyOf(t, c, note), bodyOf(t, base, ""))
			}
			if raw := string(render(t, c)); !strings.Contains(raw, note) {
				t.Error("the note is not on the card")
			}
			// The refresh action is the same for every viewer.
			if !reflect.DeepEqual(c.Refresh, base.Refresh) {
				t.Errorf("refresh %v, want %v", c.Refresh, base.Refresh)
			}
		})
	}
}

func TestRequesterButtonsComeBackToTheApprovalCard(t *testing.T) {
	for _, tc := range []struct {
		req  *access.Request
		view access.Viewer
	}{{pendingRequest(), requesterPending}, {activeRequest(), requesterActive}} {
		bs := buttons(decode(t, Approval(tc.req, profileProdDB(), viewed(tc.view, ""))))
		if len(bs) == 0 {
			t.Errorf("%s: no buttons", tc.req.State)
		}
		for _, b := range bs {
			if !reflect.DeepEqual(b["data"], map[string]any{DataRequestID: tc.req.ID, DataCard: CardApproval}) {
				t.Errorf("%s: %v", tc.req.State, b)
			}
			// No input to wait for: a self-approving requester's card
			// has the approvers' required reasons too.
			if b["associatedInputs"] != "none" {
				t.Errorf("%s: associatedInputs %v", tc.req.State, b["associatedInputs"])
			}
		}
	}
	// The personal "request received" card's Cancel does not say so.
	bs := buttons(decode(t, Submitted(pendingRequest(), nil)))
	if len(bs) != 1 || bs[0]["data"].(map[string]any)[DataCard] != nil {
		t.Errorf("submitted: %v", bs)
	}
}

func TestRefreshUserIDsAtMost60(t *testing.T) {
	var ids []string
	for i := range 75 {
		ids = append(ids, fmt.Sprintf("29:user-%02d", i))
	}
	c := Approval(pendingRequest(), profileProdDB(), ApprovalOptions{RefreshUserIDs: ids})
	if len(c.Refresh.UserIDs) != MaxRefreshUsers || c.Refresh.UserIDs[0] != "29:user-00" || c.Refresh.UserIDs[59] != "29:user-59" {
		t.Fatalf("userIds %d: %v", len(c.Refresh.UserIDs), c.Refresh.UserIDs)
	}
	if len(ids) != 75 {
		t.Fatal("the caller's list was changed")
	}
}

func TestApprovalReasonIsShownInert(t *testing.T) {
	raw := visible(string(render(t, Approval(approvedWithReason(), profileProdDB(), refreshUsers))))
	if !strings.Contains(raw, `"Reason: "`) || !strings.Contains(raw, "Ticket INC-4711 checks out.") {
		t.Fatalf("the approval's reason is not on the card: %s", raw)
	}
	m := decode(t, Approval(approvedWithReason(), profileProdDB(), refreshUsers))
	walk(m, "$", "", func(path string, obj map[string]any) {
		if obj["type"] == "TextBlock" && strings.Contains(fmt.Sprint(obj["text"]), "evil.example") {
			t.Errorf("typed reason in a markdown TextBlock at %s", path)
		}
	})
	// Without a reason there is no reason line.
	if raw := string(render(t, Approval(activeRequest(), profileProdDB(), refreshUsers))); strings.Contains(raw, "Reason: ") {
		t.Fatalf("an approval without a reason shows one: %s", raw)
	}
}

func TestNotFoundIsReadOnly(t *testing.T) {
	c := NotFound("req-0404")
	if len(c.Actions) != 0 || c.Refresh != nil || len(inputIDs(t, c)) != 0 || !strings.Contains(string(render(t, c)), "Request not found") {
		t.Fatalf("not found card: %s", render(t, c))
	}
}

func TestNoteIsInert(t *testing.T) {
	note := "There is no request `[x](https://evil.example) {{DATE(2030-01-01T00:00:00Z)}} <at>all</at>`."
	m := decode(t, Approval(pendingRequest(), profileProdDB(), viewed(readOnly, note)))
	var got string
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if obj["type"] == "TextBlock" && obj["color"] == "Warning" && obj["spacing"] == "Small" {
			got = obj["text"].(string)
		}
	})
	if visible(got) != note || strings.Contains(got, "](") || strings.Contains(got, "{{") || strings.Contains(got, "<a") {
		t.Fatalf("note %q", got)
	}
}
