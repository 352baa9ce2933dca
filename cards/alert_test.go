package cards

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

var (
	alertAt    = expiresAt.Add(3 * time.Hour) // 19:08:00Z: the removal kept failing
	resolvedAt = alertAt.Add(time.Hour)       // 20:08:00Z
)

const (
	transientError = "Graph 503 ServiceUnavailable: the service is temporarily unavailable"
	permanentError = "Graph 403 Authorization_RequestDenied: Insufficient privileges to complete the operation."
	// hostileError is a directory error that repeats what someone put in a
	// group's or user's attributes.
	hostileError = "Graph 400: group \"[Ops](https://evil.example/fix)\" {{DATE(2030-01-01T00:00:00Z, SHORT)}} <at>Security Team</at> ${token}"
)

// Grants of the approval card that end: being removed, or failing to be.

func revokingRequest() *access.Request {
	r := activeRequest()
	r.Grant.State = access.GrantRevoking
	return r
}

func retryingRequest() *access.Request {
	r := revokingRequest()
	r.Grant.Attempts = 1
	r.Grant.LastError = transientError
	return r
}

func irrevocableRequest() *access.Request {
	r := activeRequest()
	r.Grant.State = access.GrantIrrevocable
	r.Grant.Attempts = 5
	r.Grant.LastError = permanentError
	return r
}

func sharedActiveRequest() *access.Request {
	r := activeRequest()
	r.Grant.Shared = true
	r.Grant.GrantedAt = decidedAt
	return r
}

func preExistingActiveRequest() *access.Request {
	r := activeRequest()
	r.Grant.Checked, r.Grant.PreExisting = true, true
	return r
}

func preExistingExpiredRequest() *access.Request {
	r := expiredRequest()
	r.Grant.Checked, r.Grant.PreExisting = true, true
	return r
}

func sharedExpiredRequest() *access.Request {
	r := expiredRequest()
	r.Grant.Shared = true
	return r
}

func endingGoldens() map[string]Card {
	prod := profileProdDB()
	return map[string]Card{
		"approval_revoking":            Approval(revokingRequest(), prod, refreshUsers),
		"approval_revoking_retry":      Approval(retryingRequest(), prod, refreshUsers),
		"approval_irrevocable":         Approval(irrevocableRequest(), prod, refreshUsers),
		"approval_active_shared":       Approval(sharedActiveRequest(), prod, refreshUsers),
		"approval_active_preexisting":  Approval(preExistingActiveRequest(), prod, refreshUsers),
		"approval_expired_preexisting": Approval(preExistingExpiredRequest(), prod, refreshUsers),
		"approval_expired_shared":      Approval(sharedExpiredRequest(), prod, refreshUsers),
	}
}

// Alerts.

var jane = access.Person{ObjectID: "a1b2c3d4-0000-4000-8000-000000000001", Name: "Jane Doe"}

func irrevocableFixture() access.Alert {
	return access.Alert{
		Kind:     access.AlertIrrevocable,
		GrantID:  "grant-0001",
		Profile:  "prod-db",
		GroupID:  profileProdDB().GroupID,
		User:     jane,
		Error:    transientError,
		Attempts: 3,
		At:       alertAt,
	}
}

func permanentFixture() access.Alert {
	a := irrevocableFixture()
	a.Error, a.Permanent, a.Attempts = permanentError, true, 5
	return a
}

func resolvedFixture() access.Alert {
	a := permanentFixture()
	a.Resolved, a.ResolvedNote, a.At = true, "removed by a retry that Alex Approver asked for", resolvedAt
	return a
}

func driftFixture() access.Alert {
	return access.Alert{
		Kind:    access.AlertDrift,
		Profile: "prod-db",
		GroupID: profileProdDB().GroupID,
		User:    access.Person{ObjectID: "e5f6a7b8-0000-4000-8000-0000000000ff", Name: "Eve Outsider"},
		At:      alertAt,
	}
}

func driftUnnamedFixture() access.Alert {
	a := driftFixture()
	a.User.Name = ""
	return a
}

func driftRemovedFixture() access.Alert {
	a := driftFixture()
	a.Resolved, a.ResolvedNote, a.At = true, "removed by drift detection", resolvedAt
	return a
}

func pimOutlivesFixture() access.Alert {
	a := driftFixture()
	a.Kind, a.GrantEnd = access.AlertPIMOutlives, expiresAt
	return a
}

func hostileAlertFixture() access.Alert {
	a := irrevocableFixture()
	a.GrantID = "grant-0666"
	a.User.Name = hostileName
	a.Error = hostileError
	return a
}

func alertGoldens() map[string]Card {
	return map[string]Card{
		"alert_irrevocable":           Alert(irrevocableFixture(), nil),
		"alert_irrevocable_permanent": Alert(permanentFixture(), nil),
		"alert_irrevocable_resolved":  Alert(resolvedFixture(), nil),
		"alert_drift":                 Alert(driftFixture(), nil),
		"alert_drift_unnamed":         Alert(driftUnnamedFixture(), nil),
		"alert_drift_removed":         Alert(driftRemovedFixture(), nil),
		"alert_hostile":               Alert(hostileAlertFixture(), nil),
		"alert_pim_outlives":          Alert(pimOutlivesFixture(), nil),
	}
}

// bannerOf returns the style of the card's first container and the text of
// its first item.
func bannerOf(t *testing.T, m map[string]any) (style, line string) {
	t.Helper()
	for _, e := range m["body"].([]any) {
		o := e.(map[string]any)
		if o["type"] != "Container" {
			continue
		}
		style, _ = o["style"].(string)
		first := o["items"].([]any)[0].(map[string]any)
		line, _ = first["text"].(string)
		return style, line
	}
	t.Fatal("no banner")
	return "", ""
}

func TestAlertActions(t *testing.T) {
	noGrant := irrevocableFixture()
	noGrant.GrantID = ""
	for _, tc := range []struct {
		name          string
		a             access.Alert
		retry, reload bool
	}{
		{"irrevocable", irrevocableFixture(), true, true},
		{"permanent", permanentFixture(), true, true},
		{"hostile", hostileAlertFixture(), true, true},
		{"resolved", resolvedFixture(), false, true},
		{"no grant id", noGrant, false, false},
		{"drift", driftFixture(), false, false},
		{"drift unnamed", driftUnnamedFixture(), false, false},
		{"drift removed", driftRemovedFixture(), false, false},
	} {
		m := decode(t, Alert(tc.a, nil))
		checkCommon(t, tc.name, m)
		bs := buttons(m)
		if !tc.retry {
			if len(bs) != 0 {
				t.Errorf("%s: %d actions, want none: %v", tc.name, len(bs), bs)
			}
		} else {
			want := map[string]any{
				"type": "Action.Execute", "title": "Retry now", "verb": "retryRevoke",
				"data": map[string]any{"grantId": tc.a.GrantID},
			}
			if len(bs) != 1 || !reflect.DeepEqual(bs[0], want) {
				t.Errorf("%s: actions = %v, want exactly %v", tc.name, bs, want)
			}
		}
		r, hasRefresh := m["refresh"].(map[string]any)
		if !tc.reload {
			if hasRefresh {
				t.Errorf("%s: refresh = %v, want none", tc.name, r)
			}
		} else {
			want := map[string]any{
				"action": map[string]any{"type": "Action.Execute", "verb": "refreshAlert", "data": map[string]any{"grantId": tc.a.GrantID}},
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("%s: refresh = %v, want %v", tc.name, r, want)
			}
		}
		walk(m, "$", "", func(path string, obj map[string]any) {
			if ty, _ := obj["type"].(string); strings.HasPrefix(ty, "Input.") {
				t.Errorf("%s: input %v at %s", tc.name, obj["id"], path)
			}
		})
	}
	if VerbRetryRevoke != "retryRevoke" || VerbRefreshAlert != "refreshAlert" || DataGrantID != "grantId" {
		t.Error("the verbs and data key are part of the bot's wire contract")
	}
}

func TestAlertText(t *testing.T) {
	group := profileProdDB().GroupID
	for _, tc := range []struct {
		name        string
		a           access.Alert
		style, line string
		want, not   []string
	}{
		{
			"irrevocable", irrevocableFixture(), "attention", "Access could not be removed",
			[]string{"Jane Doe", jane.ObjectID, group, "prod-db", "grant-0001", AlertRetryingLine, "Latest error", transientError, "Failed attempts", "3", "When", when(alertAt)},
			[]string{AlertPermanentLine, "Access removed"},
		},
		{
			"permanent", permanentFixture(), "attention", "Access could not be removed",
			[]string{"Jane Doe", jane.ObjectID, group, AlertPermanentLine, permanentError, "5"},
			[]string{AlertRetryingLine},
		},
		{
			"resolved", resolvedFixture(), "good", "Access removed",
			[]string{"Jane Doe", jane.ObjectID, group, "prod-db", "Removed by a retry that Alex Approver asked for.", when(resolvedAt)},
			[]string{"Access could not be removed", AlertPermanentLine, AlertRetryingLine, "Latest error", permanentError},
		},
		{
			"drift", driftFixture(), "attention", "Unexplained member in a managed group",
			[]string{"Eve Outsider", "e5f6a7b8-0000-4000-8000-0000000000ff", group, "prod-db", AlertDriftOpenLine, when(alertAt)},
			[]string{"Removed", "Failed attempts", "Grant"},
		},
		{
			"drift unnamed", driftUnnamedFixture(), "attention", "Unexplained member in a managed group",
			[]string{"e5f6a7b8-0000-4000-8000-0000000000ff", group, AlertDriftOpenLine},
			[]string{"Eve Outsider"},
		},
		{
			"drift removed", driftRemovedFixture(), "warning", "Unexplained member in a managed group",
			[]string{"Eve Outsider", group, "Removed by drift detection.", when(resolvedAt)},
			[]string{AlertDriftOpenLine},
		},
	} {
		m := decode(t, Alert(tc.a, nil))
		style, line := bannerOf(t, m)
		if style != tc.style || line != tc.line {
			t.Errorf("%s: banner = %s %q, want %s %q", tc.name, style, line, tc.style, tc.line)
		}
		var all []string
		for _, s := range strs(m) {
			all = append(all, visible(s))
		}
		for _, w := range tc.want {
			found := false
			for _, s := range all {
				if strings.Contains(s, w) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: card does not show %q", tc.name, w)
			}
		}
		for _, n := range tc.not {
			for _, s := range all {
				if strings.Contains(s, n) {
					t.Errorf("%s: card shows %q in %q", tc.name, n, s)
				}
			}
		}
	}
}

// TestAlertHostileError: the directory error and the user's name are shown
// whole, in text runs, and inert.
func TestAlertHostileError(t *testing.T) {
	m := decode(t, Alert(hostileAlertFixture(), nil))
	checkCommon(t, "hostile alert", m) // no DATE/TIME call with the injected 2030 time
	for _, s := range strs(m) {
		for _, bad := range []string{"](", "<at", "${", "\u202e"} {
			if strings.Contains(s, bad) {
				t.Errorf("%q contains %q", s, bad)
			}
		}
	}
	var errorShown, nameShown bool
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if obj["type"] != "TextRun" {
			return
		}
		switch visible(obj["text"].(string)) {
		case hostileError:
			errorShown = true
		case strings.ReplaceAll(hostileName, "\u202e", ""):
			nameShown = true
		}
	})
	if !errorShown {
		t.Error("the error is not shown as written in a TextRun")
	}
	if !nameShown {
		t.Error("the user's name is not shown in a TextRun")
	}
}

func TestApprovalEndingBanner(t *testing.T) {
	for _, tc := range []struct {
		name        string
		req         *access.Request
		style, line string
		want        []string
	}{
		{"revoking", revokingRequest(), "good", "Active until " + when(expiresAt) + " — removal in progress", nil},
		{"retrying", retryingRequest(), "warning", "Active until " + when(expiresAt) + " — removal in progress",
			[]string{"1 failed removal attempt; jitbot keeps retrying.", transientError}},
		{"irrevocable", irrevocableRequest(), "attention", "Expired at " + when(expiresAt) + ", but removal failed; security has been alerted",
			[]string{"5 failed removal attempts; jitbot keeps retrying.", permanentError}},
		{"active shared", sharedActiveRequest(), "good", "Active until " + when(expiresAt),
			[]string{"Membership shared with another active grant"}},
		{"active pre-existing", preExistingActiveRequest(), "good", "Active until " + when(expiresAt),
			[]string{"Membership pre-existed; left in place at expiry."}},
		{"expired pre-existing", preExistingExpiredRequest(), "emphasis", "Expired at " + when(revokedAt) + " (membership pre-existed; left in place)", nil},
		{"expired shared", sharedExpiredRequest(), "emphasis", "Expired at " + when(revokedAt) + " (membership shared with another active grant; removed only once no grant holds it)", nil},
		{"expired", expiredRequest(), "emphasis", "Expired at " + when(revokedAt) + " (removed)", nil},
	} {
		for _, opts := range []ApprovalOptions{refreshUsers, {}} {
			m := decode(t, Approval(tc.req, profileProdDB(), opts))
			checkCommon(t, tc.name, m)
			style, line := bannerOf(t, m)
			if style != tc.style || line != tc.line {
				t.Errorf("%s: banner = %s %q, want %s %q", tc.name, style, line, tc.style, tc.line)
			}
			all := strings.Join(strs(m), "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("%s: card does not show %q", tc.name, w)
				}
			}
			// An active grant may be revoked now; nothing else has buttons.
			if bs := buttons(m); len(bs) != 0 && (access.Endable(tc.req) != nil || len(bs) != 1 || bs[0]["verb"] != VerbRevokeNow) {
				t.Errorf("%s: actions %v, want none (or Revoke now on an active grant)", tc.name, bs)
			}
			want := map[string]any{
				"action": map[string]any{"type": "Action.Execute", "verb": "refresh", "data": map[string]any{"requestId": tc.req.ID}},
			}
			if len(opts.RefreshUserIDs) > 0 {
				want["userIds"] = []any{"29:1approver-alex", "29:1requester-jane"}
			}
			if r := m["refresh"]; !reflect.DeepEqual(r, want) {
				t.Errorf("%s: refresh = %v, want %v", tc.name, r, want)
			}
		}
	}
}

func TestCapitalize(t *testing.T) {
	for in, want := range map[string]string{"": "", "removed": "Removed", "élan": "Élan", "\xff": "\xff", "1 x": "1 x"} {
		if got := capitalize(in); got != want {
			t.Errorf("capitalize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sentence("removed by drift detection. \n"); got != "Removed by drift detection." {
		t.Errorf("sentence = %q", got)
	}
}
