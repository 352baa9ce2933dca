// Package botbuilder plugs the bot's own connector client (package
// bot/connector) and inbound authentication (bot/auth, through
// bot/auth/botbuilder) into msbotbuilder-go's core.BotFrameworkAdapter, in
// place of that library's client and validator, which must not be used.
//
// It is separate from bot/connector because msbotbuilder-go's
// connector/client and core packages link that library's JWT and JWKS
// dependencies, which code calling connector.Client directly does not need.
//
// The package is built only with the build tag msbotbuilder
// (go test -tags msbotbuilder ...): msbotbuilder-go's connector/auth package
// needs modules (github.com/lestrrat-go/backoff/v2, blackmagic, httpcc,
// iter) that go.mod does not list yet. Once they are added, the build
// constraint can be removed.
package botbuilder

import (
	"github.com/infracloudio/msbotbuilder-go/connector/client"
	"github.com/infracloudio/msbotbuilder-go/core"

	"github.com/jitbot/jitbot/bot/auth"
	authbb "github.com/jitbot/jitbot/bot/auth/botbuilder"
	"github.com/jitbot/jitbot/bot/connector"
)

// *connector.Client has the method set of msbotbuilder-go's client.Client.
var _ client.Client = (*connector.Client)(nil)

// NewAdapter returns a core.BotFrameworkAdapter that authenticates inbound
// requests with a (an *auth.Validator, or an *auth.LocalValidator in local
// mode) and sends through c. It panics if a or c is nil.
//
// Note the adapter's limits (it cannot answer invoke activities in the HTTP
// response and posts every handler result as a new message); the bot's HTTP
// handler may prefer to call a.Authenticate and the connector directly.
func NewAdapter(appID string, a auth.Authenticator, c *connector.Client) *core.BotFrameworkAdapter {
	if c == nil {
		panic("botbuilder: NewAdapter called with a nil connector client")
	}
	return &core.BotFrameworkAdapter{
		AdapterSetting: core.AdapterSetting{AppID: appID},
		TokenValidator: authbb.NewTokenValidator(a),
		Client:         c,
	}
}
