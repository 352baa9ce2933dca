package bot

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	inc := regexp.MustCompile(`^INC-[0-9]+$`)
	isTicket := func(profile, word string) (bool, bool) {
		if profile != "prod-db" {
			return false, false
		}
		return inc.MatchString(word), true
	}
	cases := []struct {
		text string
		want Command
		err  string
	}{
		{"help", Command{Verb: "help"}, ""},
		{"", Command{Verb: "help"}, ""},
		{"<at>jitbot</at> status", Command{Verb: "status"}, ""},
		{"<at>jitbot</at>&nbsp;profiles", Command{Verb: "profiles"}, ""},
		{"request", Command{Verb: "request", Form: true}, ""},
		{"request prod-db 2h INC-4711 checkout latency spike", Command{Verb: "request", Profile: "prod-db", Duration: 2 * time.Hour, Ticket: "INC-4711", Justification: "checkout latency spike"}, ""},
		{"<at>jitbot</at> request prod-db 1h30m checkout is slow", Command{Verb: "request", Profile: "prod-db", Duration: 90 * time.Minute, Justification: "checkout is slow"}, ""},
		{"request prod-db 45m JIRA-1 not a ticket for this profile", Command{Verb: "request", Profile: "prod-db", Duration: 45 * time.Minute, Justification: "JIRA-1 not a ticket for this profile"}, ""},
		{"request prod-db two-hours because", Command{}, "not a duration"},
		{"request prod-db", Command{}, "how long"},
		{"grant me root", Command{}, "don't know"},
		{"cancel", Command{Verb: "cancel"}, ""},
		{"<at>jitbot</at> Cancel 7d1c2f0e-1111-4111-8111-111111111111", Command{Verb: "cancel", RequestID: "7d1c2f0e-1111-4111-8111-111111111111"}, ""},
		{"cancel this and that", Command{}, "cancel <request id>"},
	}
	for _, c := range cases {
		got, err := parseCommand(c.text, isTicket)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: want error containing %q, got %v", c.text, c.err, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.text, got, err, c.want)
		}
	}
}

func TestParseCommandHandsOnPlainWords(t *testing.T) {
	none := func(string, string) (bool, bool) { return false, false }
	for _, c := range []struct {
		text, verb, plain string
		err               bool
	}{
		{"<at>jitbot</at> I need prod-db for 2 hours", "", "I need prod-db for 2 hours", true},
		{"hi I need prod-db", "help", "hi I need prod-db", false},
		{"Hey", "help", "", false},
		{"hello", "help", "", false},
		{"help me get prod-db for 2h", "help", "", false},
		{"status of prod-db", "status", "", false},
		{"request prod-db for 2 hours", "request", "", true},
	} {
		got, err := parseCommand(c.text, none)
		if got.Verb != c.verb || got.Plain != c.plain || (err != nil) != c.err {
			t.Errorf("%q: verb %q, plain %q, err %v; want %q, %q, error %v", c.text, got.Verb, got.Plain, err, c.verb, c.plain, c.err)
		}
	}
}
