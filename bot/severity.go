package bot

import (
	"strings"
)

// takeSeverity reads a one-line request's severity: a word right after the
// duration (or after the ticket) that is one of the profile's severities,
// in any case, e.g. `request prod-db 2h sev1 INC-4711 ...`. A start
// (`at 22:00`) and then a ticket after the severity are then read as
// such. A profile without severities
// takes no such word: it stays in the justification. A command that has a
// severity already (in plain words) is left as it is.
func (b *Bot) takeSeverity(cmd Command) Command {
	if cmd.Severity != "" {
		return cmd
	}
	p, ok := b.cfg.Service.Profile(cmd.Profile)
	if !ok || len(p.Severities) == 0 {
		return cmd
	}
	words := strings.Fields(cmd.Justification)
	if len(words) == 0 || !p.HasSeverity(strings.ToLower(words[0])) {
		return cmd
	}
	cmd.Severity, words = strings.ToLower(words[0]), words[1:]
	if cmd.Start == "" {
		// `2h sev1 at 22:00 ...`: the start may follow the severity
		// as it follows the duration.
		cmd.Start, words = takeStart(words)
	}
	if cmd.Ticket == "" && len(words) > 0 {
		if ok, _ := b.isTicket(cmd.Profile, words[0]); ok {
			cmd.Ticket, words = words[0], words[1:]
		}
	}
	cmd.Justification = strings.Join(words, " ")
	return cmd
}

// plainSeverity is the severity of a request in plain words for its
// profile: the severity word found (sev1, p1, ...), kept only where the
// profile declares severities; a profile without them ignores it, as it
// did before severities existed.
func (b *Bot) plainSeverity(r plainRequest) string {
	p, ok := b.cfg.Service.Profile(r.Profile)
	if !ok || len(p.Severities) == 0 {
		return ""
	}
	return r.Severity
}
