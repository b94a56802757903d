package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"
)

// MaxBackupCursorKey bounds [BackupCursor.Key]: the node's keys are far
// shorter (badger allows up to 65,000 bytes, Aurora's keys are under 200).
const MaxBackupCursorKey = 4 << 10

// badger's entry meta bits (badger value.go) that a backup must carry: the
// rest (value pointer, transaction markers) are recomputed by Load.
const (
	metaDelete                 byte = 1 << 0
	metaDiscardEarlierVersions byte = 1 << 2
)

// A BackupCursor says how far the kept part of an interrupted backup stream
// goes, so that [DB.BackupFrom] can send the rest. [ScanBackup] reads it off
// the kept bytes. The zero cursor means nothing was kept.
type BackupCursor struct {
	// Key is the last key of the kept part. Streams are in key order and a
	// frame holds whole keys, so every key up to Key was kept whole.
	Key []byte
	// Version is the highest version in the kept part.
	Version uint64
}

// IsZero reports whether c is the zero cursor.
func (c BackupCursor) IsZero() bool { return len(c.Key) == 0 && c.Version == 0 }

// BackupFrom writes the rest of an interrupted backup: appended to the kept
// part that c describes (see [ScanBackup]), it makes a backup that restores
// exactly like a complete backup since since taken now. With the zero
// cursor it is [DB.Backup].
//
// The stream is one snapshot in key order: first the keys up to c.Key with
// their versions newer than c.Version (what changed there since the kept
// part was written), then the keys after c.Key with every version newer
// than since. Nothing older is missing for the keys up to c.Key: the kept
// part holds every version of them up to c.Version, its highest. A stream
// cut again is resumed the same way, from the cursor of everything kept so
// far (which [ScanBackup] reads off the concatenation).
//
// It returns the highest version of the whole backup: the kept part's
// (c.Version) or this stream's, and since when both are empty.
func (d *DB) BackupFrom(ctx context.Context, w io.Writer, since uint64, c BackupCursor) (uint64, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	if len(c.Key) > MaxBackupCursorKey {
		return 0, fmt.Errorf("store: backup cursor key of %d bytes exceeds %d", len(c.Key), MaxBackupCursorKey)
	}
	if len(c.Key) == 0 && c.Version != 0 {
		return 0, errors.New("store: backup cursor with a version but no key")
	}
	if !c.IsZero() && c.Version < since {
		return 0, fmt.Errorf("store: backup cursor version %d is below since %d", c.Version, since)
	}
	ctx, cancel := d.withLife(ctx)
	defer cancel()
	d.maintMu.Lock()
	defer d.maintMu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	bs := &backupStream{ctx: ctx, w: w, max: since, frame: backupBatchSize}
	if d.backupFrame > 0 {
		bs.frame = d.backupFrame
	}
	// One read transaction: the stream is one consistent snapshot even
	// while the node writes.
	txn := d.bdb.NewTransaction(false)
	defer txn.Discard()
	var err error
	if c.IsZero() {
		err = bs.keys(txn, since, nil, nil)
	} else {
		if err = bs.keys(txn, c.Version, nil, c.Key); err == nil {
			err = bs.keys(txn, since, c.Key, nil)
		}
	}
	if err == nil {
		err = bs.flush()
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return 0, fmt.Errorf("store: backup since %d: %w", since, err)
	}
	return max(bs.max, c.Version), nil
}

// backupStream writes badger's backup format, frames of whole keys in key
// order: a little-endian uint64 length and a marshalled pb.KVList.
type backupStream struct {
	ctx   context.Context
	w     io.Writer
	list  pb.KVList
	size  int    // approximate marshalled size of list
	frame int    // a frame ends once it holds this much
	max   uint64 // the highest version written
	hdr   [8]byte
	n     int // keys streamed
}

// keys streams the keys k with after < k ≤ through (nil bounds are open),
// each with its versions newer than since, as badger's Stream.Backup would:
// newest first, down to a deletion, an expiry or a version that discards
// earlier ones.
func (bs *backupStream) keys(txn *badger.Txn, since uint64, after, through []byte) error {
	opts := badger.IteratorOptions{AllVersions: true, SinceTs: since}
	it := txn.NewIterator(opts)
	defer it.Close()
	if after != nil {
		it.Seek(after)
	} else {
		it.Rewind()
	}
	now := uint64(time.Now().Unix()) // expiry is badger's, on the wall clock
	var key []byte
	done := false // the current key needs no older versions
	for ; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if !bytes.Equal(k, key) {
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			if through != nil && bytes.Compare(k, through) > 0 {
				break
			}
			if err := bs.endKey(); err != nil {
				return err
			}
			key, done = item.KeyCopy(key[:0]), false
		}
		if done {
			continue
		}
		kv := &pb.KV{Key: item.KeyCopy(nil), UserMeta: []byte{item.UserMeta()}, Version: item.Version(), ExpiresAt: item.ExpiresAt()}
		var meta byte
		switch {
		case item.IsDeletedOrExpired():
			// No value. An expired entry keeps its expiry (it stays
			// expired once restored); anything else is a deletion.
			if kv.ExpiresAt == 0 || kv.ExpiresAt > now {
				meta |= metaDelete
			}
			done = true
		default:
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("key %q version %d: %w", truncKey(k), item.Version(), err)
			}
			kv.Value = v
		}
		if item.DiscardEarlierVersions() {
			meta |= metaDiscardEarlierVersions
			done = true
		}
		kv.Meta = []byte{meta}
		bs.add(kv)
		if meta&metaDiscardEarlierVersions != 0 {
			// As badger does: a delete marker just below hides the older
			// versions a restore target may already hold.
			bs.add(&pb.KV{Key: kv.Key, Version: kv.Version - 1, Meta: []byte{metaDelete}})
		}
	}
	return bs.endKey()
}

func (bs *backupStream) add(kv *pb.KV) {
	bs.list.Kv = append(bs.list.Kv, kv)
	bs.size += proto.Size(kv) + 8
	bs.max = max(bs.max, kv.Version)
}

// endKey is called between keys: a frame ends only there, once it holds
// backupBatchSize bytes.
func (bs *backupStream) endKey() error {
	bs.n++
	if bs.n%256 == 0 {
		if err := bs.ctx.Err(); err != nil {
			return err
		}
	}
	if bs.size < bs.frame {
		return nil
	}
	return bs.flush()
}

func (bs *backupStream) flush() error {
	if len(bs.list.Kv) == 0 {
		return nil
	}
	buf, err := proto.Marshal(&bs.list)
	if err != nil {
		return err
	}
	if len(buf) > MaxBackupFrameSize {
		return fmt.Errorf("a key's versions make a frame of %d bytes, over the restore limit %d", len(buf), MaxBackupFrameSize)
	}
	if err := bs.ctx.Err(); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(bs.hdr[:], uint64(len(buf)))
	if _, err := bs.w.Write(bs.hdr[:]); err != nil {
		return err
	}
	if _, err := bs.w.Write(buf); err != nil {
		return err
	}
	bs.list.Kv, bs.size = bs.list.Kv[:0], 0
	return nil
}

// BackupScan is what [ScanBackup] found in a backup stream.
type BackupScan struct {
	// Size is the length of the whole frames at the start of the stream: a
	// stream cut short is truncated to Size before it is resumed.
	Size int64
	// Frames and Entries count the whole frames and their entries.
	Frames, Entries int
	// Cursor is where the whole frames end, for [DB.BackupFrom].
	Cursor BackupCursor
	// Truncated reports bytes after the last whole frame.
	Truncated bool
}

// ScanBackup reads a backup stream, typically the part of an interrupted
// one a client kept, up to its last whole frame, and returns where that
// ends. Bytes after the last whole frame (a frame cut short) are not an
// error: Truncated says they are there. A frame longer than
// [MaxBackupFrameSize], or one that is not a KVList, is an error.
//
// The cursor holds for streams of [DB.Backup] and [DB.BackupFrom], which
// are in key order; badger's own Stream orders key ranges by size, so its
// backups cannot be resumed by key.
func ScanBackup(ctx context.Context, r io.Reader) (BackupScan, error) {
	var (
		s   BackupScan
		hdr [8]byte
		buf bytes.Buffer
	)
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		n, err := io.ReadFull(r, hdr[:])
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			s.Truncated = n > 0
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("store: scan backup: %w", err)
		}
		size := binary.LittleEndian.Uint64(hdr[:])
		if size > MaxBackupFrameSize {
			return s, fmt.Errorf("store: scan backup: frame %d at byte %d: %d bytes exceeds %d", s.Frames, s.Size, size, MaxBackupFrameSize)
		}
		// Grown as bytes arrive, not allocated from the declared length.
		buf.Reset()
		if n, err := io.CopyN(&buf, r, int64(size)); err != nil && !errors.Is(err, io.EOF) {
			return s, fmt.Errorf("store: scan backup: %w", err)
		} else if n < int64(size) {
			s.Truncated = true
			return s, nil
		}
		var list pb.KVList
		if err := proto.Unmarshal(buf.Bytes(), &list); err != nil {
			return s, fmt.Errorf("store: scan backup: frame %d at byte %d: %w", s.Frames, s.Size, err)
		}
		for _, kv := range list.Kv {
			if len(kv.Key) == 0 {
				return s, fmt.Errorf("store: scan backup: frame %d at byte %d: an entry without a key", s.Frames, s.Size)
			}
			s.Cursor.Version = max(s.Cursor.Version, kv.Version)
		}
		if n := len(list.Kv); n > 0 {
			s.Cursor.Key = append(s.Cursor.Key[:0], list.Kv[n-1].Key...)
		}
		s.Frames++
		s.Entries += len(list.Kv)
		s.Size += int64(8 + size)
	}
}

func truncKey(k []byte) []byte {
	if len(k) > 64 {
		return k[:64]
	}
	return k
}
