package access

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what people type, counted in characters (not bytes). They are
// the one definition the domain enforces, the cards' inputs offer
// (maxLength) and the bot reports.
const (
	// MaxJustification bounds a request's justification.
	MaxJustification = 1000
	// MaxTicket bounds a ticket reference (INC-4711, CHG0012345, ...).
	MaxTicket = 64
	// MaxReason bounds an approver's reason for a decision.
	MaxReason = 500
	// MaxFeedbackComment bounds the comment a requester may add to their
	// feedback once their access ended.
	MaxFeedbackComment = 500
	// MaxDurationText bounds a duration as typed in a card (2h, 1h30m).
	MaxDurationText = 16
	// maxQuoted bounds the text quoted back in a message: the longest
	// text quoted in full is a reason.
	maxQuoted = MaxReason
)

// Length returns the number of characters in s, as the limits count them.
func Length(s string) int { return utf8.RuneCountInString(s) }

// Quote renders text a person typed for a Teams message as an inline code
// span, so that nothing in it becomes a link, a mention, an image or
// formatting: whitespace runs become one space, control and bidirectional
// override characters are dropped, backticks (which would end the span) are
// replaced by a look-alike, and text over MaxReason characters is cut with
// an ellipsis. An empty text is shown as an empty pair of quotes.
func Quote(s string) string {
	s = strings.Join(strings.Fields(visible(s)), " ")
	s = strings.ReplaceAll(s, "`", "ˋ")
	if rs := []rune(s); len(rs) > maxQuoted {
		s = strings.TrimSpace(string(rs[:maxQuoted-1])) + "…"
	}
	if s == "" {
		return "\"\""
	}
	return "`" + s + "`"
}

// Escape renders a name (a display name as Teams sends it, which its owner
// may choose) as plain text inside a Teams message: every character that
// markdown or HTML gives a meaning within a line (emphasis, code, links,
// images, tags, entities, and the ':' of an autolinked URL) is escaped with
// a backslash, line breaks become spaces, and control and bidirectional
// override characters are dropped.
func Escape(s string) string {
	s = strings.Join(strings.Fields(visible(s)), " ")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]()<>#|~&:", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// visible drops control characters (newlines and tabs become spaces) and
// the bidirectional embeddings, overrides and isolates that could disguise
// what a viewer sees.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return -1
		case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			return -1
		}
		return r
	}, s)
}
