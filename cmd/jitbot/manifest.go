package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/manifest"
)

// manifestFlags names the flag that sets each manifest.Options field, so
// that an error names what to change on the command line.
var manifestFlags = map[string]string{
	"AppID":            "--app-id",
	"Name":             "--name",
	"FullName":         "--full-name",
	"ShortDescription": "--short-description",
	"FullDescription":  "--full-description",
	"DeveloperName":    "--developer",
	"WebsiteURL":       "--website",
	"PrivacyURL":       "--privacy-url",
	"TermsOfUseURL":    "--terms-url",
	"Version":          "--app-version",
	"ValidDomains":     "--valid-domains",
	"SSOResource":      "--sso-resource",
}

// manifestCmd builds the Teams app package (or prints its manifest.json).
func manifestCmd(args []string, stdout io.Writer, getenv func(string) (string, bool)) error {
	fs := commandFlags("manifest", stdout)
	appID := fs.String("app-id", "", "the bot's Microsoft App ID (default: $MicrosoftAppId)")
	out := fs.String("out", "jitbot-teams-app.zip", "where to write the app package")
	printOnly := fs.Bool("print", false, "print manifest.json instead of writing the package")
	endpoint := fs.String("endpoint", "", "the bot's https messaging endpoint, e.g. https://jitbot.contoso.example/api/messages: its host is added to validDomains")
	domains := fs.String("valid-domains", "", "comma-separated further domains the app may open, e.g. sre.contoso.example")
	name := fs.String("name", "", "the app's name in Teams, at most 30 characters (default "+manifest.DefaultName+")")
	fullName := fs.String("full-name", "", "the app's full name, at most 100 characters (default: the name and \" - just-in-time access\")")
	short := fs.String("short-description", "", "the app's short description, at most 80 characters (default \""+manifest.DefaultShortDescription+"\")")
	full := fs.String("full-description", "", "the app's description on its details page, at most 4000 characters (default: what the bot does and its commands)")
	developer := fs.String("developer", "", "the publisher Teams shows, at most 32 characters (default "+manifest.DefaultDeveloperName+")")
	website := fs.String("website", "", "https URL of your organisation's page about the bot (default "+manifest.DefaultWebsiteURL+")")
	privacy := fs.String("privacy-url", "", "https URL of the privacy statement (default: --website)")
	terms := fs.String("terms-url", "", "https URL of the terms of use (default: --website)")
	appVersion := fs.String("app-version", "", "the app's version, MAJOR.MINOR.PATCH; raise it to replace an uploaded package (default "+manifest.DefaultVersion+")")
	ssoResource := fs.String("sso-resource", "", "the application id URI for Teams single sign-on (sso.app_id_uri), e.g. api://jitbot.example.com/botid-<app id>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{command: "manifest", err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *appID == "" {
		*appID, _ = getenv("MicrosoftAppId")
	}
	opts := manifest.Options{
		AppID: strings.TrimSpace(*appID), Name: *name, FullName: *fullName,
		ShortDescription: *short, FullDescription: *full, DeveloperName: *developer,
		WebsiteURL: *website, PrivacyURL: *privacy, TermsOfUseURL: *terms,
		Version: *appVersion, SSOResource: *ssoResource,
	}
	if *endpoint != "" {
		host, err := endpointHost(*endpoint)
		if err != nil {
			return &usageError{command: "manifest", err: fmt.Errorf("--endpoint %q: %w", *endpoint, err)}
		}
		opts.ValidDomains = append(opts.ValidDomains, host)
	}
	for _, d := range strings.Split(*domains, ",") {
		if d = strings.TrimSpace(d); d != "" && !slices.ContainsFunc(opts.ValidDomains, func(h string) bool { return strings.EqualFold(h, d) }) {
			opts.ValidDomains = append(opts.ValidDomains, d)
		}
	}
	if err := opts.Validate(); err != nil {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given["--"+f.Name] = true })
		return flagErrors(err, given)
	}
	if *printOnly {
		b, err := manifest.Build(opts)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	var buf bytes.Buffer
	if err := manifest.Package(opts, &buf); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write app package: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: upload it in Teams (Apps, Manage your apps, Upload an app)\n", *out)
	return nil
}

// endpointHost is the host (with its port, if any) of the bot's messaging
// endpoint, which must be https as Azure Bot Service requires.
func endpointHost(endpoint string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	switch {
	case err != nil:
		return "", errors.New("not a URL")
	case u.Scheme != "https":
		return "", errors.New("must be an https:// URL, as Azure Bot Service requires of a messaging endpoint")
	case u.Hostname() == "":
		return "", errors.New("must name a host, e.g. https://jitbot.contoso.example/api/messages")
	}
	return strings.ToLower(u.Host), nil
}

// flagErrors rewrites the manifest's option errors to name the flags that
// set them (given: the flags on the command line), one line each: a usage
// error.
func flagErrors(err error, given map[string]bool) error {
	var lines []string
	for _, e := range flatten(err) {
		var fe *manifest.FieldError
		if !errors.As(e, &fe) {
			lines = append(lines, e.Error())
			continue
		}
		field, _, _ := strings.Cut(fe.Field, "[")
		name := manifestFlags[field]
		if name == "" {
			name = fe.Field
		}
		switch {
		case field == "ValidDomains":
			name = "--valid-domains or --endpoint"
		case (field == "PrivacyURL" || field == "TermsOfUseURL") && !given[name]:
			name = "--website (the default of " + name + ")"
		}
		v := fe.Value
		if r := []rune(v); len(r) > 60 {
			v = string(r[:57]) + "..."
		}
		lines = append(lines, fmt.Sprintf("%s %q (%s): %s", name, v, fe.JSON, fe.Reason))
	}
	return &usageError{command: "manifest", err: errors.New(strings.Join(lines, "\n  "))}
}
