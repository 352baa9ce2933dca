// Package bot is jitbot's Bot Framework edge: the /api/messages endpoint,
// inbound token checks, routing of Teams messages and card actions to the
// access service, and the proactive messages and card updates it sends back
// (it implements access.Notifier).
//
// It imports access, cards and its own sub-packages; never graph or storage.
package bot
