package bot

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// plainProfiles are the profiles the plain-language table reads against:
// two named alike with the same ticket pattern (prod-db, prod-db-admin),
// two a letter apart (billing-api, billing-app), one with another ticket
// pattern (staging) and one short name (logs).
func plainProfiles() []access.Profile {
	inc := regexp.MustCompile(`^INC-[0-9]+$`)
	return []access.Profile{
		{Name: "prod-db", Aliases: []string{"pdb"}, MinDuration: 15 * time.Minute, MaxDuration: 4 * time.Hour, RequireTicket: true, TicketPattern: inc},
		{Name: "prod-db-admin", Aliases: []string{"dba"}, MaxDuration: time.Hour, RequireTicket: true, TicketPattern: inc},
		{Name: "staging", MaxDuration: 8 * time.Hour, TicketPattern: regexp.MustCompile(`^CHG[0-9]+$`)},
		{Name: "billing-api", MaxDuration: 2 * time.Hour},
		{Name: "billing-app", MaxDuration: 2 * time.Hour},
		{Name: "logs", MaxDuration: 8 * time.Hour},
	}
}

func TestParsePlain(t *testing.T) {
	const (
		h = time.Hour
		m = time.Minute
	)
	ok := func(profile string, d time.Duration, ticket, just, sev string) plainRequest {
		return plainRequest{Outcome: plainConfident, Profile: profile, Duration: d, Ticket: ticket, Justification: just, Severity: sev}
	}
	form := func(profile string, d time.Duration, ticket, just, question string, candidates ...string) plainRequest {
		return plainRequest{Outcome: plainUncertain, Profile: profile, Duration: d, Ticket: ticket, Justification: just, Question: question, Candidates: candidates}
	}
	none := plainRequest{Outcome: plainNotRequest}
	at := func(r plainRequest, start string) plainRequest { r.Start = start; return r }
	cases := []struct {
		text string
		want plainRequest
	}{
		// Understood: the same request as the one-liner would make.
		{"I need prod-db for 2 hours for INC-4711, checkout is slow", ok("prod-db", 2*h, "INC-4711", "checkout is slow", "")},
		{"<at>jitbot</at>&nbsp;prod-db 2h INC-4711 checkout latency spike", ok("prod-db", 2*h, "INC-4711", "checkout latency spike", "")},
		{"<at>jitbot</at> I need the prod db for an hour, INC-1 orders stuck", ok("prod-db", h, "INC-1", "orders stuck", "")},
		{"give me access to prod-db for half an hour please INC-2 because replication lag", ok("prod-db", 30*m, "INC-2", "replication lag", "")},
		{"prod-db 1.5 hours INC-3 sev1 checkout down", ok("prod-db", 90*m, "INC-3", "checkout down", "sev1")},
		{"Can I get Prod_DB for two hours? INC-7 SEV 2 payments failing", ok("prod-db", 2*h, "INC-7", "payments failing", "sev2")},
		{"I'd like staging for 20 minutes SEV-1 testing the fix", ok("staging", 20*m, "", "testing the fix", "sev1")},
		{"prdo-db for 90 minutes INC-6 outage", form("prod-db", 90*m, "INC-6", "outage", "Did you mean prod-db?")},
		{"stagin for 1h testing the deploy", form("staging", h, "", "testing the deploy", "Did you mean staging?")},
		{"I'm staying for 2 hours to fix the build", form("staging", 2*h, "", "I'm to fix the build", "Did you mean staging?")},
		{"pdb 45m INC-8 latency", ok("prod-db", 45*m, "INC-8", "latency", "")},
		{"dba 30m INC-15 vacuum a table", ok("prod-db-admin", 30*m, "INC-15", "vacuum a table", "")},
		{"Hi team, could you give me the prod-dbs for 1h30m? INC-14 - the nightly job failed", ok("prod-db", 90*m, "INC-14", "the nightly job failed", "")},
		{"prod-db-admin for 2 hours INC-4 need to kill a query", ok("prod-db-admin", 2*h, "INC-4", "kill a query", "")}, // above its 1h: the domain refuses
		{"prod-db for a day INC-17 data migration", ok("prod-db", 24*h, "INC-17", "data migration", "")},
		{"staging 2h30 CHG123 deploy test", ok("staging", 2*h+30*m, "CHG123", "deploy test", "")},
		{"staging for 3 hours, deploy test", ok("staging", 3*h, "", "deploy test", "")},
		{"logs for twelve hours, investigating", ok("logs", 12*h, "", "investigating", "")},
		{"billing-api 1hr reconciliation is stuck", ok("billing-api", h, "", "reconciliation is stuck", "")},
		{"prod-db for an hour and a half INC-10 slow queries", ok("prod-db", 90*m, "INC-10", "slow queries", "")},
		{"prod-db 2 hours and 30 minutes INC-11 slow", ok("prod-db", 2*h+30*m, "INC-11", "slow", "")},
		{"prod-db 1h 30m INC-12 slow", ok("prod-db", 90*m, "INC-12", "slow", "")},
		{"prod-db 90 mins INC-13 slow", ok("prod-db", 90*m, "INC-13", "slow", "")},
		{"prod-db for 2 hours, INC-4711. Checkout p95 is 45s", ok("prod-db", 2*h, "INC-4711", "Checkout p95 is 45s", "")},
		{"Could I please get access to prod-db for the next 2 hours? Working on INC-4711 — checkout is slow.", ok("prod-db", 2*h, "INC-4711", "Working on checkout is slow.", "")},
		{"prod-db for 2hrs ticket INC-18 thanks, checkout slow", ok("prod-db", 2*h, "INC-18", "checkout slow", "")},
		{"please prod-db for the next 45 minutes for INC-19 the cache is cold", ok("prod-db", 45*m, "INC-19", "the cache is cold", "")},
		{"hey, I need prod-db for 2 hours to check why 2 approvers were paged INC-20", ok("prod-db", 2*h, "INC-20", "check why 2 approvers were paged", "")},

		// With a start: read in the requester's zone by the domain.
		{"I need prod-db for 2 hours at 22:00 for INC-4711, nightly migration", at(ok("prod-db", 2*h, "INC-4711", "nightly migration", ""), "22:00")},
		{"prod-db from 22:00 for 2h INC-4711 nightly migration", at(ok("prod-db", 2*h, "INC-4711", "nightly migration", ""), "22:00")},
		{"Can I get prod-db tomorrow at 9:00 for an hour? INC-5 release", at(ok("prod-db", h, "INC-5", "release", ""), "tomorrow 9:00")},
		{"prod-db for 1h at 9:30 tomorrow INC-6 release", at(ok("prod-db", h, "INC-6", "release", ""), "tomorrow 9:30")},
		{"staging at 10pm for 30 minutes, deploy test", at(ok("staging", 30*m, "", "deploy test", ""), "22:00")},
		{"staging from 7 am for 2 hours deploy test", at(ok("staging", 2*h, "", "deploy test", ""), "7:00")},
		{"staging for 1h at 9 customers are waiting", ok("staging", h, "", "at 9 customers are waiting", "")}, // "at 9" alone is no time
		{"staging for 1h at 9:00 or at 10:00, deploy test", form("staging", h, "", "deploy test", "When should it start: 9:00 or 10:00?")},

		// Uncertain: the form, pre-filled, and the question.
		{"prod-db admin for 30 mins INC-4 kill a query", form("", 30*m, "INC-4", "kill a query", "Which profile: prod-db or prod-db-admin?", "prod-db", "prod-db-admin")},
		{"prod for 1h INC-5 checking", form("", h, "INC-5", "checking", "Which profile: prod-db or prod-db-admin?", "prod-db", "prod-db-admin")},
		{"billing-apx for an hour invoices failing", form("", h, "", "invoices failing", "Which profile: billing-api or billing-app?", "billing-api", "billing-app")},
		{"billing for 1h invoices failing", form("", h, "", "invoices failing", "Which profile: billing-api or billing-app?", "billing-api", "billing-app")},
		{"prod-db and staging for 1h INC-1 compare data", form("", h, "INC-1", "compare data", "Which profile: prod-db or staging?", "prod-db", "staging")},
		{"stag for 1h testing", form("", h, "", "stag testing", "Which profile do you need?")}, // a name of 4 letters is no partial name of staging
		{"I need access for 2 hours, checkout is slow", form("", 2*h, "", "checkout is slow", "Which profile do you need?")},
		{"logz for 1h testing", form("", h, "", "logz testing", "Which profile do you need?")},
		{"staging 2h30 INC-4711 deploy test", form("staging", 2*h+30*m, "INC-4711", "deploy test", "INC-4711 is not a ticket for staging (format ^CHG[0-9]+$).")},
		{"prod-db for 1h CHG123 slow", form("prod-db", h, "CHG123", "slow", "CHG123 is not a ticket for prod-db (format ^INC-[0-9]+$).")},
		{"I need prod-db for 2 approvers", form("prod-db", 0, "", "2 approvers", "How long do you need it (for example 2h or 90 minutes)? prod-db needs a ticket (format ^INC-[0-9]+$).")},
		{"I need prod-db for 2h or 3h INC-9 slow", form("prod-db", 0, "INC-9", "slow", "How long: 2h or 3h?")},
		{"I need prod-db for 2 hours", form("prod-db", 2*h, "", "", "prod-db needs a ticket (format ^INC-[0-9]+$). Why do you need it?")},
		{"prod-db for 1h INC-1 and INC-2 slow", form("prod-db", h, "", "slow", "Which ticket: INC-1 or INC-2?")},
		{"prod-db 2h INC-20", form("prod-db", 2*h, "INC-20", "", "Why do you need it?")},
		{"prod-db please", form("prod-db", 0, "", "", "How long do you need it (for example 2h or 90 minutes)? prod-db needs a ticket (format ^INC-[0-9]+$). Why do you need it?")},
		{"staging for an hour or two, testing", form("staging", 0, "", "testing", "How long: 1h or 2h?")},
		{"staging for 30 or 45 minutes testing", form("staging", 0, "", "testing", "How long: 30m or 45m?")},
		{"prod-db 2-3 hours INC-1 slow", form("prod-db", 0, "INC-1", "2-3 hours slow", "How long do you need it (for example 2h or 90 minutes)?")},
		{"prod-db until 5pm INC-1 slow", form("prod-db", 0, "INC-1", "until 5pm slow", "How long do you need it (for example 2h or 90 minutes)?")},
		{"for 45 minutes INC-3 because checkout is slow", form("", 45*m, "INC-3", "checkout is slow", "Which profile do you need?")},

		// Not a request: the answer stays "I don't know" (or help).
		{"thanks!", none},
		{"is prod down?", none},
		{"INC-4711 checkout is slow", none},
		{"we have 2 approvers on call", none},
		{"hello there", none},
		{"what does sev1 mean", plainRequest{Outcome: plainNotRequest, Severity: "sev1"}},
		{"", none},
	}
	if len(cases) < 40 {
		t.Fatalf("%d cases; the table keeps at least 40", len(cases))
	}
	for _, c := range cases {
		got := parsePlain(c.text, plainProfiles())
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got  %+v\n want %+v", c.text, got, c.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"proddb", "proddb", 0}, {"prdodb", "proddb", 1}, {"proddv", "proddb", 1}, {"prodb", "proddb", 1}, {"proddbx", "proddb", 1}, {"staging", "stagin", 1}, {"abc", "", 3}, {"billingapx", "billingapi", 1}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestParsePlainLooseTicketPattern(t *testing.T) {
	// A pattern that any word matches: only a word with a digit is a ticket.
	ops := []access.Profile{{Name: "ops", MaxDuration: 4 * time.Hour, RequireTicket: true, TicketPattern: regexp.MustCompile(`.+`)}}
	want := plainRequest{Outcome: plainConfident, Profile: "ops", Duration: 2 * time.Hour, Ticket: "INC-1", Justification: "restart the queue"}
	if got := parsePlain("ops for 2 hours INC-1 restart the queue", ops); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestParsePlainLongMessage(t *testing.T) {
	text := "I need prod-db for 2 hours for INC-1, " + strings.Repeat("checkout is slow again ", 5000)
	begin := time.Now()
	got := parsePlain(text, plainProfiles())
	if got.Outcome != plainConfident || got.Profile != "prod-db" || len(got.Justification) < 100000 {
		t.Fatalf("got %v %q and %d characters of justification", got.Outcome, got.Profile, len(got.Justification))
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("parsing 20,000 words took %v", d)
	}
}

func TestParsePlainPartialNameIsAskedAbout(t *testing.T) {
	// "prod" is the start of one profile's name only: still not enough
	// to choose it without asking.
	one := plainProfiles()[:1]
	want := plainRequest{Outcome: plainUncertain, Profile: "prod-db", Duration: time.Hour, Ticket: "INC-1", Justification: "slow", Question: "Did you mean prod-db?"}
	if got := parsePlain("prod for 1h INC-1 slow", one); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if got := parsePlain("is prod down?", one); got.Outcome != plainNotRequest {
		t.Fatalf("a partial name without a duration: %+v", got)
	}
}
