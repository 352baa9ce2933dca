package cards

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/jitbot/jitbot/access"
)

// Length limits for text people typed, so that one long justification can
// neither push a card past Teams' message size nor bury its buttons. The
// limits the domain enforces are its own (access.MaxJustification,
// access.MaxTicket, access.MaxReason); the cards' inputs offer the same.
const (
	maxJustification = access.MaxJustification   // also the form's maxLength
	maxReason        = access.MaxReason          // also the deny reason's maxLength
	maxTicket        = access.MaxTicket          // also the form's maxLength
	maxComment       = access.MaxFeedbackComment // also the feedback card's maxLength
	maxLine          = 200                       // names and other one-line values
)

// wordJoiner is an invisible character that never breaks a line. Put between
// two characters it keeps them apart for every markdown and DATE/TIME parser
// while the viewer still reads the original text.
const wordJoiner = "\u2060"

// inert returns s so that no client turns any of it into a link, an image, a
// mention, an HTML tag, or a DATE/TIME function: it puts a word joiner inside
// "{{" (DATE/TIME functions), "${" (template expressions), "](" (markdown
// links and images) and after "<" (mentions, autolinks, tags), and drops
// control and bidirectional-override characters, which could disguise
// what is shown. Emphasis markers stay as typed: at worst they change a
// word's weight.
func inert(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	rs := []rune(s)
	for i, r := range rs {
		if dropped(r) {
			continue
		}
		b.WriteRune(r)
		var next rune
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case r == '{' && next == '{',
			r == '$' && next == '{',
			r == ']' && next == '(',
			r == '<' && next != 0:
			b.WriteString(wordJoiner)
		}
	}
	return b.String()
}

// dropped reports characters removed from displayed text: control characters
// other than newline and tab, and the bidirectional embeddings, overrides and
// isolates that reorder what a viewer sees.
func dropped(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// oneLine renders typed text for a single line: whitespace runs (newlines
// included) become one space, and the result is at most max characters
// and inert.
func oneLine(s string, max int) string {
	return inert(truncate(strings.Join(strings.Fields(s), " "), max))
}

// block renders typed text that may span lines: line endings are normalised,
// outer blank space trimmed, and the result is at most max characters and
// inert. It belongs in a text run, where newlines show as line breaks.
func block(s string, max int) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return inert(truncate(strings.TrimSpace(s), max))
}

// truncate cuts s to at most max characters, marking a cut with an ellipsis.
func truncate(s string, max int) string {
	rs := []rune(s)
	if len(rs) <= max {
		return s
	}
	return strings.TrimSpace(string(rs[:max-1])) + "…"
}

// stamp formats t for the cards' DATE/TIME functions: RFC 3339 in UTC with
// a Z and whole seconds, the only form every client parses.
func stamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

// when renders t as a date and a time that each viewer's client shows in
// their own time zone and language; "" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	s := stamp(t)
	return "{{DATE(" + s + ", SHORT)}} {{TIME(" + s + ")}}"
}

// FormatDuration renders d the way people type durations: "2h", "1h30m",
// "45m" (whole seconds, and "0m" for nothing). The result is a valid Go
// duration string.
func FormatDuration(d time.Duration) string { return access.FormatDuration(d) }

// Fact is one title and value line of a card's fact list. Make one with
// TextFact or TimeFact: both render the value safely.
type Fact struct {
	title, value string
}

// MarshalJSON writes the fact as the card schema's {"title","value"}.
func (f Fact) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}{f.title, f.value})
}

// TextFact is a fact whose value is shown as written, on one line: it may
// safely hold text a person typed.
func TextFact(title, value string) Fact {
	return Fact{title: oneLine(title, maxLine), value: oneLine(value, maxLine)}
}

// TimeFact is a fact whose value is t in each viewer's own time zone ("—"
// for the zero time).
func TimeFact(title string, t time.Time) Fact {
	v := when(t)
	if v == "" {
		v = "—"
	}
	return Fact{title: oneLine(title, maxLine), value: v}
}
