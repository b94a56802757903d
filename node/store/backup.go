package store

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// MaxBackupFrameSize is the largest length-prefixed frame accepted when
	// restoring. Backups written by this package use frames of about
	// backupBatchSize; badger's own tools stay well under 256 MiB too.
	MaxBackupFrameSize = 256 << 20

	// backupBatchSize is where the backup stream ends a frame (at the next
	// key): memory stays modest on small machines (badger's default is
	// 100 MB), and a stream cut short loses at most about this much of what
	// it sent when it is resumed.
	backupBatchSize = 1 << 20

	// restoreMaxPendingWrites bounds badger's loader (OPS §4.5, badger#714).
	restoreMaxPendingWrites = 32
)

// Backup writes a backup of every version newer than since to w in badger's
// backup format and returns the highest version written (since itself when
// nothing is newer). Pass since = 0 for a full backup, and for the next
// incremental backup pass the returned version unchanged: badger's doc says
// to add 1, which skips the first later version (OPS §4.2).
//
// The stream is read in one read transaction, so the backup is one
// consistent snapshot even while the node writes, and it is in key order,
// frames of whole keys, so that a stream cut short can be resumed (see
// [DB.BackupFrom] and [ScanBackup]). Backup waits for a running backup,
// restore or value-log GC. Cancelling ctx, a failing writer, or closing the
// DB stops it.
func (d *DB) Backup(ctx context.Context, w io.Writer, since uint64) (uint64, error) {
	return d.BackupFrom(ctx, w, since, BackupCursor{})
}

// BackupToFile writes a backup (see [DB.Backup]) to path atomically: into a
// temporary file in the same directory, fsynced, then renamed; then it writes
// the [Manifest] the same way to path+[ManifestSuffix] and fsyncs the
// directory. A backup file without a manifest is incomplete. The files are
// created with mode 0600.
func (d *DB) BackupToFile(ctx context.Context, path string, since uint64) (Manifest, error) {
	m, _, err := d.backupToFile(ctx, path, since, time.Now(), false)
	return m, err
}

// backupToFile implements BackupToFile. If skipEmpty and the backup holds no
// version newer than since, it writes nothing and reports written=false.
func (d *DB) backupToFile(ctx context.Context, path string, since uint64, now time.Time, skipEmpty bool) (m Manifest, written bool, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return Manifest{}, false, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if tmp != "" {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	h := sha256.New()
	var n countWriter
	bw := bufio.NewWriterSize(io.MultiWriter(f, h, &n), 1<<20)
	version, err := d.Backup(ctx, bw, since)
	if err != nil {
		return Manifest{}, false, err
	}
	if skipEmpty && version == since {
		return Manifest{Format: ManifestFormat, Since: since, Version: version, Created: now.UTC()}, false, nil
	}
	if err := bw.Flush(); err != nil {
		return Manifest{}, false, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return Manifest{}, false, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Manifest{}, false, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Manifest{}, false, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	tmp = ""
	m = Manifest{
		Format:  ManifestFormat,
		Since:   since,
		Version: version,
		SHA256:  hex.EncodeToString(h.Sum(nil)),
		Size:    int64(n),
		Created: now.UTC(),
		Badger:  badgerVersion(),
	}
	if err := WriteManifest(path, m); err != nil {
		_ = os.Remove(path)
		return Manifest{}, false, err
	}
	return m, true, nil
}

// WriteManifest validates m and writes it next to the backup at backupPath
// (at backupPath+[ManifestSuffix]) atomically: temporary file, fsync,
// rename, directory fsync. Use it for backup files written by other means,
// such as a backup streamed from a node's API.
func WriteManifest(backupPath string, m Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	data, err := m.encode()
	if err == nil {
		err = writeFileAtomic(backupPath+ManifestSuffix, data)
	}
	if err == nil {
		dir := filepath.Dir(backupPath)
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("store: write manifest for %s: %w", backupPath, err)
	}
	return nil
}

// Restore loads a backup stream (see [DB.Backup]) into the DB. Restore full
// backups and their incremental ones in order, into a fresh DB: entries keep
// their versions, so an older restored version of a key is hidden by a newer
// one already in the DB. Nothing else may write to the DB meanwhile (badger's
// Load requirement); Restore waits for backups and GC. Frames larger than
// [MaxBackupFrameSize] are rejected. A failed or cancelled restore leaves the
// entries loaded so far.
func (d *DB) Restore(ctx context.Context, r io.Reader) error {
	if d.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := d.withLife(ctx)
	defer cancel()
	d.maintMu.Lock()
	defer d.maintMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.bdb.Load(&frameReader{ctx: ctx, r: r}, restoreMaxPendingWrites); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("store: restore: %w", ctxErr)
		}
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// RestoreFile verifies the backup at path against its manifest (size and
// SHA-256, returning a [*ChecksumError] on mismatch) before loading anything,
// then restores it as [DB.Restore] does.
func (d *DB) RestoreFile(ctx context.Context, path string) (Manifest, error) {
	m, err := readManifest(path + ManifestSuffix)
	if err != nil {
		return Manifest{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("store: restore: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx: ctx, r: f})
	if err != nil {
		return Manifest{}, fmt.Errorf("store: restore %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != m.Size || got != m.SHA256 {
		return Manifest{}, &ChecksumError{Path: path, WantSHA256: m.SHA256, GotSHA256: got, WantSize: m.Size, GotSize: n}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Manifest{}, fmt.Errorf("store: restore %s: %w", path, err)
	}
	if err := d.Restore(ctx, io.LimitReader(f, n)); err != nil {
		return Manifest{}, fmt.Errorf("store: restore %s: %w", path, err)
	}
	return m, nil
}

// BackupFile is a backup file and its manifest.
type BackupFile struct {
	Path     string
	Manifest Manifest
}

// ListBackups returns the backups in dir that have a manifest, sorted by
// creation time and then version. A manifest that does not decode is an
// error.
func ListBackups(dir string) ([]BackupFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: list backups: %w", err)
	}
	var files []BackupFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ManifestSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, strings.TrimSuffix(name, ManifestSuffix))
		m, err := readManifest(path + ManifestSuffix)
		if err != nil {
			return nil, err
		}
		files = append(files, BackupFile{Path: path, Manifest: m})
	}
	slices.SortFunc(files, func(a, b BackupFile) int {
		return cmp.Or(a.Manifest.Created.Compare(b.Manifest.Created), cmp.Compare(a.Manifest.Version, b.Manifest.Version),
			strings.Compare(a.Path, b.Path))
	})
	return files, nil
}

// LatestChain picks from files the newest full backup (by creation time:
// versions of different databases, say before and after a wipe, do not
// compare) and the incremental backups that follow it, each starting at the
// version the previous one ended at and created after the full backup. Empty
// incremental backups (version equal to since) are skipped.
func LatestChain(files []BackupFile) ([]BackupFile, error) {
	var full *BackupFile
	for i := range files {
		m := files[i].Manifest
		if !m.Full() {
			continue
		}
		if full == nil || cmp.Or(m.Created.Compare(full.Manifest.Created), cmp.Compare(m.Version, full.Manifest.Version)) > 0 {
			full = &files[i]
		}
	}
	if full == nil {
		return nil, errors.New("store: no full backup")
	}
	chain := []BackupFile{*full}
	for cur := full.Manifest.Version; ; {
		var next []BackupFile
		for _, f := range files {
			if m := f.Manifest; m.Since == cur && m.Version > m.Since && !m.Full() && !m.Created.Before(full.Manifest.Created) {
				next = append(next, f)
			}
		}
		switch len(next) {
		case 0:
			return chain, nil
		case 1:
			chain = append(chain, next[0])
			cur = next[0].Manifest.Version
		default:
			return nil, fmt.Errorf("store: ambiguous backup chain: %d incremental backups since version %d", len(next), cur)
		}
	}
}

// RestoreDir restores the latest chain of backups in dir (see [LatestChain]
// and [DB.RestoreFile]) and returns it.
func (d *DB) RestoreDir(ctx context.Context, dir string) ([]BackupFile, error) {
	files, err := ListBackups(dir)
	if err != nil {
		return nil, err
	}
	chain, err := LatestChain(files)
	if err != nil {
		return nil, err
	}
	for _, f := range chain {
		if _, err := d.RestoreFile(ctx, f.Path); err != nil {
			return nil, err
		}
	}
	return chain, nil
}

func readManifest(path string) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("store: read manifest: %w", err)
	}
	defer f.Close()
	m, err := DecodeManifest(f)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// writeFileAtomic writes data to a temporary file next to path, fsyncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// syncDir fsyncs a directory so that renames in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var badgerVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/dgraph-io/badger/v4" {
				return dep.Version
			}
		}
	}
	return ""
})

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// frameReader passes a backup stream through while checking its framing:
// each frame is a little-endian uint64 length and that many bytes. badger's
// Load allocates a buffer of the declared length, so a corrupt length could
// exhaust memory; frameReader rejects lengths above MaxBackupFrameSize and
// streams that end inside a frame, and stops when ctx is done.
type frameReader struct {
	ctx       context.Context
	r         io.Reader
	hdr       [8]byte
	pending   []byte // unread part of hdr
	remaining uint64 // unread payload bytes of the current frame
}

func (f *frameReader) Read(p []byte) (int, error) {
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(f.pending) == 0 && f.remaining == 0 {
		switch _, err := io.ReadFull(f.r, f.hdr[:]); {
		case errors.Is(err, io.EOF):
			return 0, io.EOF
		case errors.Is(err, io.ErrUnexpectedEOF):
			return 0, errors.New("backup truncated inside a frame header")
		case err != nil:
			return 0, err
		}
		size := binary.LittleEndian.Uint64(f.hdr[:])
		if size > MaxBackupFrameSize {
			return 0, fmt.Errorf("backup frame of %d bytes exceeds %d", size, MaxBackupFrameSize)
		}
		f.remaining = size
		f.pending = f.hdr[:]
	}
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		return n, nil
	}
	if uint64(len(p)) > f.remaining {
		p = p[:f.remaining]
	}
	n, err := f.r.Read(p)
	f.remaining -= uint64(n)
	if errors.Is(err, io.EOF) {
		if f.remaining > 0 {
			return n, errors.New("backup truncated inside a frame")
		}
		err = nil
	}
	return n, err
}
