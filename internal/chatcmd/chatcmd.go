// Package chatcmd defines the commands people type in a chat with the bot:
// their names, how they are written and what they do, once, for the bot's
// `help` answer (package bot) and for the command lists Teams suggests
// from the app's manifest (package manifest).
//
// It imports nothing but the standard library.
package chatcmd

// The command names, as typed (lower case; the bot reads them in any case).
const (
	Help     = "help"
	Profiles = "profiles"
	Request  = "request"
	Status   = "status"
	Release  = "release"
	Cancel   = "cancel"
	Extend   = "extend"
	Audit    = "audit"
)

// Scopes are the Teams conversations the bot works in, in manifest order.
const (
	ScopePersonal  = "personal"
	ScopeTeam      = "team"
	ScopeGroupChat = "groupChat"
)

// AllScopes returns the scopes the bot works in, in manifest order.
func AllScopes() []string { return []string{ScopePersonal, ScopeTeam, ScopeGroupChat} }

// Form is one way to write a command, as the bot's help shows it.
type Form struct {
	// Usage is the command with its arguments, e.g.
	// "release [<request id>]".
	Usage string
	// Help says what it does, in Markdown, after the usage.
	Help string
}

// Command is one command of the bot.
type Command struct {
	// Name is the command as typed.
	Name string
	// Description is what Teams shows beside the name when it suggests the
	// command (at most 128 characters).
	Description string
	// Scopes are the conversations Teams suggests it in.
	Scopes []string
	// Forms are the lines of the bot's help; none for help itself.
	Forms []Form
}

// InScope reports whether Teams suggests c in scope.
func (c Command) InScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// All returns the bot's commands in the order its help and Teams list them.
func All() []Command {
	all := AllScopes()
	return []Command{
		{Name: Help, Description: "What the bot does and the commands it understands", Scopes: all},
		{Name: Profiles, Description: "The access profiles you may request", Scopes: all,
			Forms: []Form{{Profiles, "the access you may request"}}},
		{Name: Request, Description: "Ask for temporary access: request <profile> <duration> [<ticket>] <justification>", Scopes: all,
			Forms: []Form{
				{Request, "a form to ask for access"},
				{"request <profile> <duration> [<ticket>] <justification>", "ask in one line, e.g. `request prod-db 2h INC-4711 checkout latency spike`\n" +
					"  (a profile with severities takes one after the duration, e.g. `request prod-db 2h sev1 INC-4711 checkout down`;\n" +
					"  for later, a start in your time zone, e.g. `request prod-db 2h at 22:00 INC-4711 nightly migration`)"},
			}},
		{Name: Status, Description: "Your pending requests and active access", Scopes: all,
			Forms: []Form{{Status, "your pending requests and your scheduled and active access, with start and expiry times"}}},
		{Name: Release, Description: "You are done with your active access: it ends now (release [<request id>])", Scopes: all,
			Forms: []Form{{"release [<request id>]", "you are done with your active access: it ends now"}}},
		{Name: Cancel, Description: "Withdraw your pending request before anyone decides (cancel [<request id>])", Scopes: all,
			Forms: []Form{{"cancel [<request id>]", "withdraw your pending request, or scheduled access before it starts"}}},
		{Name: Extend, Description: "Keep your active access longer: extend [<request id>] <duration> <reason>", Scopes: all,
			Forms: []Form{{"extend [<request id>] <duration> <reason>", "you need your active access longer, e.g. `extend 30m the migration is still running`"}}},
		// Reports are for audit readers, in the personal chat only.
		{Name: Audit, Description: "For audit readers: the report of a period, e.g. audit 30d (personal chat)", Scopes: []string{ScopePersonal},
			Forms: []Form{{"audit [7d | 30d | 2026-11-01..2026-11-30] [profile]", "for audit readers, a report of the period with a CSV download"}}},
	}
}
