package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCPUProfile writes a profile go tool pprof reads (gzip-compressed
// protocol buffers) once stopped, and names the flag when the file cannot
// be created.
func TestCPUProfile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := startCPUProfile(file)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		t.Errorf("profile starts with % x, want gzip", raw[:min(len(raw), 4)])
	}
	if _, err := startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.prof")); err == nil || !bytes.Contains([]byte(err.Error()), []byte("--cpuprofile")) {
		t.Errorf("unwritable profile: %v", err)
	}
}
