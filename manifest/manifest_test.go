package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/manifest.json from the current builder")

const testAppID = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"

// goldenOptions are the options testdata/manifest.json is built from: the
// app id and a domain, everything else defaulted.
func goldenOptions() Options {
	return Options{AppID: testAppID, ValidDomains: []string{"jitbot.contoso.example"}}
}

func TestGoldenManifest(t *testing.T) {
	got, err := Build(goldenOptions())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "manifest.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("manifest differs from %s (run go test -update after checking the change)\ngot:\n%s", golden, got)
	}
}

// decoded is the subset of the manifest the tests inspect.
type decoded struct {
	Schema          string `json:"$schema"`
	ManifestVersion string `json:"manifestVersion"`
	Version         string `json:"version"`
	ID              string `json:"id"`
	Developer       struct {
		Name, WebsiteURL, PrivacyURL, TermsOfUseURL string
	} `json:"developer"`
	Name        struct{ Short, Full string }    `json:"name"`
	Description struct{ Short, Full string }    `json:"description"`
	Icons       struct{ Color, Outline string } `json:"icons"`
	AccentColor string                          `json:"accentColor"`
	Bots        []struct {
		BotID              string   `json:"botId"`
		Scopes             []string `json:"scopes"`
		SupportsFiles      *bool    `json:"supportsFiles"`
		IsNotificationOnly *bool    `json:"isNotificationOnly"`
		CommandLists       []struct {
			Scopes   []string  `json:"scopes"`
			Commands []Command `json:"commands"`
		} `json:"commandLists"`
	} `json:"bots"`
	Permissions  []string `json:"permissions"`
	ValidDomains []string `json:"validDomains"`
}

func decode(t *testing.T, b []byte) decoded {
	t.Helper()
	var m decoded
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	return m
}

func TestManifestContent(t *testing.T) {
	b, err := Build(goldenOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	if m.Schema != SchemaURL || m.ManifestVersion != ManifestVersion {
		t.Errorf("schema %q version %q", m.Schema, m.ManifestVersion)
	}
	if !strings.Contains(m.Schema, "/v"+m.ManifestVersion+"/") {
		t.Errorf("$schema %q does not name manifestVersion %q", m.Schema, m.ManifestVersion)
	}
	if m.ID != testAppID {
		t.Errorf("id = %q, want the app id", m.ID)
	}
	if m.Version != DefaultVersion || m.Name.Short != DefaultName || m.Developer.Name != DefaultDeveloperName {
		t.Errorf("defaults not applied: version %q name %q developer %q", m.Version, m.Name.Short, m.Developer.Name)
	}
	for _, u := range []string{m.Developer.WebsiteURL, m.Developer.PrivacyURL, m.Developer.TermsOfUseURL} {
		if u != DefaultWebsiteURL {
			t.Errorf("developer URL %q, want %q", u, DefaultWebsiteURL)
		}
	}
	if m.Icons.Color != ColorIconFile || m.Icons.Outline != OutlineIconFile {
		t.Errorf("icons = %+v", m.Icons)
	}
	if m.AccentColor != AccentColor {
		t.Errorf("accentColor = %q", m.AccentColor)
	}
	if len(m.Bots) != 1 {
		t.Fatalf("%d bots, want 1", len(m.Bots))
	}
	bot := m.Bots[0]
	if bot.BotID != testAppID {
		t.Errorf("botId = %q", bot.BotID)
	}
	wantScopes := []string{"personal", "team", "groupChat"}
	if !reflect.DeepEqual(bot.Scopes, wantScopes) {
		t.Errorf("scopes = %v, want %v", bot.Scopes, wantScopes)
	}
	if bot.SupportsFiles == nil || *bot.SupportsFiles || bot.IsNotificationOnly == nil || *bot.IsNotificationOnly {
		t.Errorf("supportsFiles and isNotificationOnly must be present and false")
	}
	if len(bot.CommandLists) != len(wantScopes) {
		t.Fatalf("%d command lists, want one per scope", len(bot.CommandLists))
	}
	for i, l := range bot.CommandLists {
		if !reflect.DeepEqual(l.Scopes, []string{wantScopes[i]}) {
			t.Errorf("command list %d scopes = %v, want [%s]", i, l.Scopes, wantScopes[i])
		}
		var titles []string
		for _, c := range l.Commands {
			titles = append(titles, c.Title)
			if utf8.RuneCountInString(c.Title) > maxCommandTitle || utf8.RuneCountInString(c.Description) > maxCommandDescription {
				t.Errorf("command %q too long", c.Title)
			}
			if c.Description == "" {
				t.Errorf("command %q has no description", c.Title)
			}
		}
		// Every command the bot understands, in every scope but audit
		// (reports go to audit readers in the personal chat only).
		want := []string{"help", "profiles", "request", "status", "release", "cancel", "extend"}
		if wantScopes[i] == "personal" {
			want = append(want, "audit")
		}
		if !reflect.DeepEqual(titles, want) {
			t.Errorf("scope %s commands = %v, want %v", wantScopes[i], titles, want)
		}
	}
	if !reflect.DeepEqual(m.Permissions, []string{"identity", "messageTeamMembers"}) {
		t.Errorf("permissions = %v", m.Permissions)
	}
	if !reflect.DeepEqual(m.ValidDomains, []string{"jitbot.contoso.example"}) {
		t.Errorf("validDomains = %v", m.ValidDomains)
	}
	if n := utf8.RuneCountInString(m.Description.Short); n == 0 || n > maxShortDescription {
		t.Errorf("description.short has %d characters", n)
	}
	if n := utf8.RuneCountInString(m.Description.Full); n == 0 || n > maxFullDescription {
		t.Errorf("description.full has %d characters", n)
	}
	if !strings.Contains(m.Description.Full, "just-in-time") || !strings.Contains(m.Description.Short, "Teams") {
		t.Errorf("descriptions do not say what the app does: %+v", m.Description)
	}
}

func TestOptionsOverride(t *testing.T) {
	opts := Options{
		AppID:         " 9B1C7F5E-2D4A-4E8B-8C6F-1A2B3C4D5E6F ",
		Name:          "Contoso Access",
		FullName:      "Contoso production access",
		DeveloperName: "Contoso SRE",
		WebsiteURL:    "https://sre.contoso.example/jit",
		PrivacyURL:    "https://contoso.example/privacy",
		Version:       "2.10.0",
	}
	b, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	if m.ID != testAppID || m.Bots[0].BotID != testAppID {
		t.Errorf("app id not trimmed and lower-cased: id %q botId %q", m.ID, m.Bots[0].BotID)
	}
	if m.Name.Short != "Contoso Access" || m.Name.Full != "Contoso production access" {
		t.Errorf("name = %+v", m.Name)
	}
	if m.Developer.Name != "Contoso SRE" || m.Developer.WebsiteURL != opts.WebsiteURL ||
		m.Developer.PrivacyURL != opts.PrivacyURL || m.Developer.TermsOfUseURL != opts.WebsiteURL {
		t.Errorf("developer = %+v (terms should follow the website)", m.Developer)
	}
	if m.Version != "2.10.0" {
		t.Errorf("version = %q", m.Version)
	}
	if !strings.HasPrefix(m.Description.Full, "Contoso Access ") {
		t.Errorf("full description does not use the app's name: %q", m.Description.Full)
	}
	if m.ValidDomains == nil {
		t.Errorf("validDomains missing; want an empty list")
	}
	opts.ShortDescription = "Production access for Contoso's on-call engineers"
	opts.FullDescription = "Ask for production access in Teams.\n\nYour manager approves."
	b2, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := decode(t, b2).Description; d.Short != opts.ShortDescription || d.Full != opts.FullDescription {
		t.Errorf("description = %+v, want the options'", d)
	}
	if !bytes.Contains(b, []byte(`"validDomains": []`)) {
		t.Errorf("validDomains not written as []")
	}
}

func TestBadOptions(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name  string
		opts  Options
		field string // the FieldError.Field expected
		words string // in the message
	}{
		{"missing app id", Options{}, "AppID", "required"},
		{"app id not a GUID", Options{AppID: "jitbot"}, "AppID", "GUID"},
		{"app id in braces", Options{AppID: "{" + testAppID + "}"}, "AppID", "GUID"},
		{"app id all zero", Options{AppID: "00000000-0000-0000-0000-000000000000"}, "AppID", "all-zero"},
		{"name too long", Options{AppID: testAppID, Name: long(31)}, "Name", "at most 30"},
		{"name with line break", Options{AppID: testAppID, Name: "jit\nbot"}, "Name", "control"},
		{"full name too long", Options{AppID: testAppID, FullName: long(101)}, "FullName", "at most 100"},
		{"developer too long", Options{AppID: testAppID, DeveloperName: long(33)}, "DeveloperName", "at most 32"},
		{"short description too long", Options{AppID: testAppID, ShortDescription: long(81)}, "ShortDescription", "at most 80"},
		{"short description with line break", Options{AppID: testAppID, ShortDescription: "just\nin time"}, "ShortDescription", "control"},
		{"full description too long", Options{AppID: testAppID, FullDescription: long(4001)}, "FullDescription", "at most 4000"},
		{"full description with a tab", Options{AppID: testAppID, FullDescription: "just\tin time"}, "FullDescription", "control"},
		{"website http", Options{AppID: testAppID, WebsiteURL: "http://contoso.example"}, "WebsiteURL", "https"},
		{"website no host", Options{AppID: testAppID, WebsiteURL: "https:///path"}, "WebsiteURL", "host"},
		{"privacy not a URL", Options{AppID: testAppID, PrivacyURL: "contoso privacy"}, "PrivacyURL", "spaces"},
		{"terms relative", Options{AppID: testAppID, TermsOfUseURL: "/terms"}, "TermsOfUseURL", "https"},
		{"terms too long", Options{AppID: testAppID, TermsOfUseURL: "https://a.example/" + long(2048)}, "TermsOfUseURL", "at most 2048"},
		{"version two parts", Options{AppID: testAppID, Version: "1.0"}, "Version", "MAJOR.MINOR.PATCH"},
		{"version leading zero", Options{AppID: testAppID, Version: "1.02.0"}, "Version", "MAJOR.MINOR.PATCH"},
		{"version prerelease", Options{AppID: testAppID, Version: "1.0.0-beta"}, "Version", "MAJOR.MINOR.PATCH"},
		{"domain with scheme", Options{AppID: testAppID, ValidDomains: []string{"https://jitbot.example"}}, "ValidDomains[0]", "scheme"},
		{"domain with path", Options{AppID: testAppID, ValidDomains: []string{"ok.example", "jitbot.example/app"}}, "ValidDomains[1]", "path"},
		{"domain empty", Options{AppID: testAppID, ValidDomains: []string{" "}}, "ValidDomains[0]", "empty"},
		{"domain TLD wildcard", Options{AppID: testAppID, ValidDomains: []string{"*.com"}}, "ValidDomains[0]", "top-level"},
		{"domain bad port", Options{AppID: testAppID, ValidDomains: []string{"jitbot.example:99999"}}, "ValidDomains[0]", "port"},
		{"domain twice", Options{AppID: testAppID, ValidDomains: []string{"a.example", "A.example"}}, "ValidDomains[1]", "twice"},
		{"too many domains", Options{AppID: testAppID, ValidDomains: manyDomains(101)}, "ValidDomains", "at most 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Build(tc.opts)
			if err == nil {
				t.Fatalf("Build accepted the options:\n%s", b)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error %q should name %s and say %q", err, tc.field, tc.words)
			}
			if n := len(err.Error()); n > 400 {
				t.Errorf("error is %d bytes long; long values should be shortened", n)
			}
			if verr := tc.opts.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate() = %v, want the Build error", verr)
			}
			var buf bytes.Buffer
			if perr := Package(tc.opts, &buf); perr == nil || buf.Len() != 0 {
				t.Errorf("Package: err %v, wrote %d bytes; want an error and nothing written", perr, buf.Len())
			}
		})
	}
}

func manyDomains(n int) []string {
	d := make([]string, n)
	for i := range d {
		d[i] = "h" + strconv.Itoa(i) + ".example"
	}
	return d
}

func TestBadOptionsAllReported(t *testing.T) {
	err := Options{Name: strings.Repeat("x", 31), WebsiteURL: "http://x.example", Version: "1"}.Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe.Field)
		}
	}
	// PrivacyURL and TermsOfUseURL default to the (bad) website.
	want := []string{"AppID", "Name", "WebsiteURL", "PrivacyURL", "TermsOfUseURL", "Version"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("reported fields %v, want %v\n%v", fields, want, err)
	}
}

func TestGoodEdgeOptions(t *testing.T) {
	opts := Options{
		AppID:        testAppID,
		Name:         strings.Repeat("n", 30),
		Version:      "10.0.1",
		ValidDomains: []string{"*.contoso.example", "localhost:3978", "token.botframework.com"},
	}
	if _, err := Build(opts); err != nil {
		t.Fatal(err)
	}
}

func TestBuildDeterministic(t *testing.T) {
	a, err := Build(goldenOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(goldenOptions())
	if !bytes.Equal(a, b) {
		t.Error("two builds of the manifest differ")
	}
}

func TestBuildDoesNotChangeOptions(t *testing.T) {
	opts := Options{AppID: testAppID, ValidDomains: []string{" a.example "}}
	if _, err := Build(opts); err != nil {
		t.Fatal(err)
	}
	if opts.ValidDomains[0] != " a.example " || opts.Name != "" {
		t.Errorf("Build changed the caller's options: %+v", opts)
	}
}

// TestSSOResource: with a single sign-on resource the manifest names it in
// webApplicationInfo with the bot's app id; a resource of another app is
// refused; without one there is no webApplicationInfo.
func TestSSOResource(t *testing.T) {
	for _, res := range []string{"api://botid-" + testAppID, "api://jitbot.contoso.example/botid-" + testAppID} {
		b, err := Build(Options{AppID: testAppID, SSOResource: res})
		if err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		var m struct {
			WebApplicationInfo *struct{ ID, Resource string } `json:"webApplicationInfo"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.WebApplicationInfo == nil || m.WebApplicationInfo.ID != testAppID || m.WebApplicationInfo.Resource != res {
			t.Fatalf("%s: webApplicationInfo %+v (%v)", res, m.WebApplicationInfo, err)
		}
	}
	for _, res := range []string{"https://jitbot.contoso.example", "api://botid-11111111-0000-4000-8000-000000000000", "api://" + testAppID} {
		if _, err := Build(Options{AppID: testAppID, SSOResource: res}); err == nil || !strings.Contains(err.Error(), "webApplicationInfo.resource") {
			t.Errorf("%s: %v, want an error naming webApplicationInfo.resource", res, err)
		}
	}
	if b, _ := Build(Options{AppID: testAppID}); bytes.Contains(b, []byte("webApplicationInfo")) {
		t.Error("webApplicationInfo without single sign-on")
	}
}
