//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package storage

import "os"

// lockFile does nothing where flock is not available: running a single
// replica on SQLite is then up to the operator.
func lockFile(string) (*os.File, error) { return nil, nil }
