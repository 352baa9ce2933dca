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

// TestHeapProfile writes a heap profile go tool pprof reads when asked,
// and names the flag when the file cannot be created.
func TestHeapProfile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "heap.prof")
	write, err := heapProfileAtExit(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		t.Errorf("profile starts with % x, want gzip", raw[:min(len(raw), 4)])
	}
	if _, err := heapProfileAtExit(filepath.Join(t.TempDir(), "missing", "heap.prof")); err == nil || !bytes.Contains([]byte(err.Error()), []byte("--memprofile")) {
		t.Errorf("unwritable profile: %v", err)
	}
}
