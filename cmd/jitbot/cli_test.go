package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/help and testdata/demo-banner.txt")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/jitbot -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update after checking the change)\ngot:\n%s", path, got)
	}
}

// runSplit runs jitbot with args and returns the exit status, standard
// output and standard error apart.
func runSplit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, envOf(nil))
	return code, out.String(), errOut.String()
}

// TestHelpGolden: `jitbot --help` and `jitbot <command> --help` of every
// command of the table print their golden help on standard output and exit
// 0; `jitbot help <command>` prints the same.
func TestHelpGolden(t *testing.T) {
	code, out, errOut := runSplit(t, "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("jitbot --help: exit %d, stderr %q", code, errOut)
	}
	golden(t, "help/jitbot.txt", out)
	if _, again, _ := runSplit(t, "help"); again != out {
		t.Errorf("jitbot help differs from jitbot --help:\n%s", again)
	}
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			args := append(strings.Fields(c.name), "--help")
			code, out, errOut := runSplit(t, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("jitbot %s --help: exit %d, stderr %q", c.name, code, errOut)
			}
			if !strings.HasPrefix(out, "jitbot "+c.name+": "+c.summary+"\n\nUsage:\n  jitbot "+c.name) || !strings.Contains(out, "\nExample:\n  jitbot ") {
				t.Errorf("jitbot %s --help is not the command's help:\n%s", c.name, out)
			}
			golden(t, "help/"+strings.ReplaceAll(c.name, " ", "-")+".txt", out)
			for _, h := range []string{"-h", "-help"} {
				if _, o, _ := runSplit(t, append(strings.Fields(c.name), h)...); o != out {
					t.Errorf("jitbot %s %s differs from --help:\n%s", c.name, h, o)
				}
			}
			if _, o, _ := runSplit(t, append([]string{"help"}, strings.Fields(c.name)...)...); o != out {
				t.Errorf("jitbot help %s differs from --help:\n%s", c.name, o)
			}
		})
	}
}

// TestHelpListsEveryFlag: a command's help shows every flag its flag set
// parses, with its usage text (here the demo's, by name).
func TestHelpListsEveryFlag(t *testing.T) {
	_, out, _ := runSplit(t, "demo", "--help")
	for _, f := range []string{"-listen", "-database", "-service-url", "-approvers-channel", "-open-playground"} {
		if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") {
			t.Errorf("demo --help does not list %s:\n%s", f, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"Usage:", "jitbot <command>", "Exit status:"}},
		{[]string{"serv"}, []string{`jitbot: unknown command "serv"; did you mean serve?`, "Run 'jitbot --help' for the commands."}},
		{[]string{"mainfest"}, []string{`unknown command "mainfest"; did you mean manifest?`}},
		{[]string{"ver"}, []string{`unknown command "ver"; did you mean version?`}},
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{[]string{"help", "frobnicate"}, []string{`unknown command "frobnicate"`}},
		{[]string{"audit"}, []string{"audit verify", "jitbot audit: audit: name a command"}},
		{[]string{"audit", "verfy"}, []string{`unknown command "audit verfy"; did you mean audit verify?`}},
		{[]string{"demo", "--listne", "127.0.0.1:0"}, []string{"jitbot demo: flag provided but not defined: -listne; did you mean --listen?", "Run 'jitbot demo --help' for its usage and flags."}},
		{[]string{"manifest", "--privacy", "https://contoso.example/privacy"}, []string{"flag provided but not defined: -privacy; did you mean --privacy-url?"}},
		{[]string{"serve", "--frobnicate"}, []string{"jitbot serve: flag provided but not defined: -frobnicate\n"}},
		{[]string{"version", "-json=maybe"}, []string{"jitbot version: invalid boolean value"}},
		{[]string{"manifest", "--app-id"}, []string{"jitbot manifest: flag needs an argument: -app-id"}},
		{[]string{"audit", "keygen", "--bogus"}, []string{"jitbot audit keygen: flag provided but not defined: -bogus"}},
	} {
		code, out, errOut := runSplit(t, c.args...)
		if code != exitUsage || out != "" {
			t.Errorf("%v: exit %d (want %d), stdout %q", c.args, code, exitUsage, out)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, errOut)
			}
		}
		if strings.Count(errOut, "flag provided") > 1 {
			t.Errorf("%v: the error is printed twice:\n%s", c.args, errOut)
		}
	}
	// A command that fails on its own is exit 1, its error on stderr.
	code, out, errOut := runSplit(t, "audit", "keygen")
	if code != exitFailure || out != "" || !strings.Contains(errOut, "jitbot: audit keygen: --out FILE is required") {
		t.Errorf("audit keygen without --out: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestVersion(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/jitbot/jitbot", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "50b4a20c9e1f"},
			{Key: "vcs.time", Value: "2026-12-01T15:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	var out bytes.Buffer
	versionOf(info, "").write(&out)
	want := "jitbot v1.4.0\nmodule  github.com/jitbot/jitbot\ncommit  50b4a20c9e1f (2026-12-01T15:04:05Z), with uncommitted changes\ngo      go1.26.8\n"
	if out.String() != want {
		t.Errorf("version:\n%s\nwant:\n%s", out.String(), want)
	}
	if v := versionOf(info, "v1.4.1-rc1"); v.Version != "v1.4.1-rc1" || v.Commit != "50b4a20c9e1f" {
		t.Errorf("a version set at build time: %+v", v)
	}
	out.Reset()
	versionOf(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jitbot/jitbot", Version: "(devel)"}}, "").write(&out)
	if !strings.Contains(out.String(), "jitbot (devel)\n") || !strings.Contains(out.String(), "commit  not recorded") {
		t.Errorf("a build without VCS information:\n%s", out.String())
	}

	// The command itself reads this test binary's build information.
	code, text, errOut := runSplit(t, "version")
	if code != 0 || errOut != "" || !strings.HasPrefix(text, "jitbot ") || !strings.Contains(text, "go      go1.") {
		t.Errorf("jitbot version: exit %d, stderr %q:\n%s", code, errOut, text)
	}
	if _, again, _ := runSplit(t, "--version"); again != text {
		t.Errorf("jitbot --version differs from jitbot version:\n%s", again)
	}
	code, text, _ = runSplit(t, "version", "-json")
	var v buildVersion
	if err := json.Unmarshal([]byte(text), &v); code != 0 || err != nil || !strings.HasPrefix(v.Go, "go1.") || v.Version == "" {
		t.Errorf("jitbot version -json: exit %d, %v: %s", code, err, text)
	}
}
