package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
)

// version overrides the module version when set at build time with
// -ldflags "-X main.version=v1.2.3" (a build outside a module release).
var version string

// buildVersion is what `jitbot version` prints.
type buildVersion struct {
	// Version is the module version ("(devel)" for a build from a
	// checkout), or the one set at build time.
	Version string `json:"version"`
	// Module is the main module's path.
	Module string `json:"module"`
	// Commit, Time and Modified are the VCS revision the binary was built
	// from, its commit time and whether the work tree had changes (empty
	// and false when the build did not record them, as in `go run`).
	Commit   string `json:"commit"`
	Time     string `json:"commit_time"`
	Modified bool   `json:"modified"`
	// Go is the Go version the binary was built with.
	Go string `json:"go"`
}

// versionOf reads what info records about the build.
func versionOf(info *debug.BuildInfo, override string) buildVersion {
	v := buildVersion{Version: override}
	if info == nil {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	if v.Version == "" {
		v.Version = info.Main.Version
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	v.Module, v.Go = info.Main.Path, info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// write prints v as text: the version on the first line, then one line
// each for the module, the commit and Go.
func (v buildVersion) write(w io.Writer) {
	fmt.Fprintf(w, "jitbot %s\n", v.Version)
	if v.Module != "" {
		fmt.Fprintf(w, "module  %s\n", v.Module)
	}
	commit := "not recorded (built without version control information: go run, -buildvcs=false, or outside a git clone)"
	if v.Commit != "" {
		commit = v.Commit
		if v.Time != "" {
			commit += " (" + v.Time + ")"
		}
		if v.Modified {
			commit += ", with uncommitted changes"
		}
	}
	fmt.Fprintf(w, "commit  %s\n", commit)
	if v.Go != "" {
		fmt.Fprintf(w, "go      %s\n", v.Go)
	}
}

// versionCmd runs `jitbot version [-json]`.
func versionCmd(args []string, stdout io.Writer) error {
	fs := commandFlags("version", stdout)
	asJSON := fs.Bool("json", false, "print the version as one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{command: "version", err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	info, _ := debug.ReadBuildInfo()
	v := versionOf(info, version)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	v.write(stdout)
	return nil
}
