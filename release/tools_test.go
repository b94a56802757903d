package release_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aurora-federation/aurora/release"
)

// needTool skips when a standard tool is absent (.ci/run installs them).
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (.ci/run installs it): this standard-tool check did not run", name)
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestStandardTools verifies a release with sha256sum, gpg and openssl,
// and checks each rejects a tampered file.
func TestStandardTools(t *testing.T) {
	f := newFixture(t)
	base := filepath.Base(f.tarball)

	t.Run("sha256sum", func(t *testing.T) {
		needTool(t, "sha256sum")
		out, err := run(t, f.dir, nil, "sha256sum", "-c", release.SumsFile)
		if err != nil || !strings.Contains(out, base+": OK") {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	})

	t.Run("gpg", func(t *testing.T) {
		needTool(t, "gpg")
		home := t.TempDir()
		if err := os.Chmod(home, 0o700); err != nil {
			t.Fatal(err)
		}
		env := []string{"GNUPGHOME=" + home}
		if out, err := run(t, f.dir, env, "gpg", "--batch", "--import", "release-key.asc"); err != nil {
			t.Fatalf("gpg --import: %v\n%s", err, out)
		}
		out, err := run(t, f.dir, env, "gpg", "--batch", "--verify", base+release.SignatureSuffix, base)
		if err != nil || !strings.Contains(out, "Good signature") {
			t.Fatalf("gpg --verify: exit %v, want 0 and \"Good signature\":\n%s", err, out)
		}
		if !strings.Contains(strings.ToUpper(strings.ReplaceAll(out, " ", "")), strings.ToUpper(f.key.Fingerprint())) {
			t.Errorf("gpg does not name the key %s:\n%s", f.key.Fingerprint(), out)
		}
		t.Logf("gpg --verify:\n%s", out)
		bad := filepath.Join(t.TempDir(), base)
		b := mustRead(t, f.tarball)
		b[100] ^= 1
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err = run(t, f.dir, env, "gpg", "--batch", "--verify", base+release.SignatureSuffix, bad)
		if err == nil || !strings.Contains(out, "BAD signature") {
			t.Fatalf("gpg --verify of a tampered tarball: exit %v, want non-zero and \"BAD signature\":\n%s", err, out)
		}
	})

	t.Run("openssl ts", func(t *testing.T) {
		needTool(t, "openssl")
		digest := fmt.Sprintf("%x", sha256.Sum256(mustRead(t, f.tarball)))
		for i := range f.in.Tokens {
			tok := filepath.Base(release.TokenFile(f.tarball, i+1))
			out, err := run(t, f.dir, nil, "openssl", "ts", "-verify", "-digest", digest, "-in", tok, "-CAfile", "roots.pem")
			if err != nil || !strings.Contains(out, "Verification: OK") {
				t.Fatalf("openssl ts -verify %s: %v\n%s", tok, err, out)
			}
			other := fmt.Sprintf("%x", sha256.Sum256([]byte("other")))
			if out, err := run(t, f.dir, nil, "openssl", "ts", "-verify", "-digest", other, "-in", tok, "-CAfile", "roots.pem"); err == nil {
				t.Fatalf("openssl ts -verify %s with another digest succeeded:\n%s", tok, out)
			}
		}
	})
}
