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
	"github.com/jitbot/jitbot/bot/tokenservice"
	"github.com/jitbot/jitbot/bot/tokenservicetest"
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

// signInWorld is stepUpWorld with the Token Service behind the sign-in
// button: a fake that knows the bot's OAuth connection and accepts only the
// bot's own app tokens.
func signInWorld(t *testing.T) (*world, *entratest.Authority, entratest.API, *tokenservicetest.TokenService) {
	t.Helper()
	w, authority, api := stepUpWorld(t)
	ts := tokenservicetest.New(t, w.authority, appID)
	ts.AddConnection(connection, ssoURI)
	client, err := tokenservice.New(w.authority.ClientSecretCredential(t, tenantID, appID, secret),
		tokenservice.Options{URL: ts.URL(), AppID: appID, HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	w.botCfg.SSO.SignIns = client
	w.reconfigure(nil)
	return w, authority, api, ts
}

// withState is a click that Teams sends again after the user signed in
// with the sign-in button, with the magic code in value.state.
func withState(act map[string]any, code string) map[string]any {
	act["value"].(map[string]any)["state"] = code
	return act
}

// signInLink presses Approve as p without a token and returns the sign-in
// button's link of the sign-in request the bot answers with.
func signInLink(t *testing.T, w *world, p person, requestID string) string {
	t.Helper()
	code, resp := w.post(w.click(p, "approve", requestID, nil))
	v, _ := resp["value"].(map[string]any)
	buttons, _ := v["buttons"].([]any)
	if code != http.StatusOK || resp["statusCode"] != float64(401) || len(buttons) != 1 {
		t.Fatalf("approve without a token: HTTP %d %v; want a loginRequest with a sign-in button", code, resp)
	}
	b := buttons[0].(map[string]any)
	if b["type"] != "signin" || b["title"] == "" {
		t.Fatalf("sign-in button %v", b)
	}
	return b["value"].(string)
}

// TestStepUpSignInButtonOverHTTP: the sign-in request carries, besides the
// single sign-on resource, a sign-in button from the Token Service, whose
// state names the approver, the conversation and the bot. After signing in
// there, Teams sends the click again with the magic code; the bot fetches
// the token for that code and validates it like a single sign-on token. A
// wrong, replayed or other user's code, a token without c1, too old or for
// another app counts nothing and changes nothing but its audited refusal;
// the Token Service down fails closed with a card that says so.
func TestStepUpSignInButtonOverHTTP(t *testing.T) {
	w, authority, api, ts := signInWorld(t)
	ctx := context.Background()
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	w.clock.Advance(2 * time.Minute)

	audited := func() []string {
		evs, err := w.db.Audit(ctx, access.AuditFilter{RequestID: req.ID})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			if ev.Action == access.ActionDecisionRefused && strings.HasPrefix(ev.Reason, "step-up: ") {
				out = append(out, ev.Actor.ObjectID+" "+ev.Reason)
			}
		}
		return out
	}
	writes := w.writes()
	unchanged := func(step string) {
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
	}

	// The sign-in request: single sign-on first, the button as fallback.
	link := signInLink(t, w, alex, req.ID)
	if !strings.HasPrefix(link, ts.URL()+"/") {
		t.Fatalf("sign-in link %q is not the token service's", link)
	}
	reqs := ts.Requests()
	st, err := tokenservice.DecodeState(reqs[len(reqs)-1].Query.Get("state"))
	if err != nil || st.MsAppID != appID || st.ConnectionName != connection || st.Conversation.User.ID != "29:"+alexID ||
		st.Conversation.Bot.ID == "" || !strings.HasPrefix(st.Conversation.Conversation.ID, channelID) || st.Conversation.ChannelID != "msteams" {
		t.Fatalf("sign-in state %+v (%v)", st, err)
	}
	unchanged("sign-in request")

	now := w.clock.Now()
	token := func(who string, at time.Time, opts ...entratest.TokenOption) string {
		return authority.UserToken(t, api, who, ssoScope, at, opts...)
	}
	c1 := entratest.WithAuthContexts("c1")
	refusedWith := func(step, code, wantAudit string) {
		t.Helper()
		before := len(audited())
		note, verbs := w.viewIn(w.post(withState(w.click(alex, "approve", req.ID, nil), code)))
		if !strings.Contains(note, "fresh sign-in") || !slices.Contains(verbs, "approve") {
			t.Errorf("%s: note %q, buttons %v; want the card with Approve and the sign-in line", step, note, verbs)
		}
		unchanged(step)
		got := audited()
		if len(got) != before+1 || !strings.HasPrefix(got[len(got)-1], alexID+" step-up: ") || !strings.Contains(got[len(got)-1], wantAudit) {
			t.Fatalf("%s: step-up refusals audited %q; want one more naming %q", step, got[before:], wantAudit)
		}
	}

	refusedWith("wrong code", "123-not-a-code", "no token for the sign-in code")

	samCode := ts.SignIn(t, signInLink(t, w, sam, req.ID), token(samID, now, c1))
	refusedWith("another user's code", samCode, "no token for the sign-in code")

	used := ts.SignIn(t, signInLink(t, w, alex, req.ID), token(alexID, now, entratest.WithAuthContexts("c2")))
	refusedWith("token without c1", used, "lacks authentication context c1")
	refusedWith("replayed code", used, "no token for the sign-in code")

	refusedWith("token too old", ts.SignIn(t, signInLink(t, w, alex, req.ID), token(alexID, now.Add(-6*time.Minute), c1)), "more than 10m")
	refusedWith("token for another app", ts.SignIn(t, signInLink(t, w, alex, req.ID),
		authority.UserToken(t, entratest.API{TenantID: tenantID, AppID: appID}, alexID, ssoScope, now, c1)), "signed-in token was refused")

	// The Token Service down: the click counts nothing, and the card says why.
	good := ts.SignIn(t, signInLink(t, w, alex, req.ID), token(alexID, now, c1))
	ts.FailNext(1, http.StatusServiceUnavailable)
	before := len(audited())
	note, _ := w.viewIn(w.post(withState(w.click(alex, "approve", req.ID, nil), good)))
	if !strings.Contains(note, "could not check your sign-in with the Bot Framework Token Service") || len(audited()) != before+1 {
		t.Fatalf("token service down: note %q, refusals %q", note, audited()[before:])
	}
	unchanged("token service down")
	// Without the sign-in link the sign-in request still offers single
	// sign-on.
	ts.FailNext(1, http.StatusInternalServerError)
	_, resp := w.post(w.click(alex, "approve", req.ID, nil))
	if v, _ := resp["value"].(map[string]any); resp["statusCode"] != float64(401) || v["buttons"] != nil || v["tokenExchangeResource"] == nil {
		t.Fatalf("sign-in request with the token service down: %v", resp)
	}
	unchanged("sign-in request with the token service down")

	// The code that was not used yet counts, once the service is back.
	code, resp := w.post(withState(w.click(alex, "approve", req.ID, nil), good))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" || !strings.Contains(cardJSON(resp["value"]), "Alex Approver") {
		t.Fatalf("approve with a signed-in token: HTTP %d %v", code, resp)
	}
	got, _ := w.db.GetRequest(ctx, req.ID)
	if got.State != access.RequestActive || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("after an approval signed in with the button: %s, member %v", got.State, w.graph.IsMember(prodGroup, rileyID))
	}
	// Every call to the token service carried the bot's app token.
	for _, r := range ts.Requests() {
		if r.Status == http.StatusUnauthorized {
			t.Fatalf("token service refused the bot's token: %+v", r)
		}
	}
}
