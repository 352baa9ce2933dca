package bot

import (
	"fmt"
	"regexp"
	"strconv"
)

// A start in plain words: "at 22:00", "from 22:00", "tomorrow at 9:00",
// "at 9:00 tomorrow", "at 10pm", "from 10:30 pm". It is read into the
// domain's form ("22:00", "tomorrow 9:00"; see access.ParseStart) and its
// words taken out of the justification.

// plainClock matches a time of day in plain words, with an optional am or
// pm: 22:00, 9:30, 10pm, 10:30pm.
var plainClock = regexp.MustCompile(`^([01]?[0-9]|2[0-3])(?::([0-5][0-9]))?(am|pm)?$`)

// clock24 reads a time of day in plain words, with "am"/"pm" as the next
// word when it is not attached, into "15:04" form; n is the words read.
func clock24(word, next string) (string, int, bool) {
	m := plainClock.FindStringSubmatch(word)
	if m == nil {
		return "", 0, false
	}
	n, suffix := 1, m[3]
	if suffix == "" && (next == "am" || next == "pm") {
		suffix, n = next, 2
	}
	if m[2] == "" && suffix == "" {
		return "", 0, false // "at 9" may be anything: "at 9 customers"
	}
	h, _ := strconv.Atoi(m[1])
	switch {
	case suffix != "" && (h < 1 || h > 12):
		return "", 0, false
	case suffix == "pm" && h < 12:
		h += 12
	case suffix == "am" && h == 12:
		h = 0
	}
	mins := m[2]
	if mins == "" {
		mins = "00"
	}
	return fmt.Sprintf("%d:%s", h, mins), n, true
}

// starts finds every start in the message and takes its words out; the
// distinct ones are returned in order of appearance.
func (p *plainParse) starts() []string {
	var out []string
	for i := 0; i < len(p.toks); i++ {
		if !startWords[p.w(i)] {
			continue
		}
		j, day := i+1, ""
		if w := p.w(j); w == "today" || w == "tomorrow" {
			day, j = w, j+1
		}
		clock, n, ok := clock24(p.w(j), p.w(j+1))
		if !ok {
			continue
		}
		first, last := i, j+n-1
		if day == "" {
			if w := p.w(i - 1); w == "today" || w == "tomorrow" {
				day, first = w, i-1
			} else if w := p.w(last + 1); w == "today" || w == "tomorrow" {
				day, last = w, last+1
			}
		}
		for k := first; k <= last; k++ {
			p.used[k] = true
		}
		s := clock
		if day != "" {
			s = day + " " + clock
		}
		if !containsString(out, s) {
			out = append(out, s)
		}
		i = last
	}
	return out
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// startQuestion asks which start was meant when several were found.
func startQuestion(starts []string) string {
	return "When should it start: " + orList(starts) + "?"
}
