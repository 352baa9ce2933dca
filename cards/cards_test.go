package cards

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixed domain values. The request time is given in a non-UTC zone with a
// fraction of a second on purpose: cards must show it as whole-second UTC.
var (
	requestedAt = time.Date(2026, 11, 23, 15, 5, 0, 250_000_000, time.FixedZone("CET", 3600)) // 14:05:00Z
	decidedAt   = requestedAt.Add(3*time.Minute + 100*time.Millisecond)                       // 14:08:00Z
	grantedAt   = decidedAt.Add(4 * time.Second)                                              // 14:08:04Z
	expiresAt   = decidedAt.Add(2 * time.Hour)                                                // 16:08:00Z
	revokedAt   = expiresAt.Add(20 * time.Second)                                             // 16:08:20Z
)

// fixtureStamps holds every instant the fixtures use, as cards must write them.
var fixtureStamps = map[string]bool{
	"2026-11-23T14:05:00Z": true,
	"2026-11-23T14:08:00Z": true,
	"2026-11-23T16:08:00Z": true,
	"2026-11-23T16:08:20Z": true,
	"2026-11-23T15:08:00Z": true, // reviewBy, a break-glass grant's review deadline
	"2026-11-23T14:38:00Z": true, // reviewedAt
	"2026-11-23T22:08:00Z": true, // the staging grant of the status card
	"2026-11-23T19:08:00Z": true, // alertAt
	"2026-11-23T20:08:00Z": true, // resolvedAt
	"2026-11-16T14:05:00Z": true, // reportSince
	"2026-11-23T14:15:00Z": true, // the report's link expiry
	"2026-11-23T16:31:00Z": true, // feedbackAt
	"2026-11-23T15:05:00Z": true, // deadlineAt
}

func profileProdDB() access.Profile {
	return access.Profile{
		Name:              "prod-db",
		Description:       "Read-write access to the production orders database",
		GroupID:           "6f1d2c3b-8a4e-4c1f-9b7d-2e5a0c9d1f11",
		MinDuration:       30 * time.Minute,
		MaxDuration:       4 * time.Hour,
		RequireTicket:     true,
		TicketPattern:     regexp.MustCompile(`^INC-[0-9]+$`),
		ApproverGroups:    []string{"0c2f6a1e-5b3d-4e8f-a1c2-7d9e3b4f5a66"},
		ApproverChannelID: "19:approvers@thread.tacv2",
	}
}

func profileStaging() access.Profile {
	return access.Profile{
		Name:              "staging-admin",
		Description:       "Owner of the staging subscription",
		GroupID:           "2b7e1c9d-3f4a-4d5e-8c6b-1a2f3e4d5c77",
		MaxDuration:       8 * time.Hour,
		ApproverGroups:    []string{"0c2f6a1e-5b3d-4e8f-a1c2-7d9e3b4f5a66"},
		ApproverChannelID: "19:approvers@thread.tacv2",
	}
}

func profileDemo() access.Profile {
	return access.Profile{
		Name:              "demo",
		Description:       "Demo group to try jitbot with",
		GroupID:           "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c88",
		MaxDuration:       time.Hour,
		ApproverChannelID: "19:demo@thread.tacv2",
		AllowSelfApproval: true,
	}
}

func pendingRequest() *access.Request {
	return &access.Request{
		ID:            "req-0001",
		Profile:       "prod-db",
		GroupID:       "6f1d2c3b-8a4e-4c1f-9b7d-2e5a0c9d1f11",
		Requester:     access.Person{ObjectID: "a1b2c3d4-0000-4000-8000-000000000001", Name: "Jane Doe"},
		Duration:      2 * time.Hour,
		Ticket:        "INC-4711",
		Justification: "Investigate the failed migration of the orders table.\nI need to look at the locks it left behind.",
		State:         access.RequestPending,
		CreatedAt:     requestedAt,
		UpdatedAt:     requestedAt,
	}
}

var approver = access.Person{ObjectID: "a1b2c3d4-0000-4000-8000-000000000002", Name: "Alex Approver"}

func decided(state access.RequestState, v access.Verdict, reason string) *access.Request {
	r := pendingRequest()
	r.State = state
	r.Decisions = []access.Decision{{Approver: approver, Verdict: v, Reason: reason, DecidedAt: decidedAt}}
	return r
}

func withGrant(r *access.Request, state access.GrantState) *access.Request {
	r.Grant = &access.Grant{
		ID: "grant-0001", RequestID: r.ID, Profile: r.Profile, GroupID: r.GroupID, User: r.Requester,
		State: state, ApprovedAt: decidedAt, ExpiresAt: expiresAt, DueAt: expiresAt,
	}
	return r
}

func approvedRequest() *access.Request {
	return withGrant(decided(access.RequestApproved, access.Approve, ""), access.GrantGranting)
}

func activeRequest() *access.Request {
	r := withGrant(decided(access.RequestActive, access.Approve, ""), access.GrantActive)
	r.Grant.GrantedAt = grantedAt
	return r
}

func deniedRequest() *access.Request {
	return decided(access.RequestDenied, access.Deny, "Use the read replica instead.")
}

func failedRequest() *access.Request {
	r := withGrant(decided(access.RequestFailed, access.Approve, ""), access.GrantFailed)
	r.Grant.LastError = "Graph 403 Authorization_RequestDenied: insufficient privileges"
	return r
}

func expiredRequest() *access.Request {
	r := withGrant(decided(access.RequestExpired, access.Approve, ""), access.GrantRevoked)
	r.Grant.GrantedAt = grantedAt
	r.Grant.RevokedAt = revokedAt
	return r
}

func selfApprovalRequest() *access.Request {
	r := pendingRequest()
	r.ID = "req-0003"
	r.Profile = "demo"
	r.GroupID = profileDemo().GroupID
	r.Duration = 45 * time.Minute
	r.Ticket = ""
	r.Justification = "Trying the approval flow."
	r.SelfApproval = true
	return r
}

// The hostile text: a disguised link, a DATE function that would show a
// made-up time, a mention, a template expression and a bidirectional
// override.
const (
	hostileJustification = "Routine check. [click](https://evil.example/approve) {{DATE(2030-01-01T00:00:00Z, SHORT)}} <at>Security Team</at> ${secret}"
	hostileName          = "Mallory [IT Support](https://evil.example) \u202egnp.exe"
	hostileTicket        = "INC-1{{TIME(2030-01-01T00:00:00Z)}}"
	hostileReason        = "See [the policy](https://evil.example/policy) {{DATE(2030-01-01T00:00:00Z)}}"
)

func hostileRequest() *access.Request {
	r := pendingRequest()
	r.ID = "req-0666"
	r.Requester.Name = hostileName
	r.Ticket = hostileTicket
	r.Justification = hostileJustification
	return r
}

func hostileDenied() *access.Request {
	r := hostileRequest()
	r.State = access.RequestDenied
	r.Decisions = []access.Decision{{Approver: access.Person{Name: hostileName}, Verdict: access.Deny, Reason: hostileReason, DecidedAt: decidedAt}}
	return r
}

var refreshUsers = ApprovalOptions{RefreshUserIDs: []string{"29:1approver-alex", "29:1requester-jane"}}

func goldenCards() map[string]Card {
	prod := profileProdDB()
	stepUp := profileProdDB()
	stepUp.StepUp = access.StepUp{AuthContext: "c1", Within: 10 * time.Minute}
	sessionStatus := []access.Request{*activeRequest(), *approvedRequest(), *pendingRequest()}
	sessionStatus[1].ID, sessionStatus[1].Profile, sessionStatus[1].Ticket = "req-0002", "staging-admin", ""
	sessionStatus[1].Grant.ExpiresAt = expiresAt.Add(6 * time.Hour)
	sessionStatus[2].ID, sessionStatus[2].Duration = "req-0004", 90*time.Minute
	all := map[string]Card{
		"approval_pending":        Approval(pendingRequest(), prod, refreshUsers),
		"approval_pending_all":    Approval(pendingRequest(), prod, ApprovalOptions{}),
		"approval_step_up":        Approval(pendingRequest(), stepUp, refreshUsers),
		"approval_self_approval":  Approval(selfApprovalRequest(), profileDemo(), ApprovalOptions{}),
		"approval_approved":       Approval(approvedRequest(), prod, refreshUsers),
		"approval_active":         Approval(activeRequest(), prod, refreshUsers),
		"approval_denied":         Approval(deniedRequest(), prod, refreshUsers),
		"approval_failed":         Approval(failedRequest(), prod, refreshUsers),
		"approval_expired":        Approval(expiredRequest(), prod, refreshUsers),
		"approval_hostile":        Approval(hostileRequest(), prod, refreshUsers),
		"approval_hostile_denied": Approval(hostileDenied(), prod, refreshUsers),
		"form":                    RequestForm([]access.Profile{prod, profileStaging(), profileDemo()}, FormOptions{}),
		"form_refused": RequestForm([]access.Profile{prod, profileStaging()}, FormOptions{
			Profile: "prod-db", Duration: "6h", Ticket: "INC-4711", Justification: "Fix the orders migration. [x](https://evil.example)",
			Error: "prod-db allows at most 4h. Choose a shorter duration.",
		}),
		"form_single":    RequestForm([]access.Profile{profileStaging()}, FormOptions{}),
		"form_none":      RequestForm(nil, FormOptions{}),
		"submitted":      Submitted(pendingRequest(), nil),
		"status":         Status(sessionStatus, nil, StatusOptions{Extendable: map[string]bool{"req-0001": true}}),
		"status_empty":   Status(nil, nil, StatusOptions{}),
		"profiles":       Profiles([]access.Profile{prod, profileStaging(), profileDemo()}),
		"profiles_empty": Profiles(nil),
		"notice": Notice("Your access to prod-db was approved by Alex Approver.\nIt ends automatically.",
			TextFact("Profile", "prod-db"), TextFact("Duration", "2h"), TimeFact("Until", expiresAt)),
	}
	for name, card := range endingGoldens() {
		all[name] = card
	}
	for name, card := range alertGoldens() {
		all[name] = card
	}
	for name, card := range statusGoldens() {
		all[name] = card
	}
	for name, card := range feedbackGoldens() {
		all[name] = card
	}
	for name, card := range reportGoldens() {
		all[name] = card
	}
	for name, card := range lifecycleGoldens() {
		all[name] = card
	}
	for name, card := range pendingGoldens() {
		all[name] = card
	}
	for name, card := range viewerGoldens() {
		all[name] = card
	}
	for name, card := range apiGoldens() {
		all[name] = card
	}
	for name, card := range noticeGoldens() {
		all[name] = card
	}
	for name, card := range policyGoldens() {
		all[name] = card
	}
	for name, card := range extendGoldens() {
		all[name] = card
	}
	for name, card := range breakGlassGoldens() {
		all[name] = card
	}
	for name, card := range escalationGoldens() {
		all[name] = card
	}
	for name, card := range forceGoldens() {
		all[name] = card
	}
	for name, card := range scheduleGoldens() {
		all[name] = card
	}
	return all
}

// render is a card's JSON as stored in testdata: indented, with < > & as
// they are, and the invisible word joiner written as \u2060 so a reader sees
// where it is (the same JSON value).
func render(t *testing.T, card Card) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(card); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return bytes.ReplaceAll(buf.Bytes(), []byte(wordJoiner), []byte(`\u2060`))
}

func TestGolden(t *testing.T) {
	cards := goldenCards()
	for name, card := range cards {
		t.Run(name, func(t *testing.T) {
			got := render(t, card)
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./cards -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; if the change is intended, run go test ./cards -update\n--- got\n%s", path, got)
			}
		})
	}
	// No stale golden files: cardcheck validates every file in testdata.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, f := range files {
		if _, ok := cards[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok {
			t.Errorf("%s has no card in goldenCards: delete it", f)
		}
	}
}

// decode turns a card into its generic JSON value.
func decode(t *testing.T, card Card) map[string]any {
	t.Helper()
	b, err := json.Marshal(card)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// walk calls fn for every JSON object in v with its path; it does not enter
// the key skip.
func walk(v any, path string, skip string, fn func(path string, obj map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(path, x)
		for k, c := range x {
			if k != skip {
				walk(c, path+"."+k, skip, fn)
			}
		}
	case []any:
		for i, c := range x {
			walk(c, path+"["+strconv.Itoa(i)+"]", skip, fn)
		}
	}
}

// strs returns every string value in v (object values and array items)
// that a viewer can be shown: not an action's data, which the bot reads
// back and which carries ids exactly as they are.
func strs(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case map[string]any:
		for k, c := range x {
			if k == "data" {
				continue
			}
			out = append(out, strs(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, strs(c)...)
		}
	}
	return out
}

// buttons returns every action object in the card outside its refresh block.
func buttons(m map[string]any) []map[string]any {
	var out []map[string]any
	walk(m, "$", "refresh", func(_ string, obj map[string]any) {
		if ty, _ := obj["type"].(string); strings.HasPrefix(ty, "Action.") {
			out = append(out, obj)
		}
	})
	return out
}

var (
	dateTimeCall = regexp.MustCompile(`\{\{(DATE|TIME)\(([^(){}]*)\)\}\}`)
	rfc3339Z     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
)

// checkCommon asserts what holds for every card: the header, inputs with
// unique ids, and DATE/TIME functions only with RFC 3339 UTC timestamps of
// whole seconds that the fixtures contain (so none came from typed text).
func checkCommon(t *testing.T, name string, m map[string]any) {
	t.Helper()
	if m["$schema"] != SchemaURL || m["type"] != "AdaptiveCard" || m["version"] != "1.5" {
		t.Errorf("%s: header = %v %v %v", name, m["$schema"], m["type"], m["version"])
	}
	if ms, _ := m["msteams"].(map[string]any); ms == nil || ms["width"] != "Full" {
		t.Errorf("%s: msteams = %v, want width Full", name, m["msteams"])
	}
	ids := map[string]string{}
	walk(m, "$", "", func(path string, obj map[string]any) {
		ty, _ := obj["type"].(string)
		id, hasID := obj["id"].(string)
		if strings.HasPrefix(ty, "Input.") && (!hasID || id == "") {
			t.Errorf("%s: %s at %s has no id", name, ty, path)
		}
		if hasID {
			if prev, dup := ids[id]; dup {
				t.Errorf("%s: id %q at %s and %s", name, id, prev, path)
			}
			ids[id] = path
		}
	})
	for _, s := range strs(m) {
		calls := dateTimeCall.FindAllStringSubmatch(s, -1)
		if n := strings.Count(s, "{{"); n != len(calls) {
			t.Errorf("%s: %q has %d '{{' but %d well-formed DATE/TIME calls", name, s, n, len(calls))
		}
		for _, c := range calls {
			arg := c[2]
			if c[1] == "DATE" {
				var ok bool
				arg, ok = strings.CutSuffix(arg, ", SHORT")
				if !ok {
					t.Errorf("%s: %q: DATE without SHORT", name, c[0])
				}
			}
			if !rfc3339Z.MatchString(arg) {
				t.Errorf("%s: %q: timestamp %q is not RFC 3339 UTC with Z and whole seconds", name, c[0], arg)
			} else if _, err := time.Parse(time.RFC3339, arg); err != nil {
				t.Errorf("%s: %q: %v", name, c[0], err)
			}
			if !fixtureStamps[arg] {
				t.Errorf("%s: %q shows a time the domain values do not hold", name, c[0])
			}
		}
	}
}

func TestEveryCard(t *testing.T) {
	for name, card := range goldenCards() {
		checkCommon(t, name, decode(t, card))
	}
}

func TestApprovalPendingHasApproveAndDeny(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *access.Request
		prof access.Profile
	}{
		{"prod-db", pendingRequest(), profileProdDB()},
		{"self-approval", selfApprovalRequest(), profileDemo()},
		{"reason required", pendingRequest(), reasonRequired(profileProdDB())},
	} {
		m := decode(t, Approval(tc.req, tc.prof, refreshUsers))
		bs := buttons(m)
		if len(bs) != 2 {
			t.Fatalf("%s: %d actions, want exactly Approve and Deny: %v", tc.name, len(bs), bs)
		}
		for i, want := range []struct{ title, verb string }{{"Approve", "approve"}, {"Deny", "deny"}} {
			b := bs[i]
			if b["type"] != "Action.Execute" || b["title"] != want.title || b["verb"] != want.verb {
				t.Errorf("%s: action %d = %v, want Action.Execute %q verb %q", tc.name, i, b, want.title, want.verb)
			}
			if !reflect.DeepEqual(b["data"], map[string]any{"requestId": tc.req.ID}) {
				t.Errorf("%s: %s data = %v", tc.name, want.title, b["data"])
			}
		}
		// Deny carries the reason, which it requires; Approve sends no
		// input unless the profile requires a reason.
		approveInputs := "none"
		if tc.prof.RequireReason {
			approveInputs = "auto"
		}
		if bs[0]["associatedInputs"] != approveInputs || bs[1]["associatedInputs"] != "auto" {
			t.Errorf("%s: associatedInputs = %v / %v", tc.name, bs[0]["associatedInputs"], bs[1]["associatedInputs"])
		}
		var inputs []string
		walk(m, "$", "", func(_ string, obj map[string]any) {
			if ty, _ := obj["type"].(string); strings.HasPrefix(ty, "Input.") {
				inputs = append(inputs, ty+"#"+obj["id"].(string))
				label, _ := obj["label"].(string)
				if obj["isRequired"] != true || obj["errorMessage"] == nil || !strings.Contains(label, "required") {
					t.Errorf("%s: the reason must be required, with a label and an error message saying so: %v", tc.name, obj)
				}
			}
		})
		if !reflect.DeepEqual(inputs, []string{"Input.Text#reason"}) {
			t.Errorf("%s: inputs = %v, want the reason only", tc.name, inputs)
		}
	}
}

func TestApprovalDecidedHasNoButtons(t *testing.T) {
	for name, req := range map[string]*access.Request{
		"approved": approvedRequest(), "denied": deniedRequest(),
		"failed": failedRequest(), "expired": expiredRequest(),
	} {
		m := decode(t, Approval(req, profileProdDB(), refreshUsers))
		if bs := buttons(m); len(bs) != 0 {
			t.Errorf("%s: %d actions, want none: %v", name, len(bs), bs)
		}
		walk(m, "$", "", func(path string, obj map[string]any) {
			if ty, _ := obj["type"].(string); strings.HasPrefix(ty, "Input.") {
				t.Errorf("%s: input %v at %s", name, obj["id"], path)
			}
		})
	}
}

func TestApprovalRefresh(t *testing.T) {
	for _, req := range []*access.Request{pendingRequest(), approvedRequest(), activeRequest(), deniedRequest(), failedRequest(), expiredRequest()} {
		for _, opts := range []ApprovalOptions{refreshUsers, {}} {
			m := decode(t, Approval(req, profileProdDB(), opts))
			r, _ := m["refresh"].(map[string]any)
			want := map[string]any{
				"action": map[string]any{"type": "Action.Execute", "verb": "refresh", "data": map[string]any{"requestId": req.ID}},
			}
			if len(opts.RefreshUserIDs) > 0 {
				want["userIds"] = []any{"29:1approver-alex", "29:1requester-jane"}
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("%s, %d users: refresh = %v, want %v", req.State, len(opts.RefreshUserIDs), r, want)
			}
		}
	}
}

// visible is what a viewer reads: the text without the invisible word joiners.
func visible(s string) string { return strings.ReplaceAll(s, wordJoiner, "") }

func TestTypedTextIsInert(t *testing.T) {
	for name, card := range map[string]Card{
		"pending": Approval(hostileRequest(), profileProdDB(), refreshUsers),
		"denied":  Approval(hostileDenied(), profileProdDB(), refreshUsers),
		"submit":  Submitted(hostileRequest(), nil),
		"status":  Status([]access.Request{*hostileRequest()}, nil, StatusOptions{}),
		"notice":  Notice(hostileJustification, TextFact("Ticket", hostileTicket)),
	} {
		m := decode(t, card)
		checkCommon(t, name, m) // no DATE/TIME call with the injected 2030 time
		// Any "{{" that is not one of our own DATE/TIME calls failed checkCommon.
		for _, s := range strs(m) {
			for _, bad := range []string{"](", "<at", "${", "\u202e"} {
				if strings.Contains(s, bad) {
					t.Errorf("%s: %q contains %q", name, s, bad)
				}
			}
		}
		// The justification is shown whole, in a text run (never markdown).
		if name == "pending" || name == "submit" || name == "denied" || name == "notice" {
			found := false
			walk(m, "$", "", func(_ string, obj map[string]any) {
				if obj["type"] == "TextRun" && visible(obj["text"].(string)) == hostileJustification {
					found = true
				}
			})
			if !found {
				t.Errorf("%s: the justification is not shown as written in a TextRun", name)
			}
		}
	}
	// The denial reason, likewise.
	m := decode(t, Approval(hostileDenied(), profileProdDB(), refreshUsers))
	found := false
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if obj["type"] == "TextRun" && visible(obj["text"].(string)) == hostileReason {
			found = true
		}
	})
	if !found {
		t.Error("the denial reason is not shown as written in a TextRun")
	}
}

func TestInert(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":                     "plain text",
		"[click](https://evil)":          "[click]" + wordJoiner + "(https://evil)",
		"![img](x)":                      "![img]" + wordJoiner + "(x)",
		"{{DATE(2030-01-01T00:00:00Z)}}": "{" + wordJoiner + "{DATE(2030-01-01T00:00:00Z)}}",
		"{{{":                            "{" + wordJoiner + "{" + wordJoiner + "{",
		"<at>Boss</at>":                  "<" + wordJoiner + "at>Boss<" + wordJoiner + "/at>",
		"${x}":                           "$" + wordJoiner + "{x}",
		"a\u202eb\x00c\td":               "abc\td",
		"ends with <":                    "ends with <",
	} {
		if got := inert(in); got != want {
			t.Errorf("inert(%q) = %q, want %q", in, got, want)
		}
	}
	if got := oneLine("  two\n\nlines  ", 100); got != "two lines" {
		t.Errorf("oneLine = %q", got)
	}
	if got := block("a\r\nb\n\n", 100); got != "a\nb" {
		t.Errorf("block = %q", got)
	}
	if got := oneLine(strings.Repeat("x", 300), 10); got != "xxxxxxxxx…" {
		t.Errorf("oneLine truncated = %q", got)
	}
}

func TestWhen(t *testing.T) {
	got := when(requestedAt)
	want := "{{DATE(2026-11-23T14:05:00Z, SHORT)}} {{TIME(2026-11-23T14:05:00Z)}}"
	if got != want {
		t.Errorf("when = %q, want %q", got, want)
	}
	if when(time.Time{}) != "" {
		t.Error("when(zero) is not empty")
	}
	if v := TimeFact("Until", time.Time{}).value; v != "—" {
		t.Errorf("TimeFact(zero) = %q", v)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Hour:    "2h",
		90 * time.Minute: "1h30m",
		45 * time.Minute: "45m",
		0:                "0m",
		-time.Minute:     "0m",
		30 * time.Second: "30s",
		168 * time.Hour:  "168h",
		time.Hour + time.Minute + 1500*time.Millisecond: "1h1m2s",
	} {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if d > 0 {
			if back, err := time.ParseDuration(got); err != nil || back != d.Round(time.Second) {
				t.Errorf("FormatDuration(%v) = %q does not parse back: %v %v", d, got, back, err)
			}
		}
	}
}

func TestRequestForm(t *testing.T) {
	m := decode(t, RequestForm([]access.Profile{profileProdDB(), profileStaging()}, FormOptions{
		Profile: "prod-db", Duration: "6h", Ticket: "INC-1", Justification: "fix [x](y) {{z}}", Error: "too long",
	}))
	inputs := map[string]map[string]any{}
	var order []string
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if ty, _ := obj["type"].(string); strings.HasPrefix(ty, "Input.") {
			inputs[obj["id"].(string)] = obj
			order = append(order, obj["id"].(string))
		}
	})
	if !reflect.DeepEqual(order, []string{"profile", "duration", "start", "ticket", "justification"}) {
		t.Fatalf("inputs = %v", order)
	}
	p := inputs["profile"]
	if p["type"] != "Input.ChoiceSet" || p["value"] != "prod-db" {
		t.Errorf("profile input = %v", p)
	}
	wantChoices := []any{
		map[string]any{"title": "prod-db — Read-write access to the production orders database", "value": "prod-db"},
		map[string]any{"title": "staging-admin — Owner of the staging subscription", "value": "staging-admin"},
	}
	if !reflect.DeepEqual(p["choices"], wantChoices) {
		t.Errorf("choices = %v", p["choices"])
	}
	if d := inputs["duration"]; d["placeholder"] != "2h" || d["value"] != "6h" {
		t.Errorf("duration input = %v", d)
	}
	j := inputs["justification"]
	if j["isMultiline"] != true || j["isRequired"] != true || j["errorMessage"] == nil {
		t.Errorf("justification input = %v", j)
	}
	// A prefilled value goes back exactly as typed: it is an input's value,
	// not displayed text.
	if j["value"] != "fix [x](y) {{z}}" {
		t.Errorf("justification value = %q", j["value"])
	}
	bs := buttons(m)
	if len(bs) != 1 || bs[0]["type"] != "Action.Execute" || bs[0]["title"] != "Submit" || bs[0]["verb"] != "submitRequest" {
		t.Errorf("actions = %v", bs)
	}
	all := strings.Join(strs(m), "\n")
	for _, want := range []string{"too long", "prod-db 30m to 4h", "staging-admin up to 8h", "^INC-[0-9]+$"} {
		if !strings.Contains(all, want) {
			t.Errorf("form does not show %q", want)
		}
	}
}

func TestEnvelopes(t *testing.T) {
	card := Notice("hello")
	for name, tc := range map[string]struct {
		v    any
		want string
	}{
		"attachment": {Attachment(card), `{"contentType":"application/vnd.microsoft.card.adaptive","content":CARD}`},
		"invoke":     {InvokeResponse(card), `{"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":CARD}`},
		"message":    {MessageResponse("Already decided."), `{"statusCode":200,"type":"application/vnd.microsoft.activity.message","value":"Already decided."}`},
	} {
		cb, _ := json.Marshal(card)
		want := strings.Replace(tc.want, "CARD", string(cb), 1)
		got, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %s\nwant %s", name, got, want)
		}
	}
}

func TestStatusSections(t *testing.T) {
	reqs := []access.Request{*pendingRequest(), *activeRequest()}
	m := decode(t, Status(reqs, nil, StatusOptions{}))
	var headings []string
	for _, e := range m["body"].([]any) {
		if o := e.(map[string]any); o["type"] == "TextBlock" && o["weight"] == "Bolder" {
			headings = append(headings, o["text"].(string))
		}
	}
	if want := []string{"Your access", "Active access", "Waiting for approval"}; !reflect.DeepEqual(headings, want) {
		t.Errorf("headings = %v, want %v", headings, want)
	}
	all := strings.Join(strs(m), "\n")
	if !strings.Contains(all, "Active until "+when(expiresAt)) {
		t.Errorf("status does not show the expiry")
	}
	empty := strings.Join(strs(decode(t, Status(nil, nil, StatusOptions{}))), "\n")
	if !strings.Contains(empty, StatusEmpty) {
		t.Errorf("empty status = %s", empty)
	}
}
