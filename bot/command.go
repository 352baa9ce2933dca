package bot

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/internal/chatcmd"
)

// The commands people type in a chat with the bot (see chatcmd, which
// also gives their help and the manifest's command lists).
const (
	commandHelp     = chatcmd.Help
	commandProfiles = chatcmd.Profiles
	commandRequest  = chatcmd.Request
	commandStatus   = chatcmd.Status
	commandAudit    = chatcmd.Audit
	// commandRelease ends the sender's active grant early: `release` (their
	// single active grant) or `release <request id>`.
	commandRelease = chatcmd.Release
	// commandCancel withdraws the sender's pending request: `cancel` (their
	// single pending request) or `cancel <request id>`.
	commandCancel = chatcmd.Cancel
)

// Command is a parsed chat message.
type Command struct {
	Verb string // one of the command constants
	// For a one-line request: the profile, duration, ticket and justification.
	Profile       string
	Duration      time.Duration
	Ticket        string
	Justification string
	// Severity is the request's severity (see takeSeverity; "" for none).
	Severity string
	// Form is set for a bare `request`: reply with the request form.
	Form bool
	// Period is an audit report's period as typed ("" for the default).
	Period string
	// RequestID is the request a command names (`release <request id>`,
	// `cancel <request id>`; "" for the sender's only one).
	RequestID string
	// Plain is the message, without mentions, when it starts with no
	// command (or with a greeting and more words): it may be a request in
	// plain words (see parsePlain), read before the answer parseCommand
	// gives otherwise.
	Plain string
	// Reason is why (`extend ... <reason...>`).
	Reason string
	// Start is when a one-line request's access should start, as typed
	// after `at` or `from` (see takeStart; "" for at once).
	Start string
}

// reportPeriod matches the words of `audit` that name a period rather than
// a profile: a number of days, or a range of days.
var reportPeriod = regexp.MustCompile(`(?i)^([0-9]+d|[0-9-]+\.\.[0-9-]+)$`)

var mentionTag = regexp.MustCompile(`(?is)<at[^>]*>.*?</at>`)

// cleanText removes @mentions, HTML line breaks and surrounding space from a
// Teams message.
func cleanText(text string) string {
	text = mentionTag.ReplaceAllString(text, " ")
	text = strings.NewReplacer("<p>", " ", "</p>", " ", "<br>", " ", "<br/>", " ", "&nbsp;", " ").Replace(text)
	return strings.TrimSpace(text)
}

// ticketMatcher tells whether a word is a ticket for the named profile; nil
// means the profile is unknown.
type ticketMatcher func(profile, word string) (isTicket, known bool)

// parseCommand reads a message. A request line reads
// `request <profile> <duration> [<ticket>] <justification...>`; the word after
// the duration is the ticket when it matches the profile's ticket pattern.
func parseCommand(text string, isTicket ticketMatcher) (Command, error) {
	words := strings.Fields(cleanText(text))
	if len(words) == 0 {
		return Command{Verb: commandHelp}, nil
	}
	verb := strings.ToLower(strings.TrimPrefix(words[0], "/"))
	switch verb {
	case commandHelp, "?":
		return Command{Verb: commandHelp}, nil
	case "hi", "hello", "hey":
		c := Command{Verb: commandHelp}
		if len(words) > 1 {
			c.Plain = strings.Join(words, " ")
		}
		return c, nil
	case commandProfiles, commandStatus:
		return Command{Verb: verb}, nil
	case commandAudit:
		return parseAudit(words[1:])
	case commandRelease:
		return parseRelease(words[1:])
	case commandCancel:
		return parseCancel(words[1:])
	case commandExtend:
		return parseExtend(words[1:])
	case commandRequest:
	default:
		return Command{Plain: strings.Join(words, " ")}, fmt.Errorf("I don't know %s. Send `help` for the commands.", access.Quote(words[0]))
	}
	args := words[1:]
	if len(args) == 0 {
		return Command{Verb: commandRequest, Form: true}, nil
	}
	c := Command{Verb: commandRequest, Profile: strings.ToLower(args[0])}
	var rest []string
	if len(args) < 2 {
		return c, fmt.Errorf("Say how long you need access, e.g. %s.", access.Quote("request "+c.Profile+" 2h INC-4711 why you need it"))
	}
	d, err := time.ParseDuration(strings.ToLower(args[1]))
	if err != nil {
		return c, fmt.Errorf("%s is not a duration; write it like `45m`, `2h` or `1h30m`.", access.Quote(args[1]))
	}
	c.Duration = d
	c.Start, rest = takeStart(args[2:])
	if len(rest) > 0 {
		if ok, _ := isTicket(c.Profile, rest[0]); ok {
			c.Ticket, rest = rest[0], rest[1:]
		}
	}
	c.Justification = strings.Join(rest, " ")
	return c, nil
}

// startWords introduce a request's start: `at 22:00`, `from 22:00`.
var startWords = map[string]bool{"at": true, "from": true}

// clockWord matches a time of day as typed: 22:00, 9:30, 9, 21h.
var clockWord = regexp.MustCompile(`^([01]?[0-9]|2[0-3])(:[0-5][0-9])?h?$`)

// dateWord matches a date as typed: 2026-12-02.
var dateWord = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// takeStart reads a start right after a request's duration: `at 22:00`,
// `from 22:00`, `at tomorrow 9:00`, `tomorrow at 9:00`, `at 2026-12-02
// 22:00`. It returns the start as the domain reads it (access.ParseStart:
// "22:00", "tomorrow 9:00", "2026-12-02 22:00") and the words after it; a
// start word not followed by a time is left in the justification.
func takeStart(words []string) (string, []string) {
	lower := func(i int) string {
		if i < len(words) {
			return strings.ToLower(words[i])
		}
		return ""
	}
	i, day := 0, ""
	if w := lower(0); (w == "today" || w == "tomorrow") && startWords[lower(1)] {
		day, i = w, 2
	} else if startWords[w] {
		i = 1
		if w := lower(1); w == "today" || w == "tomorrow" || dateWord.MatchString(w) {
			day, i = w, 2
		}
	} else {
		return "", words
	}
	if !clockWord.MatchString(lower(i)) {
		return "", words
	}
	start := lower(i)
	if day != "" {
		start = day + " " + start
	}
	return start, words[i+1:]
}

// parseAudit reads `audit [7d | 30d | 2026-11-01..2026-11-30] [profile]`,
// the two in either order; the period's meaning is the domain's (see
// access.ParsePeriod).
func parseAudit(args []string) (Command, error) {
	c := Command{Verb: commandAudit}
	for _, a := range args {
		switch {
		case reportPeriod.MatchString(a) && c.Period == "":
			c.Period = a
		case !reportPeriod.MatchString(a) && c.Profile == "":
			c.Profile = strings.ToLower(a)
		default:
			return c, fmt.Errorf("Write %s, e.g. %s.", access.Quote("audit [7d | 30d | 2026-11-01..2026-11-30] [profile]"), access.Quote("audit 30d prod-db"))
		}
	}
	return c, nil
}
