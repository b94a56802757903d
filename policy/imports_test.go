package policy

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package pure (STYLE.md): no network, files, node or
// mesh; and keeps the guest-side packages free of what bloats a guest.
func TestImports(t *testing.T) {
	tests := []struct {
		dir       string
		forbidden []string
	}{
		{".", []string{"net/http", "os", "os/exec", "github.com/aurora-federation/aurora/node", "github.com/aurora-federation/aurora/mesh"}},
		{"sdk", []string{"fmt", "reflect", "encoding/json", "encoding/binary", "os", "embed"}},
		{"std", []string{"fmt", "reflect", "encoding/json", "encoding/binary", "os"}},
	}
	for _, tt := range tests {
		files, err := filepath.Glob(filepath.Join(tt.dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range tt.forbidden {
					if path == bad {
						t.Errorf("%s imports %s", f, path)
					}
				}
			}
		}
	}
}
