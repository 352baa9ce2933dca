package botbuilder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/core/activity"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/auth"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/bot/connector/botbuilder"
	"github.com/jitbot/jitbot/bot/connectortest"
)

const appID = "8f1c0a52-7d0e-4c1e-9b7a-1f2e3d4c5b6a"

// TestAdapterEndToEnd drives msbotbuilder-go's adapter with the bot's own
// validator and client: a signed inbound message is accepted, a forged one
// refused, and the handler's reply reaches the fake connector.
func TestAdapterEndToEnd(t *testing.T) {
	fake := connectortest.NewConnector(t)
	iss := connectortest.NewIssuer(t)
	v, err := auth.NewValidator(auth.Config{AppID: appID, OpenIDMetadataURL: iss.MetadataURL()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := connector.New(nil, connector.Options{LocalMode: true})
	if err != nil {
		t.Fatal(err)
	}
	adapter := botbuilder.NewAdapter(appID, v, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	in := schema.Activity{
		Type: schema.Message, ID: "1712345678901", Text: "hello",
		ServiceURL: fake.ServiceURL(), ChannelID: "msteams",
		From:         schema.ChannelAccount{ID: "29:user", AadObjectID: "6b1c7e0f-0000-4000-8000-000000000001"},
		Recipient:    schema.ChannelAccount{ID: "28:" + appID},
		Conversation: schema.ConversationAccount{ID: "a:personal", ConversationType: "personal", TenantID: "t"},
	}
	body, _ := json.Marshal(in)

	forged := httptest.NewRequest("POST", "/api/messages", bytes.NewReader(body))
	forged.Header.Set("Authorization", "Bearer "+iss.Token(appID, fake.ServiceURL(), connectortest.WithSigningKey(connectortest.NewRSAKey(t))))
	if _, err := adapter.ParseRequest(ctx, forged); err == nil {
		t.Fatal("adapter accepted a forged token")
	}

	req := httptest.NewRequest("POST", "/api/messages", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+iss.Token(appID, fake.ServiceURL()))
	act, err := adapter.ParseRequest(ctx, req)
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	handler := activity.HandlerFuncs{OnMessageFunc: func(turn *activity.TurnContext) (schema.Activity, error) {
		return turn.SendActivity(activity.MsgOptionText("echo: " + turn.Activity.Text))
	}}
	if err := adapter.ProcessActivity(ctx, act, handler); err != nil {
		t.Fatalf("ProcessActivity: %v", err)
	}
	acts := fake.Activities("a:personal")
	if len(acts) != 1 || acts[0].Text() != "echo: hello" {
		t.Fatalf("connector got %+v", acts)
	}
	if z := connectortest.ZeroValues(acts[0].Raw); len(z) != 0 {
		t.Errorf("zero values in the adapter's reply: %v", z)
	}
}
