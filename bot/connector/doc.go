// Package connector is the bot's outbound client for the Bot Connector REST
// API (v3): sending, replying to, updating and deleting activities, and
// creating conversations (a 1:1 chat with a user, or a new thread in a Teams
// channel).
//
// Tokens come from any azcore.TokenCredential (client secret, certificate,
// managed identity, workload identity via azidentity), for the scope
// https://api.botframework.com/.default by default. Without a credential the
// client runs only in explicit local mode (for the Microsoft 365 Agents
// Playground) and sends no Authorization header. With one, it sends the
// token only to https service URLs.
//
// Outgoing activities are marshalled without zero values (no
// "0001-01-01T00:00:00Z" timestamps, no empty objects). Responses are read
// with a size limit and non-2xx answers become *StatusError, which carries
// the status and Retry-After. By default nothing is retried; Options.MaxRetries
// enables a bounded retry of throttled (429) requests, and of 502/503/504 for
// idempotent methods only, honouring Retry-After.
//
// Requests go only to service URLs on the configured hosts
// (Options.ServiceHosts, default the public cloud's Teams service host); in
// local mode only to loopback hosts. A URL on another host is refused before
// a request is built, so the token is never sent there.
//
// This package must not import msbotbuilder-go's connector/client or
// connector/auth packages (only schema), package bot/auth, or the Microsoft
// Graph SDK.
package connector
