package chatcmd

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCommandsFitTeams: the command lists fit what the manifest schema
// allows (at most 10 commands a scope, titles of 32 and descriptions of 128
// characters), every command is suggested somewhere and named once, and
// every one but help has a line in the bot's help.
func TestCommandsFitTeams(t *testing.T) {
	seen := map[string]bool{}
	perScope := map[string]int{}
	for _, c := range All() {
		if seen[c.Name] || c.Name != strings.ToLower(c.Name) || strings.ContainsAny(c.Name, " \t") {
			t.Errorf("command %q: listed twice, or not one lower-case word", c.Name)
		}
		seen[c.Name] = true
		if n := utf8.RuneCountInString(c.Name); n > 32 {
			t.Errorf("command %q: title of %d characters", c.Name, n)
		}
		if n := utf8.RuneCountInString(c.Description); n == 0 || n > 128 {
			t.Errorf("command %q: description of %d characters", c.Name, n)
		}
		if len(c.Scopes) == 0 {
			t.Errorf("command %q is suggested in no scope", c.Name)
		}
		for _, s := range c.Scopes {
			perScope[s]++
		}
		if c.Name != Help && len(c.Forms) == 0 {
			t.Errorf("command %q has no line in the help", c.Name)
		}
		for _, f := range c.Forms {
			if f.Usage != c.Name && !strings.HasPrefix(f.Usage, c.Name+" ") {
				t.Errorf("command %q: help line %q does not start with it", c.Name, f.Usage)
			}
		}
	}
	for _, s := range AllScopes() {
		if perScope[s] == 0 || perScope[s] > 10 {
			t.Errorf("scope %s lists %d commands", s, perScope[s])
		}
	}
}
