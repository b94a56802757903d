package boundedio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFile: a file at the limit is read whole; one byte beyond is
// refused, naming the file.
func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(path, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q, %v", b, err)
	}
	if _, err := ReadFile(path, 4); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("beyond the limit: %v", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), 5); err == nil {
		t.Fatal("a missing file was read")
	}
}
