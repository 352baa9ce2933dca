package cards

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// Requests of the status card, by where their grant stands. The grant
// fixtures shared with the approval card live in alert_test.go.

// readdingRequest: an active request whose grant went back to granting (the
// membership it shared was removed, or a removal raced its addition).
func readdingRequest() *access.Request {
	r := activeRequest()
	r.Grant.State = access.GrantGranting
	return r
}

// closingRequest: the store read the request before its grant was closed,
// and the grant after.
func closingRequest() *access.Request {
	r := activeRequest()
	r.Grant.State = access.GrantRevoked
	r.Grant.RevokedAt = revokedAt
	return r
}

// failingRequest: the store read the request before its grant failed, and
// the grant after.
func failingRequest() *access.Request {
	r := approvedRequest()
	r.Grant.State = access.GrantFailed
	r.Grant.LastError = permanentError
	return r
}

// hostileStatus holds a request in every state the status card tells apart,
// each with a hostile profile name, ticket, id and directory error.
func hostileStatus() []access.Request {
	var out []access.Request
	for i, r := range []*access.Request{
		pendingRequest(), approvedRequest(), activeRequest(), preExistingActiveRequest(), sharedActiveRequest(),
		revokingRequest(), retryingRequest(), irrevocableRequest(), readdingRequest(), closingRequest(), failingRequest(),
	} {
		r.ID = "req-066" + string(rune('a'+i)) + " [x](https://evil.example) {{TIME(2030-01-01T00:00:00Z)}}"
		r.Profile = hostileName
		r.Ticket = hostileTicket
		if r.Grant != nil && r.Grant.LastError != "" {
			r.Grant.LastError = hostileError
		}
		out = append(out, *r)
	}
	return out
}

// withID sets a request's id, so that a golden file tells its items apart.
func withID(r *access.Request, id string) access.Request {
	r.ID = id
	return *r
}

func statusGoldens() map[string]Card {
	return map[string]Card{
		// Every state of an open request, in the order the store might
		// return them.
		"status_grants": Status([]access.Request{
			withID(irrevocableRequest(), "req-0011"),
			withID(pendingRequest(), "req-0010"),
			withID(revokingRequest(), "req-0009"),
			withID(sharedActiveRequest(), "req-0008"),
			withID(preExistingActiveRequest(), "req-0007"),
			withID(approvedRequest(), "req-0006"),
			withID(activeRequest(), "req-0005"),
		}, nil, StatusOptions{}),
		// One request for each kind of line: pending, active with a note,
		// revoking, irrevocable, failed.
		"status_hostile": func() Card {
			all := hostileStatus()
			return Status([]access.Request{all[0], all[3], all[5], all[7], all[10]}, nil, StatusOptions{})
		}(),
	}
}

// statusEntry is one item of a status card: its request id (from the
// facts), its status line (the item's TextBlock) and all of its strings.
type statusEntry struct {
	id    string
	line  map[string]any
	texts []string
}

// statusSections returns a status card's section headings, in order, and
// the items under each.
func statusSections(t *testing.T, m map[string]any) (headings []string, items map[string][]statusEntry) {
	t.Helper()
	items = map[string][]statusEntry{}
	var current string
	for i, e := range m["body"].([]any) {
		o := e.(map[string]any)
		switch o["type"] {
		case "TextBlock":
			if i == 0 {
				continue // the card's heading
			}
			current = o["text"].(string)
			headings = append(headings, current)
		case "Container":
			var entry statusEntry
			entry.texts = strs(o)
			for _, it := range o["items"].([]any) {
				it := it.(map[string]any)
				switch it["type"] {
				case "TextBlock":
					if entry.line != nil {
						t.Errorf("item under %q has two status lines", current)
					}
					entry.line = it
				case "FactSet":
					for _, f := range it["facts"].([]any) {
						if f := f.(map[string]any); f["title"] == "Request" {
							entry.id = visible(f["value"].(string))
						}
					}
				}
			}
			if entry.line == nil {
				t.Errorf("item %s under %q has no status line", entry.id, current)
			}
			items[current] = append(items[current], entry)
		default:
			t.Errorf("body[%d] is a %v", i, o["type"])
		}
	}
	return headings, items
}

func TestStatusLines(t *testing.T) {
	until := when(expiresAt)
	for _, tc := range []struct {
		name    string
		req     *access.Request
		section string
		line    string
		color   any // nil: the default colour
		not     []string
	}{
		{"pending", pendingRequest(), "Waiting for approval", "Pending since " + when(requestedAt), "Accent", nil},
		{"pending, no time", func() *access.Request { r := pendingRequest(); r.CreatedAt = time.Time{}; return r }(),
			"Waiting for approval", "Pending", "Accent", nil},
		{"approved", approvedRequest(), "Active access", "Approved, being granted; until " + until, "Good", nil},
		{"approved, no grant yet", decided(access.RequestApproved, access.Approve, ""), "Active access", "Approved, being granted", "Good", nil},
		{"re-adding", readdingRequest(), "Active access", "Approved, being granted; until " + until, "Good", nil},
		{"active", activeRequest(), "Active access", "Active until " + until, "Good", []string{"pre-existed", "shared"}},
		{"active, no grant", decided(access.RequestActive, access.Approve, ""), "Active access", "Active", "Good", nil},
		{"active pre-existing", preExistingActiveRequest(), "Active access",
			"Active until " + until + " (membership pre-existed; left in place at expiry)", "Good", []string{"shared"}},
		{"active shared", sharedActiveRequest(), "Active access",
			"Active until " + until + " (shared with another of your grants)", "Good", []string{"pre-existed"}},
		{"pre-existing wins over shared", func() *access.Request {
			r := preExistingActiveRequest()
			r.Grant.Shared = true
			return r
		}(), "Active access", "Active until " + until + " (membership pre-existed; left in place at expiry)", "Good", nil},
		{"revoking", revokingRequest(), "Ended access", "Ended at " + until + ", removal in progress", nil,
			[]string{"Active", "failed", "alerted"}},
		{"revoking, retrying", retryingRequest(), "Ended access", "Ended at " + until + ", removal in progress", nil,
			[]string{"Active", transientError}},
		{"irrevocable", irrevocableRequest(), "Ended access",
			"Ended at " + until + ", but removal failed; security has been alerted", "Attention",
			[]string{"Active", "in progress", permanentError}},
		{"irrevocable pre-existing", func() *access.Request {
			r := irrevocableRequest()
			r.Grant.PreExisting = true
			return r
		}(), "Ended access", "Ended at " + until + ", but removal failed; security has been alerted", "Attention", []string{"Active"}},
		{"irrevocable, no expiry", func() *access.Request {
			r := irrevocableRequest()
			r.Grant.ExpiresAt = time.Time{}
			return r
		}(), "Ended access", "Ended, but removal failed; security has been alerted", "Attention", []string{"Active"}},
		{"closed since", closingRequest(), "Ended access", "Ended at " + when(revokedAt), nil, []string{"Active"}},
		{"failed since", failingRequest(), "Other requests", "Failed: the membership could not be added", "Attention",
			[]string{"Approved", permanentError}},
		{"final", expiredRequest(), "Other requests", "Expired", nil, nil},
	} {
		m := decode(t, Status([]access.Request{*tc.req}, nil, StatusOptions{}))
		checkCommon(t, tc.name, m)
		headings, items := statusSections(t, m)
		if !reflect.DeepEqual(headings, []string{tc.section}) {
			t.Errorf("%s: headings = %q, want %q", tc.name, headings, tc.section)
			continue
		}
		got := items[tc.section]
		if len(got) != 1 {
			t.Fatalf("%s: %d items", tc.name, len(got))
		}
		it := got[0]
		if it.id != tc.req.ID {
			t.Errorf("%s: request fact = %q", tc.name, it.id)
		}
		if it.line["text"] != tc.line || it.line["color"] != tc.color {
			t.Errorf("%s: line = %q (%v), want %q (%v)", tc.name, it.line["text"], it.line["color"], tc.line, tc.color)
		}
		// One style for every line: regular weight, right under the profile.
		if it.line["weight"] != nil || it.line["spacing"] != "None" || it.line["wrap"] != true {
			t.Errorf("%s: line = %v", tc.name, it.line)
		}
		for _, n := range tc.not {
			for _, s := range it.texts {
				if strings.Contains(s, n) {
					t.Errorf("%s: item shows %q in %q", tc.name, n, s)
				}
			}
		}
	}
}

func TestStatusOrder(t *testing.T) {
	in := []access.Request{
		withID(expiredRequest(), "other"),
		withID(irrevocableRequest(), "ended-1"),
		withID(pendingRequest(), "pending-1"),
		withID(revokingRequest(), "ended-2"),
		withID(activeRequest(), "active-1"),
		withID(pendingRequest(), "pending-2"),
		withID(approvedRequest(), "active-2"),
		withID(sharedActiveRequest(), "active-3"),
	}
	headings, items := statusSections(t, decode(t, Status(in, nil, StatusOptions{})))
	if want := []string{"Active access", "Ended access", "Waiting for approval", "Other requests"}; !reflect.DeepEqual(headings, want) {
		t.Errorf("headings = %q, want %q", headings, want)
	}
	for section, want := range map[string][]string{
		"Active access":        {"active-1", "active-2", "active-3"},
		"Ended access":         {"ended-1", "ended-2"},
		"Waiting for approval": {"pending-1", "pending-2"},
		"Other requests":       {"other"},
	} {
		var got []string
		for _, it := range items[section] {
			got = append(got, it.id)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q (the order they came in)", section, got, want)
		}
	}
}

// TestStatusTimes: a status card's times are DATE/TIME functions with valid
// whole-second UTC timestamps of the request's own instants (checkCommon),
// and only in TextBlocks, where every client applies them; no line shows an
// expiry in the past as a time access lasts "until".
func TestStatusTimes(t *testing.T) {
	cards := statusGoldens()
	cards["all states"] = Status(hostileStatus(), nil, StatusOptions{})
	for name, card := range cards {
		m := decode(t, card)
		checkCommon(t, name, m)
		walk(m, "$", "data", func(path string, obj map[string]any) {
			if obj["type"] == "TextBlock" {
				return
			}
			for k, v := range obj {
				if s, ok := v.(string); ok && strings.Contains(s, "{{") {
					t.Errorf("%s: %s.%s = %q: a DATE/TIME call outside a TextBlock", name, path, k, s)
				}
			}
		})
		_, items := statusSections(t, m)
		for _, it := range items["Ended access"] {
			if s := it.line["text"].(string); strings.Contains(s, "until") || strings.Contains(s, "Active") {
				t.Errorf("%s: ended item %s reads %q", name, it.id, s)
			}
		}
	}
	// Each line shows the instant it names, and that one only.
	for _, tc := range []struct {
		req  *access.Request
		want time.Time
	}{
		{pendingRequest(), requestedAt},
		{approvedRequest(), expiresAt},
		{activeRequest(), expiresAt},
		{revokingRequest(), expiresAt},
		{irrevocableRequest(), expiresAt},
		{closingRequest(), revokedAt},
	} {
		_, items := statusSections(t, decode(t, Status([]access.Request{*tc.req}, nil, StatusOptions{})))
		for _, its := range items {
			line := its[0].line["text"].(string)
			calls := dateTimeCall.FindAllStringSubmatch(line, -1)
			if len(calls) != 2 || calls[0][1] != "DATE" || calls[1][1] != "TIME" {
				t.Errorf("%s: %q: want one DATE and one TIME", tc.req.State, line)
				continue
			}
			for _, c := range calls {
				if !strings.HasPrefix(c[2], stamp(tc.want)) {
					t.Errorf("%s: %q shows %s, want %s", tc.req.State, line, c[2], stamp(tc.want))
				}
			}
		}
	}
}

// TestStatusTypedTextIsInert: profile names, tickets, request ids and
// directory errors cannot add links, mentions, template expressions or
// DATE/TIME calls to the status card; they appear only in text runs and
// fact values, rendered inert, and never in a status line.
func TestStatusTypedTextIsInert(t *testing.T) {
	reqs := hostileStatus()
	m := decode(t, Status(reqs, nil, StatusOptions{}))
	checkCommon(t, "hostile status", m) // no DATE/TIME call with an injected 2030 time
	for _, s := range strs(m) {
		for _, bad := range []string{"](", "<at", "${", "\u202e", "evil.example/fix"} {
			if strings.Contains(s, bad) {
				t.Errorf("%q contains %q", s, bad)
			}
		}
	}
	headings, items := statusSections(t, m)
	if want := []string{"Active access", "Ended access", "Waiting for approval", "Other requests"}; !reflect.DeepEqual(headings, want) {
		t.Errorf("headings = %q, want %q", headings, want)
	}
	n := 0
	for _, its := range items {
		for _, it := range its {
			n++
			if line := it.line["text"].(string); strings.Contains(line, "Mallory") || strings.Contains(line, "INC-") || strings.Contains(line, "req-") {
				t.Errorf("status line %q holds typed text", line)
			}
		}
	}
	if n != len(reqs) {
		t.Errorf("%d items for %d requests", n, len(reqs))
	}
	var names, tickets, ids int
	walk(m, "$", "", func(_ string, obj map[string]any) {
		switch {
		case obj["type"] == "TextRun" && visible(obj["text"].(string)) == strings.ReplaceAll(hostileName, "\u202e", ""):
			names++
		case obj["title"] == "Ticket" && visible(obj["value"].(string)) == hostileTicket:
			tickets++
		case obj["title"] == "Request" && strings.HasSuffix(visible(obj["value"].(string)), "[x](https://evil.example) {{TIME(2030-01-01T00:00:00Z)}}"):
			ids++
		}
	})
	if names != len(reqs) || tickets != len(reqs) || ids != len(reqs) {
		t.Errorf("shown as written: %d profile names (in text runs), %d tickets, %d ids; want %d each", names, tickets, ids, len(reqs))
	}
}
