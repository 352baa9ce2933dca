package cards

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// endedAt is when a grant of the fixtures was ended early: 15:00:00Z.
var endedAt = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func init() { fixtureStamps[stamp(endedAt)] = true }

func alexPerson() access.Person {
	return access.Person{ObjectID: "22222222-2222-4222-8222-222222222222", Name: "Alex Approver"}
}

// endedEarly is the active request's grant ended early by how, removed
// (done) or still being removed.
func endedEarly(how access.EndKind, done bool) *access.Request {
	r := activeRequest()
	r.Grant.Early = access.EarlyEnd{Kind: how, By: r.Requester, At: endedAt}
	if how == access.EndRevoked {
		r.Grant.Early.By, r.Grant.Early.Reason = alexPerson(), "Incident closed. [x](https://evil.example) {{DATE(2030-01-01T00:00:00Z)}}"
	}
	r.Grant.DueAt = endedAt
	if done {
		r.State, r.Grant.State, r.Grant.RevokedAt = access.RequestExpired, access.GrantRevoked, endedAt
	}
	return r
}

func lifecycleGoldens() map[string]Card {
	prod := profileProdDB()
	return map[string]Card{
		"approval_released":            Approval(endedEarly(access.EndReleased, true), prod, refreshUsers),
		"approval_released_removing":   Approval(endedEarly(access.EndReleased, false), prod, refreshUsers),
		"approval_revoked_early":       Approval(endedEarly(access.EndRevoked, true), prod, refreshUsers),
		"approval_revoked_early_doing": Approval(endedEarly(access.EndRevoked, false), prod, refreshUsers),
		"granted":                      Granted(activeRequest(), nil),
		"granted_released":             Granted(endedEarly(access.EndReleased, true), nil),
		"granted_revoked":              Granted(endedEarly(access.EndRevoked, true), nil),
	}
}

func TestApprovalActiveHasRevokeNow(t *testing.T) {
	m := decode(t, Approval(activeRequest(), profileProdDB(), refreshUsers))
	bs := buttons(m)
	if len(bs) != 1 || bs[0]["verb"] != VerbRevokeNow || bs[0]["title"] != "Revoke now" {
		t.Fatalf("buttons %v, want Revoke now only", bs)
	}
	if d, _ := bs[0]["data"].(map[string]any); d[DataRequestID] != activeRequest().ID {
		t.Fatalf("revoke data %v", bs[0]["data"])
	}
	var reason map[string]any
	walk(m, "$", "", func(_ string, obj map[string]any) {
		if obj["id"] == InputRevokeReason {
			reason = obj
		}
	})
	if reason == nil || reason["isRequired"] != true || reason["maxLength"] != float64(access.MaxReason) {
		t.Fatalf("revoke reason input %v: want required, maxLength %d", reason, access.MaxReason)
	}
	for name, req := range map[string]*access.Request{
		"released": endedEarly(access.EndReleased, true), "releasing": endedEarly(access.EndReleased, false),
		"revoked": endedEarly(access.EndRevoked, true), "expired": expiredRequest(),
	} {
		if bs := buttons(decode(t, Approval(req, profileProdDB(), refreshUsers))); len(bs) != 0 {
			t.Errorf("%s: buttons %v, want none", name, bs)
		}
	}
}

func TestEarlyEndShownOnApprovalCard(t *testing.T) {
	released := string(render(t, Approval(endedEarly(access.EndReleased, true), profileProdDB(), refreshUsers)))
	if !strings.Contains(released, "Released early by the requester at {{DATE(2026-11-23T15:00:00Z, SHORT)}}") {
		t.Fatalf("released card does not say so:\n%s", released)
	}
	revoked := string(render(t, Approval(endedEarly(access.EndRevoked, true), profileProdDB(), refreshUsers)))
	for _, want := range []string{"Revoked early by ", "Alex Approver", "Incident closed."} {
		if !strings.Contains(revoked, want) {
			t.Fatalf("revoked card lacks %q:\n%s", want, revoked)
		}
	}
	if strings.Contains(revoked, "{{DATE(2030") {
		t.Fatal("a typed DATE function is live on the card")
	}
}

func TestGrantedHasImDone(t *testing.T) {
	m := decode(t, Granted(activeRequest(), nil))
	bs := buttons(m)
	if len(bs) != 1 || bs[0]["verb"] != VerbRelease || bs[0]["title"] != "I'm done" {
		t.Fatalf("buttons %v, want I'm done", bs)
	}
	if got := string(render(t, Granted(activeRequest(), nil))); !strings.Contains(got, "{{DATE(2026-11-23T16:08:00Z, SHORT)}}") {
		t.Fatalf("granted card does not show the expiry through DATE:\n%s", got)
	}
	if bs := buttons(decode(t, Granted(endedEarly(access.EndReleased, true), nil))); len(bs) != 0 {
		t.Fatalf("released card has buttons %v", bs)
	}
	if s := GrantedSummary(activeRequest()); !strings.Contains(s, "until 16:08 UTC on 23 Nov 2026") || rawStamp.MatchString(s) {
		t.Fatalf("summary %q", s)
	}
}
