// Package cards builds jitbot's Adaptive Cards (schema 1.5, what Teams
// renders) as pure functions from access domain values: the approval card
// approvers act on, the request form, its confirmation, a requester's status,
// the profile list and simple notices, the security channel's alerts
// (a membership that could not be removed, an unexplained member of a
// managed group), plus the Bot Framework envelopes that carry a card
// (attachment, invoke response).
//
// Every value a person typed (justification, reason, names, tickets), and
// every directory error (which may repeat such values), is rendered inert:
// it cannot add links, mentions or DATE/TIME functions to a card. Times use
// the cards' DATE/TIME functions so each viewer reads them in their own time
// zone.
//
// It imports only access and the standard library; the bot package sends
// what it builds.
package cards
