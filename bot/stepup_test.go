package bot_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
)

const (
	ssoAppID   = "0c1d2e3f-4a5b-4c6d-8e7f-901234567890"
	ssoURI     = "api://jitbot.example.com/botid-" + ssoAppID
	ssoScope   = "access_as_user"
	connection = "jitbot-sso"
)

// stepUpWorld is the world with single sign-on configured (user tokens
// from a fake Entra ID, validated on the world's clock) and profile
// prod-db asking approvers for authentication context c1 within 10m.
func stepUpWorld(t *testing.T) (*world, *entratest.Authority, entratest.API) {
	t.Helper()
	w := newWorld(t)
	authority := entratest.NewAuthority(t)
	api := entratest.API{TenantID: tenantID, AppID: ssoAppID, AppIDURI: ssoURI}
	tokens, err := entraauth.NewUser(entraauth.Config{
		TenantID: tenantID, MetadataURL: authority.MetadataURL(tenantID),
		Issuers:   []string{authority.V2Issuer(tenantID), entratest.V1Issuer(tenantID)},
		Audiences: []string{ssoURI, ssoAppID}, Scope: ssoScope, Now: w.clock.Now,
	}, authority.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.botCfg.SSO = &bot.SSO{Tokens: tokens, Resource: ssoURI, ConnectionName: connection}
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].StepUp = access.StepUp{AuthContext: "c1", Within: 10 * time.Minute}
	})
	return w, authority, api
}

// withToken is a click that Teams sends again after single sign-on, with
// the user token in value.authentication.
func withToken(act map[string]any, token string) map[string]any {
	act["value"].(map[string]any)["authentication"] = map[string]any{
		"id": "8769-xyz", "connectionName": connection, "token": token,
	}
	return act
}

// TestStepUpApprovalOverHTTP: on a step-up profile, an approval counts only
// with a fresh single sign-on token of the approver that carries c1. A
// click without a token gets a sign-in request; one with a token that is
// not enough gets the approver's card saying to sign in again; neither
// changes anything but its refusal's audit event.
func TestStepUpApprovalOverHTTP(t *testing.T) {
	w, authority, api := stepUpWorld(t)
	ctx := context.Background()
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	if _, card := w.approvalThread(); !strings.Contains(cardJSON(card), cards.StepUpNotice) {
		t.Fatalf("the approval card does not tell approvers about the sign-in: %s", cardJSON(card))
	}
	w.clock.Advance(3 * time.Minute)

	writes := w.writes()
	refusals := func() int {
		evs, err := w.db.Audit(ctx, access.AuditFilter{RequestID: req.ID})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Action == access.ActionDecisionRefused && ev.Actor.ObjectID == alexID && strings.HasPrefix(ev.Reason, "step-up: ") {
				n++
			}
		}
		return n
	}
	unchanged := func(step string, wantRefusals int) {
		t.Helper()
		got, err := w.db.GetRequest(ctx, req.ID)
		if err != nil || got.State != access.RequestPending {
			t.Fatalf("%s: request %v, %v; want it pending", step, got, err)
		}
		if n := w.graph.Count(graphtest.RouteAddMember); n != 0 || w.graph.IsMember(prodGroup, rileyID) {
			t.Fatalf("%s: %d calls to add a member", step, n)
		}
		if n := w.writes(); n != writes {
			t.Fatalf("%s: %d connector writes, want none", step, n-writes)
		}
		if n := refusals(); n != wantRefusals {
			t.Fatalf("%s: %d step-up refusals audited, want %d", step, n, wantRefusals)
		}
	}

	// No token: Teams is asked to sign the approver in with single sign-on.
	code, resp := w.post(w.click(alex, "approve", req.ID, nil))
	if code != http.StatusOK || resp["statusCode"] != float64(401) || resp["type"] != "application/vnd.microsoft.activity.loginRequest" {
		t.Fatalf("approve without a token: HTTP %d %v; want a loginRequest", code, resp)
	}
	v, _ := resp["value"].(map[string]any)
	xr, _ := v["tokenExchangeResource"].(map[string]any)
	if v["connectionName"] != connection || xr["uri"] != ssoURI || xr["id"] == "" || !strings.Contains(v["text"].(string), "fresh sign-in") {
		t.Fatalf("loginRequest value %v", v)
	}
	unchanged("no token", 1)

	now := w.clock.Now()
	fresh := func(who string, opts ...entratest.TokenOption) string {
		return authority.UserToken(t, api, who, ssoScope, now, append([]entratest.TokenOption{entratest.WithAuthContexts("c1")}, opts...)...)
	}
	for i, c := range []struct {
		name, token string
	}{
		{"token without c1", authority.UserToken(t, api, alexID, ssoScope, now, entratest.WithAuthContexts("c2"))},
		{"token without any authentication context", authority.UserToken(t, api, alexID, ssoScope, now)},
		// Entra ID backdates iat by 5 minutes: issued 6m ago is iat 11m ago.
		{"token too old", authority.UserToken(t, api, alexID, ssoScope, now.Add(-6*time.Minute), entratest.WithAuthContexts("c1"))},
		{"token of another user", fresh(samID)},
		{"forged token", fresh(alexID, entratest.WithForeignKey(t))},
		{"token for another app", authority.UserToken(t, entratest.API{TenantID: tenantID, AppID: appID}, alexID, ssoScope, now, entratest.WithAuthContexts("c1"))},
		{"token without the scope", authority.UserToken(t, api, alexID, "User.Read", now, entratest.WithAuthContexts("c1"))},
	} {
		note, verbs := w.viewIn(w.post(withToken(w.click(alex, "approve", req.ID, nil), c.token)))
		if !strings.Contains(note, "fresh sign-in") || !slices.Contains(verbs, "approve") {
			t.Errorf("%s: note %q, buttons %v; want the card with Approve and the sign-in line", c.name, note, verbs)
		}
		unchanged(c.name, 2+i)
	}

	// A fresh token of the approver with c1 counts.
	code, resp = w.post(withToken(w.click(alex, "approve", req.ID, nil), fresh(alexID)))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" || !strings.Contains(cardJSON(resp["value"]), "Alex Approver") {
		t.Fatalf("approve with a fresh token: HTTP %d %v", code, resp)
	}
	got, _ := w.db.GetRequest(ctx, req.ID)
	if got.State != access.RequestActive || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("after a stepped-up approval: %s, member %v", got.State, w.graph.IsMember(prodGroup, rileyID))
	}
}

// TestStepUpDenyNeedsNoSignIn: a denial grants nothing and needs no token.
func TestStepUpDenyNeedsNoSignIn(t *testing.T) {
	w, _, _ := stepUpWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	code, resp := w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": "use the replica"}))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" || !strings.Contains(cardJSON(resp["value"]), "use the replica") {
		t.Fatalf("deny: HTTP %d %v", code, resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestDenied {
		t.Fatalf("state %s after deny", got.State)
	}
}

// TestStepUpWithoutSSOCannotApprove: a bot without single sign-on never
// counts an approval of a step-up profile (the configuration refuses that
// set-up; here the bot fails closed) and asks for no sign-in it cannot take.
func TestStepUpWithoutSSOCannotApprove(t *testing.T) {
	w := newWorld(t)
	w.reconfigure(func(c *access.Config) {
		c.Profiles[0].StepUp = access.StepUp{AuthContext: "c1", Within: 10 * time.Minute}
	})
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	note, _ := w.viewIn(w.post(w.click(alex, "approve", req.ID, nil)))
	if !strings.Contains(note, "fresh sign-in") {
		t.Fatalf("note %q", note)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending || w.graph.Count(graphtest.RouteAddMember) != 0 {
		t.Fatalf("state %s after an approval without single sign-on", got.State)
	}
}
