// Package boundedio reads files that must not exceed a size: a policy,
// a bundle, trust roots, a backup manifest. It imports only the standard
// library, so the small verifier can link it.
package boundedio

import (
	"fmt"
	"io"
	"os"
)

// ReadFile reads path whole, refusing a file larger than limit bytes
// without reading more than limit+1 of it.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
