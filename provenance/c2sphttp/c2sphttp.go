// Package c2sphttp speaks the C2SP transparency-log protocols over HTTP for
// a provenance log: a read-only tlog-tiles handler (checkpoint, hash tiles,
// entry bundles), a tlog-witness add-checkpoint handler over a
// provenance.Witness, and a tiles client. The protocol logic lives in
// provenance, provenance/tiles and provenance.Witness; this package only
// maps it to requests, status codes and headers.
package c2sphttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/tiles"
)

// Cache-Control values. A tile's content is fixed by its path (a partial
// tile of width W never changes either, and only tiles within the latest
// checkpoint, which the log synced before signing, are served), so both
// kinds are immutable; the checkpoint is mutable.
const (
	CacheImmutable  = "public, max-age=31536000, immutable"
	CacheCheckpoint = "no-cache, max-age=0"
)

// Content types of the C2SP resources.
const (
	ctText = "text/plain; charset=utf-8"
	ctTile = "application/octet-stream"
	ctSize = "text/x.tlog.size"
)

// TilesConfig configures NewTilesHandler.
type TilesConfig struct {
	// Log reads the tiles. Required.
	Log tiles.Log
	// Latest returns the latest signed (and cosigned) checkpoint: tiles are
	// served for its size only. Required.
	Latest func(ctx context.Context) (provenance.Checkpoint, error)
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
}

// NewTilesHandler serves GET /checkpoint, /tile/<L>/<N>[.p/<W>] and
// /tile/entries/<N>[.p/<W>] relative to the path it is mounted at (strip
// the prefix with http.StripPrefix). Anything else is 404; methods other
// than GET and HEAD are 405.
func NewTilesHandler(cfg TilesConfig) (http.Handler, error) {
	if cfg.Log == nil || cfg.Latest == nil {
		return nil, errors.New("c2sphttp: tiles config: Log and Latest are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &tilesHandler{cfg: cfg}, nil
}

type tilesHandler struct{ cfg TilesConfig }

func (h *tilesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method not allowed: tiles are read-only")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	cp, err := h.cfg.Latest(r.Context())
	if errors.Is(err, provenance.ErrNotFound) {
		plain(w, http.StatusNotFound, "no checkpoint yet")
		return
	}
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "c2sphttp: latest checkpoint", "err", err)
		plain(w, http.StatusServiceUnavailable, "checkpoint unavailable")
		return
	}
	if path == "checkpoint" {
		w.Header().Set("Content-Type", ctText)
		w.Header().Set("Cache-Control", CacheCheckpoint)
		w.Header().Set("Content-Length", strconv.Itoa(len(cp.Note)))
		w.Write(cp.Note)
		return
	}
	p, err := tiles.ParsePath(path)
	if err != nil {
		plain(w, http.StatusNotFound, err.Error())
		return
	}
	b, err := tiles.Read(r.Context(), h.cfg.Log, p, cp.Size)
	if errors.Is(err, tiles.ErrNotFound) {
		plain(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "c2sphttp: read tile", "tile", p.String(), "err", err)
		plain(w, http.StatusInternalServerError, "cannot read tile")
		return
	}
	w.Header().Set("Content-Type", ctTile)
	w.Header().Set("Cache-Control", CacheImmutable)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", ctText)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// Witness is what the add-checkpoint handler calls: *provenance.Witness.
type Witness interface {
	AddCheckpoint(ctx context.Context, body []byte) ([]byte, error)
}

var _ Witness = (*provenance.Witness)(nil)

// NewWitnessHandler serves C2SP tlog-witness POST /add-checkpoint relative
// to its mount point, with the status codes provenance.StatusCode gives (the
// same answers as the libp2p witness stream): 200 with the cosignature
// lines, 400, 403, 404, 409 with the stored size (text/x.tlog.size), 422.
// A body over provenance.MaxAddCheckpointSize is 413, refused from its
// declared Content-Length before reading.
func NewWitnessHandler(wit Witness, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.URL.Path, "/") != "add-checkpoint" {
			plain(w, http.StatusNotFound, "not found")
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			plain(w, http.StatusMethodNotAllowed, "add-checkpoint takes POST")
			return
		}
		if r.ContentLength > provenance.MaxAddCheckpointSize {
			plain(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", provenance.MaxAddCheckpointSize))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, provenance.MaxAddCheckpointSize))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				plain(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", provenance.MaxAddCheckpointSize))
				return
			}
			plain(w, http.StatusBadRequest, "cannot read body")
			return
		}
		sig, err := wit.AddCheckpoint(r.Context(), body)
		status := provenance.StatusCode(err)
		var conflict *provenance.ConflictError
		switch {
		case err == nil:
			w.Header().Set("Content-Type", ctText)
			w.Write(sig)
		case errors.As(err, &conflict):
			w.Header().Set("Content-Type", ctSize)
			w.WriteHeader(http.StatusConflict)
			w.Write(conflict.Body())
		case status >= 500:
			logger.ErrorContext(r.Context(), "c2sphttp: add-checkpoint", "err", err)
			plain(w, status, "internal error")
		default:
			plain(w, status, err.Error())
		}
	})
}
