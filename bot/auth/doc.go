// Package auth authenticates inbound Bot Framework requests: the JWT bearer
// token a channel (Microsoft Teams) sends with every activity it posts to the
// bot's messaging endpoint.
//
// [Validator] fails closed. A request is accepted only when the token is an
// RS256 JWT whose signature verifies against a key published in the Bot
// Framework OpenID metadata's JWKS, the key is endorsed for the activity's
// channel, iss and aud match the configuration, exp is present and not past,
// nbf is not in the future (both with a bounded clock skew), and the token's
// serviceurl claim equals the activity's serviceUrl. Metadata and keys are
// cached; an unknown key id triggers at most one re-fetch per
// KeyRefetchInterval, shared by concurrent callers. A channel sends the same
// token with many activities: a token that passed is remembered (by a
// digest, for up to 5 minutes and never past its expiry) and not verified
// again, while its key stays published and endorsed for the channel; the
// service URL is compared with every activity's.
//
// [LocalValidator] is for local development against the Microsoft 365 Agents
// Playground, which sends no token: it accepts only activities whose
// serviceUrl is a loopback address.
//
// Both implement [Authenticator]; the bot's HTTP handler calls it on the
// activity it decoded. Signing keys are fetched only from the metadata
// document's host or the configured key hosts (Config.KeyHosts).
//
// This package must not import msbotbuilder-go's connector/auth package (its
// token validation is unsafe; only schema is used here), the outbound
// connector client, or the Microsoft Graph SDK.
package auth
