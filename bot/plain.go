package bot

// A request in plain words: "I need prod-db for 2 hours for INC-4711,
// checkout is slow". parsePlain is a pure function of the text and the
// configured profiles, so a test pins every reading down; it proposes and the
// domain decides (a confident reading goes through the same Submit as the
// one-liner, with the same refusals). Where anything is missing or ambiguous
// the bot answers with the request form, pre-filled: it never guesses.

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// plainOutcome is what a message in plain words turned out to be.
type plainOutcome int

const (
	// plainNotRequest: no word like a profile and no duration; the
	// message gets the answer it got before (help, or "I don't know").
	plainNotRequest plainOutcome = iota
	// plainUncertain: something is missing or ambiguous; the bot answers
	// with the request form, pre-filled, and the question to answer.
	plainUncertain
	// plainConfident: one profile, one duration, a justification and the
	// ticket the profile needs were all found without ambiguity.
	plainConfident
)

// plainRequest is what parsePlain understood.
type plainRequest struct {
	Outcome plainOutcome
	// Profile is the profile chosen, or the single one a partial name
	// suggests ("prod" for prod-db); "" when none or several.
	Profile string
	// Candidates are the profiles the words could mean when more than one.
	Candidates []string
	// Duration is 0 unless exactly one duration was found.
	Duration time.Duration
	// Ticket is the word that matched the profile's ticket_pattern.
	Ticket        string
	Justification string
	// Severity is a severity word as normalised ("sev1", "p2"), "" when
	// none. Profiles declare no severities yet: it is kept out of the
	// justification and kept here for when they do.
	Severity string
	// Start is when the access should start, as the domain reads it
	// ("22:00", "tomorrow 9:00"; see starts), "" for at once or when
	// several were found.
	Start string
	// Question says, in one line, what is missing or ambiguous (set when
	// Outcome is plainUncertain).
	Question string
}

// token is a word of the message: as typed (raw) and lower-cased without
// the punctuation around it (word; "" for a dash or other punctuation
// alone).
type token struct {
	raw, word string
}

// trimPunct is the punctuation taken off both ends of a word.
const trimPunct = `.,;:!?()[]{}"'“”‘’`

// core is the word as typed without the punctuation around it.
func (t token) core() string { return strings.Trim(t.raw, trimPunct) }

func tokenize(text string) []token {
	fields := strings.Fields(cleanText(text))
	out := make([]token, 0, len(fields))
	for _, f := range fields {
		t := token{raw: f}
		if strings.IndexFunc(f, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			t.word = strings.ToLower(strings.Trim(f, trimPunct))
		}
		out = append(out, t)
	}
	return out
}

// parsePlain reads a request written in plain words against the configured
// profiles.
func parsePlain(text string, profiles []access.Profile) plainRequest {
	p := &plainParse{toks: tokenize(text), profiles: profiles}
	p.used = make([]bool, len(p.toks))
	p.ticketLike = make([]bool, len(p.toks))
	for i, t := range p.toks {
		for _, pr := range profiles {
			p.ticketLike[i] = p.ticketLike[i] || (!p.isName(t.word) && ticketWord(t.core(), pr.TicketPattern))
		}
	}
	return p.parse()
}

type plainParse struct {
	toks     []token
	used     []bool // words already read as part of something
	profiles []access.Profile
	spans    []profileSpan // where profiles were matched
	// ticketLike marks the words that may be a ticket of some profile.
	ticketLike []bool
}

func (p *plainParse) w(i int) string {
	if i < 0 || i >= len(p.toks) || p.used[i] {
		return ""
	}
	return p.toks[i].word
}

func (p *plainParse) parse() plainRequest {
	var r plainRequest
	r.Severity = p.severity()
	starts := p.starts()
	durations := p.durations()
	strong, fuzzy, partial := p.profileMatches()
	if len(strong)+len(fuzzy) == 0 && len(durations) == 0 {
		// No profile and no duration, or only part of a name ("is prod
		// down?"): no request.
		return plainRequest{Outcome: plainNotRequest, Severity: r.Severity}
	}

	var questions []string
	var chosen *access.Profile
	switch {
	case len(strong) == 1:
		chosen = p.profile(strong[0])
	case len(strong) > 1:
		r.Candidates = strong
	case len(fuzzy) == 1:
		// A name with a typo may be an ordinary word ("staying" for
		// staging): asked about, never chosen silently.
		r.Profile = fuzzy[0]
		questions = append(questions, fmt.Sprintf("Did you mean %s?", fuzzy[0]))
	case len(fuzzy) > 1:
		r.Candidates = fuzzy
	case len(partial) == 1:
		r.Profile = partial[0]
		questions = append(questions, fmt.Sprintf("Did you mean %s?", partial[0]))
	case len(partial) > 1:
		r.Candidates = partial
	}
	if len(r.Candidates) > 0 {
		questions = append(questions, "Which profile: "+orList(r.Candidates)+"?")
	}
	if chosen != nil {
		r.Profile = chosen.Name
	}
	p.takeProfile(levelOf(len(strong), len(fuzzy), len(partial)))
	if r.Profile == "" && len(r.Candidates) == 0 {
		questions = append(questions, "Which profile do you need?")
	}

	switch len(durations) {
	case 0:
		questions = append(questions, "How long do you need it (for example 2h or 90 minutes)?")
	case 1:
		r.Duration = durations[0]
	default:
		spans := make([]string, len(durations))
		for i, d := range durations {
			spans[i] = access.FormatDuration(d)
		}
		questions = append(questions, "How long: "+orList(spans)+"?")
	}

	switch len(starts) {
	case 0:
	case 1:
		r.Start = starts[0]
	default:
		questions = append(questions, startQuestion(starts))
	}
	questions = append(questions, p.ticket(&r, chosen)...)
	r.Justification = p.justification()
	if r.Justification == "" {
		questions = append(questions, "Why do you need it?")
	}
	if len(questions) == 0 {
		r.Outcome = plainConfident
		return r
	}
	r.Outcome = plainUncertain
	r.Question = strings.Join(questions, " ")
	return r
}

// levelOf is the level the profile was chosen (or asked about) at.
func levelOf(strong, fuzzy, partial int) int {
	switch {
	case strong > 0:
		return matchStrong
	case fuzzy > 0:
		return matchFuzzy
	case partial > 0:
		return matchPartial
	}
	return 0
}

func (p *plainParse) profile(name string) *access.Profile {
	for i := range p.profiles {
		if p.profiles[i].Name == name {
			return &p.profiles[i]
		}
	}
	return nil
}

// orList writes "a", "a or b", "a, b or c".
func orList(xs []string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// isTicketLike reports whether the word at i may be a ticket of some
// profile (see ticketWord): such a word is never read as a profile or a
// severity.
func (p *plainParse) isTicketLike(i int) bool { return p.ticketLike[i] }

// ticketWord reports whether a word (as typed, without the punctuation
// around it) may be a ticket matching pattern: it matches, and it has a
// digit, as every ticket reference has, so that a loose pattern does not
// make ordinary words tickets.
func ticketWord(core string, pattern *regexp.Regexp) bool {
	return pattern != nil && strings.ContainsAny(core, "0123456789") && pattern.MatchString(core)
}

var (
	severityWord  = regexp.MustCompile(`^(sev|p)[-_]?([0-5])$`)
	severityLevel = regexp.MustCompile(`^[0-5]$`)
)

// severity finds a severity word ("sev1", "sev 1", "SEV-1", "p1") and takes
// it out of the message; the first one found is returned.
func (p *plainParse) severity() string {
	found := ""
	for i := range p.toks {
		w := p.w(i)
		if w == "" || p.isName(w) || p.isTicketLike(i) {
			continue
		}
		level := ""
		if m := severityWord.FindStringSubmatch(w); m != nil {
			level = m[1] + m[2]
			p.used[i] = true
		} else if (w == "sev" || w == "severity") && severityLevel.MatchString(p.w(i+1)) {
			level = "sev" + p.w(i+1)
			p.used[i], p.used[i+1] = true, true
		}
		if level != "" && found == "" {
			found = level
		}
	}
	return found
}

// isName reports whether w is a profile's name or alias exactly.
func (p *plainParse) isName(w string) bool {
	for _, pr := range p.profiles {
		for _, n := range names(pr) {
			if w == n {
				return true
			}
		}
	}
	return false
}

func names(pr access.Profile) []string { return append([]string{pr.Name}, pr.Aliases...) }

// Units of durations in words.
var durationUnits = map[string]time.Duration{
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"day": 24 * time.Hour, "days": 24 * time.Hour,
}

// numberWords are the numbers written in words that a duration may use.
var numberWords = map[string]float64{
	"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}

var (
	// compactDuration is a number and a unit in one word: 2h, 90min,
	// 1.5hours, 2-hour.
	compactDuration = regexp.MustCompile(`^([0-9]+(?:[.,][0-9]+)?)-?(h|hr|hrs|hour|hours|m|min|mins|minute|minutes|day|days)$`)
	// hoursAndMinutes is 2h30 (minutes without their unit).
	hoursAndMinutes = regexp.MustCompile(`^([0-9]+)h([0-9]{1,2})$`)
	// goDuration is Go's duration syntax in hours and minutes: seconds
	// (a latency of 45s) are no access duration.
	goDuration = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(h|m))+$`)
	number     = regexp.MustCompile(`^[0-9]+(?:[.,][0-9]+)?$`)
)

// durationFiller are the words before a duration that belong to it: "for
// the next 2 hours", "about an hour".
var durationFiller = map[string]bool{"for": true, "the": true, "next": true, "about": true, "around": true, "roughly": true, "approximately": true, "another": true}

// durations finds every duration in the message and takes it out; the
// distinct values are returned in order of appearance.
func (p *plainParse) durations() []time.Duration {
	var out []time.Duration
	add := func(d time.Duration) {
		for _, o := range out {
			if o == d {
				return
			}
		}
		out = append(out, d)
	}
	for i := 0; i < len(p.toks); i++ {
		if p.w(i) == "" {
			continue
		}
		d, unit, n := p.durationAt(i)
		if n == 0 {
			continue
		}
		// "30 or 45 minutes", "an hour or two": two durations.
		var alt time.Duration
		if q, ok := quantity(p.w(i - 2)); ok && p.w(i-1) == "or" {
			alt = time.Duration(q * float64(unit))
			p.used[i-2], p.used[i-1] = true, true
		}
		for k := i; k < i+n; k++ {
			p.used[k] = true
		}
		for j := i - 1; j >= 0 && durationFiller[p.w(j)]; j-- {
			p.used[j] = true
		}
		if alt > 0 {
			add(alt.Round(time.Minute)) // the first of the two
		}
		add(d)
		if q, ok := quantity(p.w(i + n + 1)); ok && p.w(i+n) == "or" {
			if _, _, more := p.durationAt(i + n + 1); more == 0 {
				add(time.Duration(q * float64(unit)).Round(time.Minute))
				p.used[i+n], p.used[i+n+1] = true, true
			}
		}
		i += n - 1
	}
	return out
}

// durationAt reads a duration starting at word i: one part ("2 hours", "an
// hour and a half", "1h30m") and maybe a second in smaller units ("2 hours
// and 30 minutes", "1h 30m"). It returns the duration, rounded to the
// minute, the unit of its first part and the number of words read (0:
// none).
func (p *plainParse) durationAt(i int) (time.Duration, time.Duration, int) {
	d, unit, n := p.durationPart(i)
	if n == 0 {
		return 0, 0, 0
	}
	j := i + n
	k := j
	if p.w(k) == "and" {
		k++
	}
	if d2, unit2, n2 := p.durationPart(k); n2 > 0 && unit2 < unit {
		d += d2
		j = k + n2
	}
	d = d.Round(time.Minute)
	if d <= 0 {
		return 0, 0, 0
	}
	return d, unit, j - i
}

// quantity reads a number in digits (90, 1.5, 1,5) or in words (an, two,
// twelve).
func quantity(w string) (float64, bool) {
	if q, ok := numberWords[w]; ok {
		return q, true
	}
	if !number.MatchString(w) {
		return 0, false
	}
	q, err := strconv.ParseFloat(strings.Replace(w, ",", ".", 1), 64)
	return q, err == nil
}

// durationPart reads one number and unit at word i. It returns the
// duration, its unit (the smallest unit written) and the words read.
func (p *plainParse) durationPart(i int) (time.Duration, time.Duration, int) {
	w := p.w(i)
	if w == "" {
		return 0, 0, 0
	}
	// half an hour, half a hour, half hour, half-hour
	if w == "half-hour" || w == "half-an-hour" {
		return 30 * time.Minute, time.Minute, 1
	}
	if w == "half" {
		j := i + 1
		if a := p.w(j); a == "an" || a == "a" {
			j++
		}
		if u, ok := durationUnits[p.w(j)]; ok && u > time.Minute {
			return u / 2, time.Minute, j - i + 1
		}
		return 0, 0, 0
	}
	if m := hoursAndMinutes.FindStringSubmatch(w); m != nil {
		h, _ := strconv.Atoi(m[1])
		mins, _ := strconv.Atoi(m[2])
		return time.Duration(h)*time.Hour + time.Duration(mins)*time.Minute, time.Minute, 1
	}
	if m := compactDuration.FindStringSubmatch(w); m != nil {
		q, _ := strconv.ParseFloat(strings.Replace(m[1], ",", ".", 1), 64)
		u := durationUnits[m[2]]
		return time.Duration(q * float64(u)), u, 1
	}
	if goDuration.MatchString(w) {
		if d, err := time.ParseDuration(w); err == nil {
			u := time.Minute // 1h30m, 45m: nothing smaller follows
			if strings.HasSuffix(w, "h") {
				u = time.Hour // 2h: minutes may follow (2h 30m)
			}
			return d, u, 1
		}
	}
	q, ok := quantity(w)
	if !ok {
		return 0, 0, 0
	}
	j := i + 1
	half := false
	if p.w(j) == "and" && p.w(j+1) == "a" && p.w(j+2) == "half" { // one and a half hours
		half, j = true, j+3
	}
	u, ok := durationUnits[p.w(j)]
	if !ok {
		return 0, 0, 0
	}
	d := time.Duration(q * float64(u))
	j++
	if !half && p.w(j) == "and" && p.w(j+1) == "a" && p.w(j+2) == "half" { // an hour and a half
		half, j = true, j+3
	}
	if half {
		d += u / 2
	}
	return d, u, j - i
}

// How sure a profile match is.
const (
	// matchPartial: the word is the first part of a name ("prod" for
	// prod-db); never enough to choose a profile.
	matchPartial = iota + 1
	// matchFuzzy: the word is a name with a typo (a small edit distance).
	matchFuzzy
	// matchStrong: the name or an alias, exactly or written differently
	// (case, punctuation, spaces, a plural: "the Prod DBs").
	matchStrong
)

// profileSpan is where a profile was matched.
type profileSpan struct {
	name         string
	level        int
	start, count int
}

// Words around a profile's name that belong to it: "access to the prod
// db", "prod-db access".
var (
	profileBefore = map[string]bool{"the": true, "to": true, "on": true, "into": true, "for": true, "access": true, "of": true}
	profileAfter  = map[string]bool{"access": true, "role": true, "group": true, "profile": true, "permissions": true}
)

// commonWords are never read as a misspelt or partial profile name.
var commonWords = map[string]bool{
	"i": true, "me": true, "my": true, "we": true, "need": true, "needs": true, "want": true, "please": true,
	"give": true, "grant": true, "get": true, "have": true, "can": true, "could": true, "would": true, "like": true,
	"access": true, "for": true, "the": true, "to": true, "on": true, "of": true, "in": true, "and": true, "or": true,
	"a": true, "an": true, "is": true, "it": true, "because": true, "since": true, "with": true, "hours": true,
	"minutes": true, "hour": true, "minute": true, "request": true, "thanks": true, "there": true, "their": true,
	"hello": true, "about": true, "after": true, "again": true, "admin": true,
}

// nameKey is a name without case and punctuation: "Prod_DB" and "prod db"
// are both "proddb".
func nameKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxTypos is the edit distance tolerated in a name of n letters and
// digits: none below 5, one up to 9, two from 10.
func maxTypos(n int) int {
	switch {
	case n < 5:
		return 0
	case n < 10:
		return 1
	}
	return 2
}

// profileMatches finds the profiles the message names. It returns the
// profiles matched strongly, with a typo and partially (each in
// configuration order) and remembers where.
func (p *plainParse) profileMatches() (strong, fuzzy, partial []string) {
	var spans []profileSpan
	for i := range p.toks {
		for n := 1; n <= 3 && i+n <= len(p.toks); n++ {
			words := make([]string, 0, n)
			common := false
			for k := i; k < i+n; k++ {
				if p.w(k) == "" || p.isTicketLike(k) {
					words = nil
					break
				}
				words = append(words, p.w(k))
				common = common || commonWords[p.w(k)]
			}
			if words == nil {
				break
			}
			key := nameKey(strings.Join(words, ""))
			if key == "" {
				continue
			}
			for _, pr := range p.profiles {
				level := 0
				for _, nm := range names(pr) {
					level = max(level, matchLevel(words, key, nm, common))
				}
				if level > 0 {
					spans = append(spans, profileSpan{name: pr.Name, level: level, start: i, count: n})
				}
			}
		}
	}
	p.spans = spans
	byLevel := func(level int) []string {
		var out []string
		for _, pr := range p.profiles {
			for _, s := range spans {
				if s.name == pr.Name && s.level == level {
					out = append(out, pr.Name)
					break
				}
			}
		}
		return out
	}
	return byLevel(matchStrong), byLevel(matchFuzzy), byLevel(matchPartial)
}

// matchLevel is how well the words (key: joined without punctuation) name
// nm; 0 when not at all.
func matchLevel(words []string, key, nm string, common bool) int {
	nk := nameKey(nm)
	switch {
	case len(words) == 1 && words[0] == nm:
		return matchStrong
	case key == nk, strings.HasSuffix(key, "s") && key[:len(key)-1] == nk:
		return matchStrong
	case common:
		return 0
	case len(words) <= 2 && len(key) >= 4 && abs(len(key)-len(nk)) <= maxTypos(len(nk)) && editDistance(key, nk) <= maxTypos(len(nk)):
		return matchFuzzy
	case len(words) == 1 && strings.Contains(nm, "-") && strings.HasPrefix(nm, words[0]+"-") && len(nameKey(words[0])) >= 2:
		return matchPartial
	}
	return 0
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// takeProfile takes the words that named the profiles at level (and the
// words around them that belong to them) out of the message.
func (p *plainParse) takeProfile(level int) {
	for _, s := range p.spans {
		if s.level != level {
			continue
		}
		for k := s.start; k < s.start+s.count; k++ {
			p.used[k] = true
		}
		for j := s.start - 1; j >= 0 && profileBefore[p.w(j)]; j-- {
			p.used[j] = true
		}
		for j := s.start + s.count; j < len(p.toks) && profileAfter[p.w(j)]; j++ {
			p.used[j] = true
		}
	}
}

// editDistance is the optimal string alignment distance of a and b (an
// insertion, a deletion, a substitution or a swap of neighbours each count
// one).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// ticketFiller are the words before a ticket that belong to it: "for
// INC-4711", "ticket INC-4711".
var ticketFiller = map[string]bool{"for": true, "ticket": true, "incident": true, "change": true, "ref": true, "re": true}

// ticket finds the ticket: a word matching the chosen profile's pattern,
// anywhere. It returns the questions to ask about it (none when all is
// clear). With no profile chosen, a word matching some profile's pattern
// pre-fills the form.
func (p *plainParse) ticket(r *plainRequest, chosen *access.Profile) []string {
	var mine, other []string
	at := map[string][]int{}
	for i, t := range p.toks {
		if p.used[i] {
			continue
		}
		core := t.core()
		switch {
		case chosen != nil && ticketWord(core, chosen.TicketPattern):
			mine = appendNew(mine, core)
		case p.isTicketLike(i):
			other = appendNew(other, core)
		default:
			continue
		}
		at[core] = append(at[core], i)
	}
	take := func(words ...string) {
		for _, w := range words {
			for _, i := range at[w] {
				p.used[i] = true
				for j := i - 1; j >= 0 && ticketFiller[p.w(j)]; j-- {
					p.used[j] = true
				}
			}
		}
	}
	switch {
	case chosen == nil:
		if len(other) == 1 {
			r.Ticket = other[0]
			take(other...)
		}
		return nil
	case len(mine) == 1:
		r.Ticket = mine[0]
		take(mine...)
		return nil
	case len(mine) > 1:
		take(mine...)
		return []string{"Which ticket: " + orList(mine) + "?"}
	case chosen.TicketPattern == nil:
		return nil // any other ticket-like word stays in the justification
	case len(other) == 1:
		r.Ticket = other[0]
		take(other...)
		return []string{fmt.Sprintf("%s is not a ticket for %s (format %s).", other[0], chosen.Name, chosen.TicketPattern)}
	case chosen.RequireTicket:
		return []string{fmt.Sprintf("%s needs a ticket (format %s).", chosen.Name, chosen.TicketPattern)}
	}
	return nil
}

func appendNew(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// Filler of the justification. leadFiller is taken off the front, again
// and again ("Hi team, could you give me access to ..."); politeness goes
// wherever it is; trailFiller comes off the end.
var (
	leadFiller = [][]string{
		{"hi"}, {"hello"}, {"hey"}, {"team"}, {"jitbot"}, {"bot"},
		{"i", "need"}, {"i", "want"}, {"i'd", "like"}, {"i’d", "like"}, {"id", "like"}, {"i", "would", "like"},
		{"can", "i", "get"}, {"can", "i", "have"}, {"could", "i", "get"}, {"could", "i", "have"}, {"may", "i", "have"},
		{"can", "you", "give", "me"}, {"could", "you", "give", "me"}, {"can", "you", "grant", "me"},
		{"give", "me"}, {"grant", "me"}, {"get", "me"}, {"need"}, {"want"}, {"request"}, {"requesting"},
		{"access"}, {"to"}, {"for"}, {"on"}, {"me"}, {"because"}, {"since"}, {"as"}, {"so"}, {"and"}, {"or"},
	}
	politeness  = map[string]bool{"please": true, "pls": true, "plz": true, "kindly": true, "thanks": true, "thx": true}
	trailFiller = map[string]bool{"for": true, "to": true, "and": true, "access": true, "because": true, "with": true}
)

// justification is what is left of the message once the profile, duration,
// ticket, severity and filler are taken out.
func (p *plainParse) justification() string {
	var left []token
	for i, t := range p.toks {
		if p.used[i] || politeness[t.word] || t.word == "" {
			continue // read already, politeness, or a lone dash
		}
		if t.word == "thank" && i+1 < len(p.toks) && p.toks[i+1].word == "you" {
			p.used[i+1] = true
			continue
		}
		left = append(left, t)
	}
	for again := true; again; {
		again = false
		for _, f := range leadFiller {
			if len(left) >= len(f) && wordsAre(left[:len(f)], f) {
				left, again = left[len(f):], true
				break
			}
		}
	}
	for len(left) > 0 && trailFiller[left[len(left)-1].word] {
		left = left[:len(left)-1]
	}
	raws := make([]string, len(left))
	for i, t := range left {
		raws[i] = t.raw
	}
	return strings.Trim(strings.Join(raws, " "), " ,;:-–—")
}

func wordsAre(ts []token, ws []string) bool {
	for i, w := range ws {
		if ts[i].word != w {
			return false
		}
	}
	return true
}

// answerPlain answers a message in plain words: a confident reading is
// submitted like the one-liner; an uncertain one gets the request form,
// pre-filled, with what to answer, and creates nothing. It reports false
// when the message is no request at all.
func (b *Bot) answerPlain(ctx context.Context, act *schema.Activity, text string) bool {
	r := parsePlain(text, b.cfg.Service.Profiles())
	if r.Outcome != plainNotRequest {
		b.log.Debug("request in plain words", "profile", r.Profile, "confident", r.Outcome == plainConfident, "severity", r.Severity)
	}
	switch r.Outcome {
	case plainNotRequest:
		return false
	case plainConfident:
		b.submitLine(ctx, act, Command{Verb: commandRequest, Profile: r.Profile, Duration: r.Duration, Ticket: r.Ticket, Justification: r.Justification, Severity: b.plainSeverity(r), Start: r.Start})
		return true
	}
	ps, ok := b.eligible(ctx, act, tenantOf(act), personOf(act))
	if !ok {
		return true
	}
	opts := cards.FormOptions{Ticket: r.Ticket, Justification: r.Justification, Error: r.Question, Severity: b.plainSeverity(r), Start: r.Start}
	for _, p := range ps {
		if p.Name == r.Profile {
			opts.Profile = r.Profile // a profile the form offers
		}
	}
	if r.Duration > 0 {
		opts.Duration = access.FormatDuration(r.Duration)
	}
	b.replyPrivately(ctx, act, cards.RequestForm(ps, opts))
	return true
}
