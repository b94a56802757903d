package provenance

import (
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// signCheckpoint signs c's body with s and returns the signed note.
func signCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	b, err := note.Sign(&note.Note{Text: string(c.Body())}, s)
	if err != nil {
		return nil, fmt.Errorf("provenance: sign checkpoint: %w", err)
	}
	return b, nil
}
