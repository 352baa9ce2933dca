package manifest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// Icon sizes Teams requires.
const (
	ColorIconSize   = 192
	OutlineIconSize = 32
)

// The key glyph is drawn in a square design space of glyphUnits per side,
// with integer arithmetic only, so every platform draws the same pixels.
//
// The key lies on the diagonal from top left (the bow) to bottom right (the
// bit). Shapes are described in a frame turned by 45 degrees: for a point
// (dx, dy) relative to the frame's origin, u = dx+dy runs along the key and
// v = dy-dx across it (both √2 times the true distance).
const (
	glyphUnits = 1024
	// The frame's origin, placed so that the key's bounding box (x from
	// -493 to 400, y from -493 to 495 around it) sits in the middle.
	originX = glyphUnits/2 + 46
	originY = glyphUnits / 2

	bowU      = -520 // centre of the ring along the key
	bowOuter  = 330  // ring radius, in frame units
	bowInner  = 150  // hole radius
	shaftFrom = -250 // shaft start (inside the ring)
	shaftTo   = 720  // shaft end
	shaftHalf = 80   // half the shaft's width
	toothTo   = 270  // how far the teeth reach across the key
)

// teeth are the [from, to] spans along the key of the bit's two teeth.
func teeth() [][2]int { return [][2]int{{420, 520}, {600, 720}} }

// inKey reports whether the design-space point (x, y) is inside the key.
func inKey(x, y int) bool {
	dx, dy := x-originX, y-originY
	u, v := dx+dy, dy-dx
	// Ring: frame units are √2 times real units, so radii compare squared.
	du := u - bowU
	r2 := du*du + v*v
	if r2 <= bowOuter*bowOuter {
		return r2 > bowInner*bowInner
	}
	if u >= shaftFrom && u <= shaftTo && v >= -shaftHalf && v <= shaftHalf {
		return true
	}
	for _, t := range teeth() {
		if u >= t[0] && u <= t[1] && v > shaftHalf && v <= toothTo {
			return true
		}
	}
	return false
}

// coverage returns how much of each pixel of a size×size image the key
// covers, 0 to 255, when the glyph fills the square of side box pixels
// centred in the image. Each pixel is sampled on a grid of ss×ss points.
func coverage(size, box, ss int) []uint8 {
	off := (size - box) / 2
	cov := make([]uint8, size*size)
	total := ss * ss
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			gx, gy := px-off, py-off
			if gx < 0 || gy < 0 || gx >= box || gy >= box {
				continue
			}
			n := 0
			for j := 0; j < ss; j++ {
				// Sample centres, scaled to design units.
				y := (2*(gy*ss+j) + 1) * glyphUnits / (2 * box * ss)
				for i := 0; i < ss; i++ {
					x := (2*(gx*ss+i) + 1) * glyphUnits / (2 * box * ss)
					if inKey(x, y) {
						n++
					}
				}
			}
			cov[py*size+px] = uint8((n*255 + total/2) / total)
		}
	}
	return cov
}

// The components of AccentColor.
const accentR, accentG, accentB = 0x0F, 0x6C, 0xBD

// colorIcon draws color.png: a white key on the accent colour, opaque.
func colorIcon() image.Image {
	const size = ColorIconSize
	cov := coverage(size, 120, 4)
	mix := func(bgc uint8, a uint8) uint8 {
		return uint8((int(bgc)*(255-int(a)) + 255*int(a) + 127) / 255)
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for i, a := range cov {
		img.SetNRGBA(i%size, i/size, color.NRGBA{mix(accentR, a), mix(accentG, a), mix(accentB, a), 255})
	}
	return img
}

// outlineIcon draws outline.png: a white key on transparent, antialiased
// through alpha only.
func outlineIcon() image.Image {
	const size = OutlineIconSize
	cov := coverage(size, 30, 8)
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for i, a := range cov {
		if a > 0 {
			img.SetNRGBA(i%size, i/size, color.NRGBA{255, 255, 255, a})
		}
	}
	return img
}

// encodePNG returns img as PNG bytes, best compression.
func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("manifest: encode icon: %w", err)
	}
	return buf.Bytes(), nil
}

// ColorIcon returns color.png: 192×192, a white key on the accent colour.
func ColorIcon() ([]byte, error) { return encodePNG(colorIcon()) }

// OutlineIcon returns outline.png: 32×32, a white key on transparent.
func OutlineIcon() ([]byte, error) { return encodePNG(outlineIcon()) }
