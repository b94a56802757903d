package treaty

import "fmt"

// SnapshotManifest is an operator's signed statement of its ledger at one
// moment (`aurora ledger snapshot`): its log's latest cosigned checkpoint
// (Checkpoint, the signed note, of tree size Size), the latest closed
// epoch and its root block (which links every earlier epoch root), and
// counts. Its SHA-256 is timestamped by the node's two TSAs, it is pinned,
// and a SnapshotEntry leaf records it in the log.
type SnapshotManifest struct {
	V          int64  `cbor:"v"`
	Operator   DID    `cbor:"operator"`
	Origin     string `cbor:"origin"`
	Checkpoint []byte `cbor:"checkpoint"`
	Size       int64  `cbor:"size"`
	Epoch      int64  `cbor:"epoch"`
	EpochRoot  string `cbor:"epoch_root"`
	Jobs       int64  `cbor:"jobs"`
	Treaties   int64  `cbor:"treaties"`
	At         int64  `cbor:"at"`
	Sig        []byte `cbor:"sig,omitempty"`
}

// SnapshotEntry records a snapshot in the log: the manifest's CID and
// SHA-256 (of its dag-cbor) and the SHA-256 of each RFC 3161 token over
// that SHA-256.
type SnapshotEntry struct {
	V            int64    `cbor:"v"`
	Manifest     Link     `cbor:"manifest"`
	SHA256       []byte   `cbor:"sha256"`
	TokensSHA256 [][]byte `cbor:"tokens_sha256"`
	At           int64    `cbor:"at"`
}

func (*SnapshotManifest) Kind() string         { return "snapshot" }
func (m *SnapshotManifest) Signer() DID        { return m.Operator }
func (m *SnapshotManifest) signature() *[]byte { return &m.Sig }

// Validate checks m's fields (not its signature).
func (m *SnapshotManifest) Validate() error {
	c := checker{kind: "snapshot"}
	c.version(m.V)
	c.did("operator", m.Operator)
	c.str("origin", m.Origin, 1, MaxNameLen*4)
	if n := len(m.Checkpoint); n == 0 || n > MaxCheckpointLen {
		c.fail("checkpoint", "%d bytes, want 1 to %d", n, MaxCheckpointLen)
	}
	c.rangeInt("size", m.Size, 0, 1<<48)
	c.rangeInt("epoch", m.Epoch, 0, 1<<48)
	if m.EpochRoot != "" {
		c.str("epoch_root", m.EpochRoot, 1, maxJobIDLen)
	}
	c.rangeInt("jobs", m.Jobs, 0, 1<<48)
	c.rangeInt("treaties", m.Treaties, 0, 1<<32)
	c.rangeInt("at", m.At, 1, 1<<40)
	return c.result()
}

func (e *SnapshotEntry) validate(c *checker) {
	c.rangeInt("snapshot.v", e.V, Version, Version)
	c.link("snapshot.manifest", e.Manifest)
	if len(e.SHA256) != 32 {
		c.fail("snapshot.sha256", "%d bytes, want 32", len(e.SHA256))
	}
	if len(e.TokensSHA256) > MaxTSATokens {
		c.fail("snapshot.tokens_sha256", "%d digests, want at most %d", len(e.TokensSHA256), MaxTSATokens)
	}
	for i, d := range e.TokensSHA256 {
		if len(d) != 32 {
			c.fail(fmt.Sprintf("snapshot.tokens_sha256[%d]", i), "%d bytes, want 32", len(d))
		}
	}
	c.rangeInt("snapshot.at", e.At, 1, 1<<40)
}
