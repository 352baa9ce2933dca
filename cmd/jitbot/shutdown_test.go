package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSQLiteServesOneProcessAndShutsDownCleanly starts the demo, shows that
// a second process on the same SQLite file refuses to serve and says why,
// stops the first with SIGTERM (it must exit 0 after closing the database)
// and starts again on the same file.
func TestSQLiteServesOneProcessAndShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "demo.db")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	first := startJitbot(t, bin, env, "demo", "--listen", "127.0.0.1:0", "--database", db)

	out, err := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--database", db).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another jitbot process is serving") || !strings.Contains(string(out), "PostgreSQL") {
		t.Fatalf("second process on the same SQLite file: err %v\n%s", err, out)
	}

	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- first.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, first.output())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20s of SIGTERM\n%s", first.output())
	}
	if !strings.Contains(first.output(), "shutting down") {
		t.Fatalf("no shutdown in the log:\n%s", first.output())
	}
	startJitbot(t, bin, env, "demo", "--listen", "127.0.0.1:0", "--database", db)
}
