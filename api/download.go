package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/lograte"
)

// Downloads is the part of the domain a report download uses.
// *access.Service implements it.
type Downloads interface {
	// RedeemDownload admits (and audits) one use of a link, or refuses it.
	RedeemDownload(ctx context.Context, link access.DownloadLink) error
	// EachGrantRecord streams the grants view of the requests q selects.
	EachGrantRecord(ctx context.Context, q access.RequestQuery, fn func(access.GrantRecord) error) error
}

var _ Downloads = (*access.Service)(nil)

// LinkVerifier checks a download link's signature (audit.LinkSigner).
type LinkVerifier interface {
	Verify(token string) (access.DownloadLink, error)
}

// Download serves GET <prefix>{token}: the CSV (grants view) of the report
// a signed, unexpired, unused link names, for a reader who still is one.
// A link with a bad signature gets 404; an expired or used one 410; one
// whose reader is no longer one 403. Only GET uses a link: HEAD and the
// other methods are refused without touching it, so a link checker cannot
// use it up.
type Download struct {
	Links   LinkVerifier
	Reports Downloads
	Logger  *slog.Logger

	// Refusals are logged at most once a second, with a count of the rest,
	// so that a flood of forged links cannot flood the log.
	refusals lograte.Limiter
}

// refused logs a refused download, rate-limited.
func (d *Download) refused(msg string, args ...any) {
	if ok, suppressed := d.refusals.Allow(time.Now()); ok {
		d.log().Warn(msg, append(args, "similar_not_logged", suppressed)...)
	}
}

// downloadWriteTimeout bounds the writing of one download.
const downloadWriteTimeout = 30 * time.Minute

// ServeHTTP implements http.Handler; the token is the path's last segment.
func (d *Download) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet {
		h.Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	link, err := d.Links.Verify(token)
	if err != nil {
		d.refused("audit download refused: bad signature", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "This download link is not valid.", http.StatusNotFound)
		return
	}
	if err := d.Reports.RedeemDownload(r.Context(), link); err != nil {
		var ref *access.Refusal
		status := http.StatusInternalServerError
		msg := "The download failed on jitbot's side; try again with a new link from `audit`."
		if errors.As(err, &ref) {
			msg = ref.Reason
			switch {
			case errors.Is(err, access.ErrLinkExpired), errors.Is(err, access.ErrLinkUsed):
				status = http.StatusGone
			case errors.Is(err, access.ErrNotAuditReader):
				status = http.StatusForbidden
			default:
				status = http.StatusNotFound
			}
			d.refused("audit download refused", "link", link.ID, "user", link.UserID, "err", err)
		} else {
			d.log().Error("audit download", "link", link.ID, "err", err)
		}
		http.Error(w, msg, status)
		return
	}
	// A large period takes longer than the server's write timeout allows
	// an ordinary response.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(downloadWriteTimeout)); err != nil {
		d.log().Warn("audit download: cannot extend the write deadline", "link", link.ID, "err", err)
	}
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="jitbot-grants-%s-%s.csv"`,
		link.Since.UTC().Format("20060102T150405Z"), link.Until.UTC().Format("20060102T150405Z")))
	cw, err := audit.NewGrantWriter(w, audit.FormatCSV)
	if err == nil {
		err = d.Reports.EachGrantRecord(r.Context(), link.Query(), cw.Write)
	}
	if err == nil {
		err = cw.Close()
	}
	if err != nil {
		// The status is sent; a cut-off body is all that can tell the reader.
		d.log().Error("audit download: writing the CSV", "link", link.ID, "err", err)
		return
	}
	d.log().Info("audit download", "link", link.ID, "user", link.UserID, "rows", cw.Count())
}

func (d *Download) log() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}
