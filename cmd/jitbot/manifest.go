package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jitbot/jitbot/manifest"
)

// manifestCmd builds the Teams app package (or prints its manifest.json).
func manifestCmd(args []string, stdout io.Writer, getenv func(string) (string, bool)) error {
	fs := commandFlags("manifest", stdout)
	appID := fs.String("app-id", "", "the bot's Microsoft App ID (default: $MicrosoftAppId)")
	out := fs.String("out", "jitbot-teams-app.zip", "where to write the app package")
	printOnly := fs.Bool("print", false, "print manifest.json instead of writing the package")
	website := fs.String("website", "", "https URL of your organisation's page about the bot (also used for privacy and terms)")
	domains := fs.String("valid-domains", "", "comma-separated domains the app may open")
	ssoResource := fs.String("sso-resource", "", "the application id URI for Teams single sign-on (sso.app_id_uri), e.g. api://jitbot.example.com/botid-<app id>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *appID == "" {
		*appID, _ = getenv("MicrosoftAppId")
	}
	opts := manifest.Options{AppID: strings.TrimSpace(*appID), WebsiteURL: *website, SSOResource: *ssoResource}
	for _, d := range strings.Split(*domains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			opts.ValidDomains = append(opts.ValidDomains, d)
		}
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
