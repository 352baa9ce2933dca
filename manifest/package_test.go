package manifest

import (
	"archive/zip"
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"testing"
)

// unzip returns the package's files by name, in zip order.
func unzip(t *testing.T, pkg []byte) (names []string, files map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		t.Fatalf("package is not a zip: %v", err)
	}
	files = make(map[string][]byte)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		files[f.Name] = b
	}
	return names, files
}

func buildPackage(t *testing.T, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Package(opts, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPackageContents(t *testing.T) {
	names, files := unzip(t, buildPackage(t, goldenOptions()))
	want := []string{ManifestFile, ColorIconFile, OutlineIconFile}
	if len(names) != len(want) {
		t.Fatalf("package holds %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("package holds %v, want %v at the root", names, want)
		}
	}
	m, err := Build(goldenOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[ManifestFile], m) {
		t.Error("manifest.json in the package differs from Build's")
	}
	// The manifest's icon paths name the files in the package.
	d := decode(t, files[ManifestFile])
	for _, p := range []string{d.Icons.Color, d.Icons.Outline} {
		if _, ok := files[p]; !ok {
			t.Errorf("manifest names icon %q, which is not in the package", p)
		}
	}

	checkColorIcon(t, files[ColorIconFile])
	checkOutlineIcon(t, files[OutlineIconFile])
}

func decodePNG(t *testing.T, name string, b []byte, size int) image.Image {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || format != "png" {
		t.Fatalf("%s: not a PNG (format %q): %v", name, format, err)
	}
	if cfg.Width != size || cfg.Height != size {
		t.Fatalf("%s is %d×%d, want %d×%d", name, cfg.Width, cfg.Height, size, size)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

func checkColorIcon(t *testing.T, b []byte) {
	img := decodePNG(t, ColorIconFile, b, ColorIconSize)
	colours := make(map[color.NRGBA]int)
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c.A != 255 {
				t.Fatalf("color.png pixel (%d,%d) is not opaque: %v", x, y, c)
			}
			colours[c]++
		}
	}
	bg := color.NRGBA{accentR, accentG, accentB, 255}
	white := color.NRGBA{255, 255, 255, 255}
	if colours[bg] == 0 || colours[white] == 0 {
		t.Errorf("color.png should show a white glyph on the accent colour; accent %d, white %d pixels", colours[bg], colours[white])
	}
	if c := color.NRGBAModel.Convert(img.At(0, 0)).(color.NRGBA); c != bg {
		t.Errorf("color.png corner is %v, want the accent colour %v", c, bg)
	}
	// The glyph covers a fair share of the icon but not all of it.
	if share := colours[white] * 100 / (ColorIconSize * ColorIconSize); share < 5 || share > 40 {
		t.Errorf("glyph covers %d%% of color.png", share)
	}
}

func checkOutlineIcon(t *testing.T, b []byte) {
	img := decodePNG(t, OutlineIconFile, b, OutlineIconSize)
	var opaque, transparent int
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			switch {
			case c.A == 0:
				transparent++
			case c.R != 255 || c.G != 255 || c.B != 255:
				t.Fatalf("outline.png pixel (%d,%d) is %v: only white and transparent are allowed", x, y, c)
			case c.A == 255:
				opaque++
			}
		}
	}
	if opaque == 0 || transparent == 0 {
		t.Errorf("outline.png has %d opaque white and %d transparent pixels; want both", opaque, transparent)
	}
	for _, p := range []image.Point{{0, 0}, {31, 0}, {0, 31}, {31, 31}} {
		if a := color.NRGBAModel.Convert(img.At(p.X, p.Y)).(color.NRGBA).A; a != 0 {
			t.Errorf("outline.png corner %v is not transparent", p)
		}
	}
}

func TestPackageDeterministic(t *testing.T) {
	a := buildPackage(t, goldenOptions())
	b := buildPackage(t, goldenOptions())
	if !bytes.Equal(a, b) {
		t.Error("two packages built from the same options differ")
	}
	c1, _ := ColorIcon()
	c2, _ := ColorIcon()
	o1, _ := OutlineIcon()
	o2, _ := OutlineIcon()
	if !bytes.Equal(c1, c2) || !bytes.Equal(o1, o2) {
		t.Error("icons differ between calls")
	}
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if !f.Modified.Equal(packageTime()) {
			t.Errorf("%s stamped %v, want the fixed %v", f.Name, f.Modified, packageTime())
		}
	}
}

func TestAccentColorComponents(t *testing.T) {
	want := "#" + hex2(accentR) + hex2(accentG) + hex2(accentB)
	if AccentColor != want {
		t.Errorf("AccentColor %q but icon components make %q", AccentColor, want)
	}
}

func hex2(v int) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[v>>4], digits[v&15]})
}
