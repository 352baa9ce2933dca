package manifest

import (
	"archive/zip"
	"fmt"
	"io"
	"time"
)

// packageTime is the modification time stamped on every file in the
// package, fixed so that the same options always give the same bytes.
func packageTime() time.Time { return time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC) }

// Package validates opts and writes the Teams app package to w: a zip
// holding manifest.json, color.png and outline.png at its root, ready to
// upload in Teams or the Teams admin center. Nothing is written when an
// option is invalid.
func Package(opts Options, w io.Writer) error {
	m, err := Build(opts)
	if err != nil {
		return err
	}
	color, err := ColorIcon()
	if err != nil {
		return err
	}
	outline, err := OutlineIcon()
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{ManifestFile, m},
		{ColorIconFile, color},
		{OutlineIconFile, outline},
	} {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: packageTime()}
		h.SetMode(0o644)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("manifest: package %s: %w", f.name, err)
		}
		if _, err := fw.Write(f.data); err != nil {
			return fmt.Errorf("manifest: package %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("manifest: package: %w", err)
	}
	return nil
}
