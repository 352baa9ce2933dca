package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/chatcmd"
)

const manifestAppID = "9b1c7f5e-2d4a-4e8b-8c6f-1a2b3c4d5e6f"

// manifestJSON is the part of manifest.json the tests read.
type manifestJSON struct {
	Developer struct {
		Name          string `json:"name"`
		WebsiteURL    string `json:"websiteUrl"`
		PrivacyURL    string `json:"privacyUrl"`
		TermsOfUseURL string `json:"termsOfUseUrl"`
	} `json:"developer"`
	Name        struct{ Short, Full string } `json:"name"`
	Description struct{ Short, Full string } `json:"description"`
	Version     string                       `json:"version"`
	Bots        []struct {
		CommandLists []struct {
			Scopes   []string `json:"scopes"`
			Commands []struct {
				Title       string `json:"title"`
				Description string `json:"description"`
			} `json:"commands"`
		} `json:"commandLists"`
	} `json:"bots"`
	ValidDomains []string `json:"validDomains"`
}

// TestManifestCommandFlags: every flag of `jitbot manifest` lands in the
// manifest; the endpoint's host leads validDomains (once, whatever its
// case in --valid-domains); the command lists are the bot's commands. The
// result is the golden testdata/manifest-flags.json, which CI runs through
// Microsoft's validator.
func TestManifestCommandFlags(t *testing.T) {
	code, out, errOut := runSplit(t, "manifest", "--print", "--app-id", manifestAppID,
		"--endpoint", "https://jitbot.contoso.example/api/messages",
		"--valid-domains", "sre.contoso.example, JITBOT.contoso.example",
		"--name", "Contoso Access", "--full-name", "Contoso production access",
		"--short-description", "Production access for Contoso's on-call engineers",
		"--full-description", "Ask for production access in Teams; your on-call lead approves it.",
		"--developer", "Contoso SRE", "--website", "https://sre.contoso.example/jit",
		"--privacy-url", "https://contoso.example/privacy", "--terms-url", "https://contoso.example/terms",
		"--app-version", "1.2.0")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "manifest-flags.json", out)
	var m manifestJSON
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if want := []string{"jitbot.contoso.example", "sre.contoso.example"}; !reflect.DeepEqual(m.ValidDomains, want) {
		t.Errorf("validDomains = %v, want %v", m.ValidDomains, want)
	}
	d := m.Developer
	if d.Name != "Contoso SRE" || d.WebsiteURL != "https://sre.contoso.example/jit" || d.PrivacyURL != "https://contoso.example/privacy" || d.TermsOfUseURL != "https://contoso.example/terms" {
		t.Errorf("developer = %+v", d)
	}
	if m.Name.Short != "Contoso Access" || m.Name.Full != "Contoso production access" || m.Version != "1.2.0" ||
		m.Description.Short != "Production access for Contoso's on-call engineers" || !strings.HasPrefix(m.Description.Full, "Ask for production access") {
		t.Errorf("name %+v, description %+v, version %q", m.Name, m.Description, m.Version)
	}
	lists := m.Bots[0].CommandLists
	if len(lists) != 3 {
		t.Fatalf("%d command lists, want one per scope", len(lists))
	}
	for _, l := range lists {
		var got, want []string
		for _, c := range l.Commands {
			got = append(got, c.Title+": "+c.Description)
		}
		for _, c := range chatcmd.All() {
			if c.InScope(l.Scopes[0]) {
				want = append(want, c.Name+": "+c.Description)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("scope %v commands:\n%v\nwant the bot's:\n%v", l.Scopes, got, want)
		}
	}
}

// TestManifestCommandBadFlags: a value the manifest cannot carry is a
// usage error naming the flag, and no package is written.
func TestManifestCommandBadFlags(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "app.zip")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--website", "http://sre.contoso.example"}, `--website "http://sre.contoso.example" (developer.websiteUrl): must be an https:// URL`},
		{[]string{"--website", "http://sre.contoso.example"}, `--website (the default of --privacy-url)`},
		{[]string{"--privacy-url", "https://"}, `--privacy-url "https://" (developer.privacyUrl): must name a host`},
		{[]string{"--terms-url", "contoso.example/terms"}, `--terms-url "contoso.example/terms"`},
		{[]string{"--endpoint", "http://jitbot.contoso.example/api/messages"}, `--endpoint "http://jitbot.contoso.example/api/messages": must be an https:// URL`},
		{[]string{"--endpoint", "https:///api/messages"}, `must name a host`},
		{[]string{"--valid-domains", "https://sre.contoso.example"}, `--valid-domains or --endpoint "https://sre.contoso.example"`},
		{[]string{"--short-description", strings.Repeat("x", 81)}, `--short-description "xxx`},
		{[]string{"--app-version", "1.0"}, `--app-version "1.0" (version): must be MAJOR.MINOR.PATCH`},
		{[]string{"--app-id", "jitbot"}, `--app-id "jitbot"`},
	} {
		args := []string{"manifest", "--out", zipPath, "--app-id", manifestAppID}
		code, out, errOut := runSplit(t, append(args, c.args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "jitbot manifest --help") {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", c.args, code, out, errOut, c.want)
		}
		if _, err := zip.OpenReader(zipPath); err == nil {
			t.Fatalf("%v: a package was written", c.args)
		}
	}
}

// TestManifestPackageIcons: the package `jitbot manifest` writes holds
// manifest.json and the icons Teams requires: color.png 192x192, opaque;
// outline.png 32x32, white on transparent.
func TestManifestPackageIcons(t *testing.T) {
	zipPath := filepath.Join(t.TempDir(), "jitbot-teams-app.zip")
	if code, out, errOut := runSplit(t, "manifest", "--app-id", manifestAppID, "--out", zipPath); code != 0 || !strings.Contains(out, "wrote "+zipPath) {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	z, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	files := map[string][]byte{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	if _, ok := files["manifest.json"]; !ok || len(files) != 3 {
		t.Fatalf("package files: %v", reflect.ValueOf(files).MapKeys())
	}
	decode := func(name string, size int) image.Image {
		img, err := png.Decode(bytes.NewReader(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), size, size)
		}
		return img
	}
	colorIcon := decode("color.png", 192)
	for y := 0; y < 192; y++ {
		for x := 0; x < 192; x++ {
			if c := color.NRGBAModel.Convert(colorIcon.At(x, y)).(color.NRGBA); c.A != 255 {
				t.Fatalf("color.png (%d,%d) is not opaque: %v", x, y, c)
			}
		}
	}
	outline := decode("outline.png", 32)
	var white, clear int
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			c := color.NRGBAModel.Convert(outline.At(x, y)).(color.NRGBA)
			switch {
			case c.A == 0:
				clear++
			case c.R == 255 && c.G == 255 && c.B == 255:
				white++
			default:
				t.Fatalf("outline.png (%d,%d) is %v: only white on transparent is allowed", x, y, c)
			}
		}
	}
	if white == 0 || clear == 0 {
		t.Errorf("outline.png: %d white and %d transparent pixels", white, clear)
	}
}
