// Package bot is jitbot's Bot Framework edge: the /api/messages endpoint,
// inbound token checks, routing of Teams messages and card actions to the
// access service, and the proactive messages and card updates it sends back
// (it implements access.Notifier).
//
// It accepts activities from Microsoft Teams only (channelId msteams), whose
// tenant ids agree and whose serviceUrl is on a configured host; in local
// mode only JSON posted to a loopback Host without an Origin header, naming a
// loopback service URL.
//
// It imports access, cards and its own sub-packages; never graph or storage.
package bot
