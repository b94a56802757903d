package release

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File is one regular file of a bundle: its slash-separated path inside
// the bundle's top directory, and the file on disk it is read from.
type File struct {
	Name   string
	Source string
	// Exec marks the file executable (mode 0755, else 0644).
	Exec bool
}

// Sources are the paths of a source checkout the bundle ships, at the
// same paths inside it: the policy vectors and build script, the treaty
// schema, the dashboard, the Prometheus rules and configs, the Kubernetes
// base and overlays, the compose file and Dockerfile, the CI script and
// the docs. Test files (*_test.go) and Go files are not shipped.
func Sources() []string {
	return []string{
		".ci/run",
		"README.md",
		"docs",
		"ops/grafana",
		"ops/k8s",
		"ops/metrics.txt",
		"ops/prometheus",
		"policy/std/build.sh",
		"policy/std/vectors.json",
		"testnet/Dockerfile",
		"testnet/docker-compose.yml",
		"testnet/README.md",
		"treaty/schema.ipldsch",
	}
}

// Collect lists the regular files under root named by paths (files, or
// directories walked recursively), skipping Go sources. A missing path, a
// symlink or another non-regular file is an error: a bundle holds exactly
// what the list says.
func Collect(root string, paths []string) ([]File, error) {
	var files []File
	for _, p := range paths {
		full := filepath.Join(root, filepath.FromSlash(p))
		err := filepath.WalkDir(full, func(fp string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("release: %s is not a regular file (%s)", fp, d.Type())
			}
			if strings.HasSuffix(fp, ".go") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, fp)
			if err != nil {
				return err
			}
			files = append(files, File{Name: filepath.ToSlash(rel), Source: fp, Exec: info.Mode()&0o111 != 0})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("release: collect %s: %w", p, err)
		}
	}
	return files, nil
}

// TarballName is the bundle's file name for a release at t (UTC date).
func TarballName(t time.Time) string { return "aurora-" + t.UTC().Format("20060102") + ".tar.gz" }

// TopDir is the bundle's top directory for a tarball name: the name
// without ".tar.gz".
func TopDir(tarball string) string { return strings.TrimSuffix(tarball, ".tar.gz") }

// WriteTarGz writes files as a deterministic gzip-compressed tar under the
// top directory top (see the package doc). Names must be clean, relative
// and unique.
func WriteTarGz(w io.Writer, top string, files []File, mtime time.Time) error {
	mtime = mtime.UTC().Truncate(time.Second)
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for i, f := range sorted {
		if f.Name == "" || path.Clean(f.Name) != f.Name || path.IsAbs(f.Name) || f.Name == ".." || strings.HasPrefix(f.Name, "../") {
			return fmt.Errorf("release: bundle path %q is not clean and relative", f.Name)
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return fmt.Errorf("release: %q is listed twice", f.Name)
		}
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	// gzip.Writer's zero Header has no name, comment or mtime, and OS 255.
	tw := tar.NewWriter(zw)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: mtime,
			Uid: 0, Gid: 0, Uname: "root", Gname: "root"}
	}
	dirs := map[string]bool{}
	var addDirs func(dir string) error
	addDirs = func(dir string) error {
		if dir == "." || dirs[dir] {
			return nil
		}
		if err := addDirs(path.Dir(dir)); err != nil {
			return err
		}
		dirs[dir] = true
		return tw.WriteHeader(hdr(top+"/"+dir+"/", 0o755, tar.TypeDir, 0))
	}
	if err := tw.WriteHeader(hdr(top+"/", 0o755, tar.TypeDir, 0)); err != nil {
		return err
	}
	for _, f := range sorted {
		if err := addDirs(path.Dir(f.Name)); err != nil {
			return err
		}
		if err := writeFile(tw, hdr, top+"/"+f.Name, f); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeFile(tw *tar.Writer, hdr func(string, int64, byte, int64) *tar.Header, name string, f File) error {
	src, err := os.Open(f.Source)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("release: %s is not a regular file", f.Source)
	}
	mode := int64(0o644)
	if f.Exec {
		mode = 0o755
	}
	if err := tw.WriteHeader(hdr(name, mode, tar.TypeReg, info.Size())); err != nil {
		return err
	}
	n, err := io.Copy(tw, src)
	if err != nil {
		return fmt.Errorf("release: %s: %w", f.Source, err)
	}
	if n != info.Size() {
		return errors.New("release: " + f.Source + " changed while it was read")
	}
	return nil
}
