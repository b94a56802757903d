package verifyweb_test

import (
	"go/build"
	"regexp"
	"strings"
	"testing"

	verifyweb "github.com/aurora-federation/aurora/web/verify"
)

// TestFiles: the page, its script and its style sheet, with their media
// types, in that order.
func TestFiles(t *testing.T) {
	want := []struct{ name, ct string }{
		{"index.html", "text/html; charset=utf-8"},
		{"verify.js", "text/javascript; charset=utf-8"},
		{"verify.css", "text/css; charset=utf-8"},
	}
	files := verifyweb.Files()
	if len(files) != len(want) {
		t.Fatalf("%d files, want %d", len(files), len(want))
	}
	for i, w := range want {
		if f := files[i]; f.Name != w.name || f.ContentType != w.ct || len(f.Body) == 0 {
			t.Errorf("file %d: %s %q (%d bytes), want %s %q", i, f.Name, f.ContentType, len(f.Body), w.name, w.ct)
		}
	}
}

// TestPageFitsItsPolicy: the page loads its script and style sheet by
// relative URL (so it works from a file and beside each other on a
// server), holds no inline script, style or event handler (the
// Content-Security-Policy would refuse them), and every element the script
// looks up by id exists.
func TestPageFitsItsPolicy(t *testing.T) {
	files := verifyweb.Files()
	html, js := string(files[0].Body), string(files[1].Body)
	for _, want := range []string{`<script src="verify.js" defer></script>`, `<link rel="stylesheet" href="verify.css">`} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(\s[^>]*)?>[^<]+</script>`), // inline script
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`javascript:`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("index.html holds %q, which the Content-Security-Policy refuses", m)
		}
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "fetch(", "XMLHttpRequest", "WebSocket", "sendBeacon"} {
		if strings.Contains(js, bad) {
			t.Errorf("verify.js uses %s (no HTML sinks, no code from strings, no network)", bad)
		}
	}
	ids := regexp.MustCompile(`(?:getElementById|byId)\('([a-z-]+)'\)`).FindAllStringSubmatch(js, -1)
	// The file inputs and their text areas are wired in one loop.
	for _, m := range regexp.MustCompile(`\['([a-z]+-file)', '([a-z]+)'\]`).FindAllStringSubmatch(js, -1) {
		ids = append(ids, []string{m[0], m[1]}, []string{m[0], m[2]})
	}
	if len(ids) < 12 {
		t.Fatalf("found %d element lookups in verify.js, want the page's inputs and results", len(ids))
	}
	for _, m := range ids {
		if !strings.Contains(html, `id="`+m[1]+`"`) {
			t.Errorf("verify.js looks up #%s, which index.html does not have", m[1])
		}
	}
	if !strings.Contains(verifyweb.ContentSecurityPolicy, "default-src 'none'") || strings.Contains(verifyweb.ContentSecurityPolicy, "unsafe") {
		t.Errorf("policy %q is not strict", verifyweb.ContentSecurityPolicy)
	}
}

// TestImportsNothingOfAurora keeps the imports one-way: node imports this
// package, never the reverse.
func TestImportsNothingOfAurora(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "github.com/aurora-federation/aurora") {
			t.Errorf("verifyweb imports %s", imp)
		}
	}
	if len(p.Imports) == 0 {
		t.Fatal("no imports found: the check reads nothing")
	}
}
