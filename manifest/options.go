package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/access"
)

// Defaults applied by [Options] for fields left empty.
const (
	DefaultName          = "jitbot"
	DefaultDeveloperName = "jitbot"
	// DefaultWebsiteURL is the project's home page. Administrators publishing
	// the app in their tenant should point WebsiteURL at their own support
	// page; PrivacyURL and TermsOfUseURL follow it unless set themselves.
	DefaultWebsiteURL = "https://github.com/jitbot/jitbot"
	DefaultVersion    = "1.0.0"
)

// Limits the manifest schema and Teams impose on the fields set from Options.
const (
	maxShortName     = 30
	maxFullName      = 100
	maxDeveloperName = 32
	maxURL           = 2048
	maxDomain        = 2048
	maxValidDomains  = 100
	maxVersion       = 256
)

// Options describe the app package to build. Only AppID is required; every
// other empty field takes its default.
type Options struct {
	// AppID is the bot's Microsoft App ID (the Entra app registration's
	// client id), a GUID such as "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f". It
	// becomes both the app's id and the bot's id.
	AppID string

	// Name is the short display name Teams shows, at most 30 characters.
	// Default: DefaultName.
	Name string
	// FullName is shown where there is room, at most 100 characters.
	// Default: Name followed by " - just-in-time access".
	FullName string

	// ShortDescription is description.short, what Teams shows under the
	// name, at most 80 characters. Default: DefaultShortDescription.
	ShortDescription string
	// FullDescription is description.full, the app's details page, at
	// most 4000 characters (line breaks allowed). Default: what the bot
	// does and its commands.
	FullDescription string

	// DeveloperName is the publisher shown on the app's details page, at
	// most 32 characters. Default: DefaultDeveloperName.
	DeveloperName string
	// WebsiteURL is the support page (https). Default: DefaultWebsiteURL.
	WebsiteURL string
	// PrivacyURL is the privacy statement (https). Default: WebsiteURL.
	PrivacyURL string
	// TermsOfUseURL is the terms of use (https). Default: WebsiteURL.
	TermsOfUseURL string

	// Version is the app version, MAJOR.MINOR.PATCH. Teams only replaces an
	// uploaded app when the version increases. Default: DefaultVersion.
	Version string

	// ValidDomains lists host names (optionally with a leading "*." wildcard
	// and a ":port") whose pages the app may open inside Teams, without
	// scheme or path. It may be empty.
	ValidDomains []string

	// SSOResource is the application id URI Teams single sign-on gets
	// tokens for (webApplicationInfo.resource), "api://botid-<app id>" or
	// "api://<host>/botid-<app id>"; it must end in the app id. Empty: no
	// webApplicationInfo, and no single sign-on.
	SSOResource string
}

// FieldError reports an option that cannot go into the manifest.
type FieldError struct {
	Field  string // the Options field, e.g. "AppID"
	JSON   string // the manifest property it fills, e.g. "bots[0].botId"
	Value  string // the offending value
	Reason string // what is wrong with it
}

func (e *FieldError) Error() string {
	v := e.Value
	if r := []rune(v); len(r) > 60 {
		v = string(r[:57]) + "..."
	}
	return fmt.Sprintf("manifest: %s (%s) %q: %s", e.Field, e.JSON, v, e.Reason)
}

// withDefaults returns o with every empty field set to its default. Values
// are trimmed of surrounding space; the app id is lower-cased.
func (o Options) withDefaults() Options {
	o.AppID = strings.ToLower(strings.TrimSpace(o.AppID))
	o.Name = orDefault(o.Name, DefaultName)
	o.FullName = orDefault(o.FullName, o.Name+" - just-in-time access")
	o.ShortDescription = orDefault(o.ShortDescription, DefaultShortDescription)
	o.FullDescription = orDefault(o.FullDescription, defaultFullDescription(o.Name))
	o.DeveloperName = orDefault(o.DeveloperName, DefaultDeveloperName)
	o.WebsiteURL = orDefault(o.WebsiteURL, DefaultWebsiteURL)
	o.PrivacyURL = orDefault(o.PrivacyURL, o.WebsiteURL)
	o.TermsOfUseURL = orDefault(o.TermsOfUseURL, o.WebsiteURL)
	o.Version = orDefault(o.Version, DefaultVersion)
	o.SSOResource = strings.TrimSpace(o.SSOResource)
	domains := make([]string, len(o.ValidDomains))
	for i, d := range o.ValidDomains {
		domains[i] = strings.TrimSpace(d)
	}
	o.ValidDomains = domains
	return o
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s == "" {
		return def
	}
	return s
}

// Validate reports every option, after defaults are applied, that the
// manifest cannot carry. The result is nil or joins one *FieldError per
// problem.
func (o Options) Validate() error {
	return o.withDefaults().validate()
}

func (o Options) validate() error {
	var errs []error
	add := func(field, json, value, reason string) {
		errs = append(errs, &FieldError{Field: field, JSON: json, Value: value, Reason: reason})
	}

	switch {
	case o.AppID == "":
		add("AppID", "id, bots[0].botId", o.AppID, "required: the bot's Microsoft App ID")
	case !access.IsObjectID(o.AppID):
		add("AppID", "id, bots[0].botId", o.AppID, "must be a GUID like 9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f")
	case strings.Trim(o.AppID, "0-") == "":
		add("AppID", "id, bots[0].botId", o.AppID, "the all-zero GUID is not an app ID")
	}

	checkText := func(field, json, value string, max int) {
		switch n := utf8.RuneCountInString(value); {
		case n > max:
			add(field, json, value, fmt.Sprintf("is %d characters long, at most %d allowed", n, max))
		case strings.IndexFunc(value, unicode.IsControl) >= 0:
			add(field, json, value, "must not contain control characters such as line breaks")
		}
	}
	checkText("Name", "name.short", o.Name, maxShortName)
	checkText("FullName", "name.full", o.FullName, maxFullName)
	checkText("DeveloperName", "developer.name", o.DeveloperName, maxDeveloperName)
	checkText("ShortDescription", "description.short", o.ShortDescription, maxShortDescription)
	if n := utf8.RuneCountInString(o.FullDescription); n > maxFullDescription {
		add("FullDescription", "description.full", o.FullDescription, fmt.Sprintf("is %d characters long, at most %d allowed", n, maxFullDescription))
	} else if strings.IndexFunc(o.FullDescription, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		add("FullDescription", "description.full", o.FullDescription, "must not contain control characters other than line breaks")
	}

	checkURL := func(field, json, value string) {
		if reason := urlProblem(value); reason != "" {
			add(field, json, value, reason)
		}
	}
	checkURL("WebsiteURL", "developer.websiteUrl", o.WebsiteURL)
	checkURL("PrivacyURL", "developer.privacyUrl", o.PrivacyURL)
	checkURL("TermsOfUseURL", "developer.termsOfUseUrl", o.TermsOfUseURL)

	if !isSemver(o.Version) {
		add("Version", "version", o.Version, "must be MAJOR.MINOR.PATCH, e.g. 1.0.0, without leading zeros")
	}

	if r := o.SSOResource; r != "" && (!strings.HasPrefix(r, "api://") || !strings.HasSuffix(strings.ToLower(r), "botid-"+o.AppID) || len(r) > maxURL) {
		add("SSOResource", "webApplicationInfo.resource", r, "must be api://botid-<app id> or api://<host>/botid-<app id>, with the bot's app id")
	}
	if len(o.ValidDomains) > maxValidDomains {
		add("ValidDomains", "validDomains", strings.Join(o.ValidDomains, ","),
			fmt.Sprintf("lists %d domains, at most %d allowed", len(o.ValidDomains), maxValidDomains))
	}
	seen := make(map[string]bool, len(o.ValidDomains))
	for i, d := range o.ValidDomains {
		field := fmt.Sprintf("ValidDomains[%d]", i)
		json := fmt.Sprintf("validDomains[%d]", i)
		if reason := domainProblem(d); reason != "" {
			add(field, json, d, reason)
			continue
		}
		key := strings.ToLower(d)
		if seen[key] {
			add(field, json, d, "is listed twice")
		}
		seen[key] = true
	}
	return errors.Join(errs...)
}

// isSemver reports whether s is MAJOR.MINOR.PATCH with decimal numbers
// without leading zeros, the form the manifest schema requires.
func isSemver(s string) bool {
	if len(s) > maxVersion {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 1 && p[0] == '0' {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// urlProblem says what keeps s from being a page address for the manifest,
// or "" when it is fine.
func urlProblem(s string) string {
	if len(s) > maxURL {
		return fmt.Sprintf("is %d characters long, at most %d allowed", len(s), maxURL)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "must not contain spaces"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a URL"
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "must be an https:// URL"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "must name a host, e.g. https://example.com/support"
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	return ""
}

// domainProblem says what keeps s from being a valid domain entry, or ""
// when it is fine. An entry is a host name with an optional leading "*."
// wildcard and an optional ":port".
func domainProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxDomain:
		return fmt.Sprintf("is %d characters long, at most %d allowed", len(s), maxDomain)
	case strings.Contains(s, "://"):
		return "must be a host name without scheme, e.g. jitbot.example.com"
	case strings.ContainsAny(s, "/?#@"):
		return "must be a host name without path, e.g. jitbot.example.com"
	}
	host := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		port, err := strconv.Atoi(s[i+1:])
		if err != nil || port < 1 || port > 65535 || s[i+1] == '0' || s[i+1] == '+' {
			return "has an invalid port"
		}
		host = s[:i]
	}
	wildcard := strings.HasPrefix(host, "*.")
	host = strings.TrimPrefix(host, "*.")
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if !isLabel(l) {
			return "must be a host name of letters, digits, hyphens and dots, optionally starting with *."
		}
	}
	if wildcard && len(labels) < 2 {
		return "wildcard must not cover a whole top-level domain"
	}
	return ""
}

// isLabel reports whether l is one DNS label: 1 to 63 letters, digits and
// hyphens, not starting or ending with a hyphen.
func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
