// Package connectortest provides in-process fakes of the outside systems the
// bot talks to, for tests only. There is one fake per outside system, shared by
// every test in the module:
//
//   - [Connector]: the Bot Connector REST service (what the bot calls to send,
//     reply to, update and delete activities and to create conversations). It
//     records every request, keeps the current version of every activity per
//     conversation, can require a bearer token and can inject failures.
//   - [Issuer]: the channel's signing side (what Teams uses to call the bot). It
//     holds an RSA key, serves an OpenID metadata document and a JWKS with
//     channel endorsements, and mints signed (or deliberately broken) tokens.
//
// The fake Microsoft Entra ID authority the bot gets its tokens from is
// internal/entratest; [WithTokenFrom] makes the Connector accept only its
// tokens.
//
// The package must only be imported from tests. It must not import the
// production packages it stands in for (bot/auth, bot/connector) so that
// their tests can use it without import cycles, and it must never import the
// Microsoft Graph SDK.
package connectortest
