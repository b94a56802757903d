package release_test

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/aurora-federation/aurora/release"
)

// The tarball's name comes from the release time, and SHA256SUMS lists it
// in sha256sum's format.
func ExampleFormatSums() {
	at := time.Unix(1796644800, 0) // SOURCE_DATE_EPOCH
	name := release.TarballName(at)
	fmt.Println(release.TopDir(name))
	fmt.Print(string(release.FormatSums([]release.Sum{{Digest: sha256.Sum256([]byte("tarball")), Name: name}})))
	// Output:
	// aurora-20261207
	// db4b4d0d1cb480bf9aeea253771c00febe627f236765fa37d6a5614f079a3aa0  aurora-20261207.tar.gz
}
