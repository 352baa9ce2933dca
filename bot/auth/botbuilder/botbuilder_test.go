package botbuilder_test

import (
	"context"
	"testing"

	botauth "github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/auth/botbuilder"
	"github.com/jitbot/jitbot/bot/connectortest"
)

const appID = "8f1c0a52-7d0e-4c1e-9b7a-1f2e3d4c5b6a"

func TestTokenValidatorAdapter(t *testing.T) {
	iss := connectortest.NewIssuer(t)
	v, err := auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: iss.MetadataURL()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tv botauth.TokenValidator = botbuilder.NewTokenValidator(v)
	act := schema.Activity{Type: schema.Message, ServiceURL: "https://smba.trafficmanager.net/amer/", ChannelID: "msteams"}
	// A provider claiming authentication is disabled changes nothing.
	disabled := botauth.SimpleCredentialProvider{}

	id, err := tv.AuthenticateRequest(context.Background(), act, "Bearer "+iss.Token(appID, act.ServiceURL), disabled, "")
	if err != nil {
		t.Fatal(err)
	}
	if !id.IsAuthenticated() || id.GetClaimValue("aud") != appID || id.GetClaimValue("no-such-claim") != "" {
		t.Errorf("identity %+v", id)
	}
	if _, err := tv.AuthenticateRequest(context.Background(), act, "", disabled, ""); err == nil {
		t.Error("missing token accepted with a disabled credential provider")
	}
	if _, err := tv.AuthenticateRequest(context.Background(), act, "Bearer "+iss.Token("other-app", act.ServiceURL), disabled, ""); err == nil {
		t.Error("token for another app accepted")
	}

	local := botbuilder.NewTokenValidator(auth.NewLocalValidator(nil))
	id, err = local.AuthenticateRequest(context.Background(), schema.Activity{ServiceURL: "http://localhost:56150/_connector", ChannelID: "msteams"}, "", disabled, "")
	if err != nil || id.IsAuthenticated() {
		t.Errorf("local mode: %v %+v", err, id)
	}
	if _, err := local.AuthenticateRequest(context.Background(), act, "", disabled, ""); err == nil {
		t.Error("local mode accepted a non-loopback service URL")
	}
	var zero botbuilder.TokenValidator
	if _, err := zero.AuthenticateRequest(context.Background(), act, "", disabled, ""); err == nil {
		t.Error("zero TokenValidator accepted a request")
	}
}
