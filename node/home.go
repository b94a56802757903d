package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aurora-federation/aurora/treaty"
)

// ErrHomeExists is returned by InitHome when the home already has a key and
// force is not set.
var ErrHomeExists = errors.New("node: home already initialized (use --force to overwrite)")

// Token is the API bearer token. It redacts itself in logs.
type Token string

func (Token) LogValue() slog.Value { return slog.StringValue("REDACTED") }
func (Token) String() string       { return "REDACTED" }

// Identity is a node's public identity.
type Identity struct {
	DID    treaty.DID
	PeerID peer.ID
}

// IdentityOf derives the DID and libp2p peer ID of a key: both come from
// the same Ed25519 public key.
func IdentityOf(k *treaty.PrivateKey) (Identity, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(k.Public())
	if err != nil {
		return Identity{}, fmt.Errorf("node: peer key: %w", err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return Identity{}, fmt.Errorf("node: peer id: %w", err)
	}
	return Identity{DID: k.DID(), PeerID: id}, nil
}

// InitHome creates a node home: key (0600), config.toml, API token (0600).
// It refuses to overwrite an existing key unless force is set. cfg is the
// configuration to write (DefaultConfig with flag overrides).
func InitHome(home string, cfg Config, force bool, rnd io.Reader) (Identity, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return Identity{}, fmt.Errorf("node: create home: %w", err)
	}
	keyPath := filepath.Join(home, KeyFile)
	if _, err := os.Stat(keyPath); err == nil && !force {
		return Identity{}, fmt.Errorf("%w: %s", ErrHomeExists, keyPath)
	}
	k, err := treaty.GenerateKey(rnd)
	if err != nil {
		return Identity{}, err
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		return Identity{}, err
	}
	var tok [32]byte
	if _, err := io.ReadFull(rnd, tok[:]); err != nil {
		return Identity{}, fmt.Errorf("node: token: %w", err)
	}
	cfgText, err := cfg.TOML()
	if err != nil {
		return Identity{}, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{KeyFile, pemBytes, 0o600},
		{TokenFile, []byte(hex.EncodeToString(tok[:]) + "\n"), 0o600},
		{ConfigFile, append([]byte("# Aurora node configuration. Unknown keys are errors.\n# Precedence: flags > AURORA_* environment > this file > defaults.\n\n"), cfgText...), 0o644},
	} {
		if err := writeFileAtomic(filepath.Join(home, f.name), f.data, f.mode); err != nil {
			return Identity{}, err
		}
	}
	return IdentityOf(k)
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// LoadKey reads a PEM key file, refusing one readable by group or others.
func LoadKey(path string) (*treaty.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("node: key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node: key %s has mode %v; want 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node: key: %w", err)
	}
	k, err := treaty.ParsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("node: key %s: %w", path, err)
	}
	return k, nil
}

// LoadToken reads the API token of a home.
func LoadToken(home string) (Token, error) {
	data, err := os.ReadFile(filepath.Join(home, TokenFile))
	if err != nil {
		return "", fmt.Errorf("node: token: %w", err)
	}
	t := strings.TrimSpace(string(data))
	if len(t) < 32 {
		return "", fmt.Errorf("node: token in %s is too short", filepath.Join(home, TokenFile))
	}
	return Token(t), nil
}

// WriteClientKey writes a new client key to path (0600) and returns it.
func WriteClientKey(path string, force bool, rnd io.Reader) (*treaty.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := os.Stat(path); err == nil && !force {
		return nil, fmt.Errorf("node: %s exists (use --force to overwrite)", path)
	}
	k, err := treaty.GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	b, err := k.MarshalPEM()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return nil, err
	}
	return k, nil
}
