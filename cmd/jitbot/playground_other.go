//go:build !unix

package main

import "os/exec"

// ownProcessGroup leaves cmd as it is: without process groups only the
// process itself is stopped.
func ownProcessGroup(*exec.Cmd) {}

// terminateGroup stops cmd's process.
func terminateGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// killGroup stops cmd's process.
func killGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
