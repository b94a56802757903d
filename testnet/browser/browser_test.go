package browser_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/trust"
	"github.com/aurora-federation/aurora/provenance/tsa"
	"github.com/aurora-federation/aurora/testnet"
	"github.com/aurora-federation/aurora/treaty"
)

var (
	chromiumPath    = flag.String("chromium", "/usr/bin/chromium", "the Chromium binary the browser verifier tests drive")
	requireChromium = flag.Bool("require-chromium", false, "fail instead of skipping when the Chromium binary is missing (make test-browser sets it)")
)

// needChromium returns the Chromium binary, or skips the test (fails it
// under -require-chromium) when it is not installed.
func needChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(*chromiumPath); err != nil {
		if *requireChromium {
			t.Fatalf("%s: %v: the browser verifier tests need Debian's chromium (apt-get install chromium)", *chromiumPath, err)
		}
		t.Skipf("browser verifier NOT tested: %s is not installed (apt-get install chromium; .ci/run installs it and runs make test-browser, which fails without it)", *chromiumPath)
	}
	return *chromiumPath
}

// browser is one headless Chromium with one tab, and what the page wrote to
// the console as errors (CSP violations among them) or threw.
type browser struct {
	ctx context.Context

	mu       sync.Mutex // protects following
	problems []string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := needChromium(t)
	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile))
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start %s: %v", exe, err)
	}
	b := &browser{ctx: ctx}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			// The browser asks for /favicon.ico by itself; the node's 404 for
			// it is not the page's doing.
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.Contains(m.URL, "favicon.ico") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		chromedp.Cancel(ctx)
		cancel()
		<-done
		cancelAlloc()
	})
	return b
}

// noProblems fails the test if the page logged an error, threw, or had
// something refused by its Content-Security-Policy.
func (b *browser) noProblems(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("page console: %s", p)
	}
}

// open loads the page and waits until its script has wired the form.
func (b *browser) open(t *testing.T, url string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(`body[data-state="ready"]`))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its JSON value into out.
func (b *browser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pageResult is what the page shows after Verify.
type pageResult struct {
	Outcome string    `json:"outcome"`
	Broken  string    `json:"broken"`
	Summary string    `json:"summary"`
	Rows    []pageRow `json:"rows"`
	Notes   []string  `json:"notes"`
	MS      float64   `json:"ms"`
}

type pageRow struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

const readResult = `(() => {
  const s = document.getElementById('summary');
  return {
    outcome: s.dataset.outcome || '', broken: s.dataset.broken || '', summary: s.textContent,
    rows: [...document.querySelectorAll('#verdicts tr')].map((tr) => ({check: tr.dataset.check, status: tr.dataset.status, detail: tr.cells[2].textContent})),
    notes: [...document.querySelectorAll('#notes li')].map((li) => li.textContent),
    ms: +document.getElementById('timing').dataset.ms,
  };
})()`

// verifyUI does what a user does: puts the inputs in the text areas, clicks
// Verify and reads the result the page shows.
func (b *browser) verifyUI(t *testing.T, bundle, policy, roots string) pageResult {
	t.Helper()
	b.eval(t, fmt.Sprintf(`(() => {
  document.getElementById('bundle').value = %s;
  document.getElementById('policy').value = %s;
  document.getElementById('roots').value = %s;
  return true;
})()`, jsString(bundle), jsString(policy), jsString(roots)), nil)
	return b.clickVerify(t)
}

// verifyFiles loads the inputs through the page's file inputs instead.
func (b *browser) verifyFiles(t *testing.T, bundle, policy, roots string) pageResult {
	t.Helper()
	dir := t.TempDir()
	b.eval(t, `(() => { for (const id of ['bundle', 'policy', 'roots']) document.getElementById(id).value = ''; return true; })()`, nil)
	for _, in := range []struct{ id, text string }{{"bundle", bundle}, {"policy", policy}, {"roots", roots}} {
		path := filepath.Join(dir, in.id)
		if err := os.WriteFile(path, []byte(in.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(b.ctx, chromedp.SetUploadFiles(chromedp.ID(in.id+"-file"), []string{path})); err != nil {
			t.Fatalf("choose the %s file: %v", in.id, err)
		}
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](fmt.Sprintf(`document.getElementById(%q).value.length === %d`, in.id, len([]rune(in.text))),
			chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatalf("the %s file never reached its text area: %v", in.id, err)
		}
	}
	return b.clickVerify(t)
}

// clickVerify clicks Verify and reads the result once the page has one.
func (b *browser) clickVerify(t *testing.T) pageResult {
	t.Helper()
	var runs int
	b.eval(t, `+(document.body.dataset.runs || 0)`, &runs)
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.ID("verify"))); err != nil {
		t.Fatalf("click Verify: %v", err)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](fmt.Sprintf(`+(document.body.dataset.runs || 0) > %d`, runs),
		chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("wait for the result: %v", err)
	}
	var r pageResult
	b.eval(t, readResult, &r)
	return r
}

// apiCase and apiResult are one verification through the page's
// AuroraVerify.verifyBundle, for many inputs at once.
type apiCase struct {
	Bundle string `json:"b"` // base64: the exact bytes
	Policy string `json:"p"`
	Roots  string `json:"r"`
	Now    int64  `json:"n,omitempty"` // unix seconds; 0: the browser's clock
}

type apiResult struct {
	Fatal    string   `json:"fatal"`
	Statuses []string `json:"statuses"`
	Checks   []string `json:"checks"`
	Summary  string   `json:"summary"`
	MS       float64  `json:"ms"`
}

func (b *browser) verifyAPI(t *testing.T, cases []apiCase) []apiResult {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	var out []apiResult
	b.eval(t, `(async (cases) => {
  const out = [];
  for (const c of cases) {
    const bytes = Uint8Array.from(atob(c.b), (ch) => ch.charCodeAt(0));
    const r = await AuroraVerify.verifyBundle(bytes, c.p, c.r, c.n ? {now: c.n} : undefined);
    out.push({fatal: r.fatal ? r.fatal.what : '', statuses: r.verdicts.map((v) => v.status), checks: r.verdicts.map((v) => v.check), summary: r.summary, ms: r.ms});
  }
  return out;
})(`+string(in)+`)`, &out)
	if len(out) != len(cases) {
		t.Fatalf("%d results for %d cases", len(out), len(cases))
	}
	return out
}

// reference is the Go verifier's outcome for the same inputs: what
// `aurora-verify --policy` does (cmd/internal/verifycmd), with a PEM given
// for the policy's tsa-roots files as the page takes it.
type reference struct {
	Fatal    string // "bundle" or "policy" when the CLI stops before verifying
	Statuses []string
	Checks   []string
	Detail   map[string]string
}

func goVerify(t *testing.T, bundle []byte, policy, rootsPEM string) reference {
	t.Helper()
	return goVerifyAt(t, bundle, policy, rootsPEM, time.Now())
}

func goVerifyAt(t *testing.T, bundle []byte, policy, rootsPEM string, now time.Time) reference {
	t.Helper()
	b, err := provenance.ParseBundle(bundle)
	if err != nil {
		return reference{Fatal: "bundle"}
	}
	pol, err := trust.Parse([]byte(policy))
	if err != nil {
		return reference{Fatal: "policy"}
	}
	origin, _, _ := strings.Cut(string(b.Checkpoint), "\n")
	l, ok := pol.Log(origin)
	if !ok {
		return reference{Fatal: "policy"}
	}
	opts := provenance.VerifyOptions{Origin: origin, LogKey: l.Verifier, WitnessKeys: pol.WitnessKeys(), Quorum: pol.Quorum(), MinTokens: pol.TSA.MinTokens, Now: now}
	var roots []byte
	if len(pol.TSA.RootFiles) == 0 || rootsPEM != "" {
		roots = []byte(rootsPEM)
	}
	for _, c := range pol.TSA.Roots {
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if len(bytes.TrimSpace(roots)) > 0 {
		pool, err := tsa.CertPoolFromPEM(roots)
		if err != nil {
			return reference{Fatal: "tsa-roots"}
		}
		opts.TSAVerifier = tsa.Verifier{Opts: tsa.VerifyOptions{Roots: pool}}
	}
	rep, _ := provenance.VerifyBundle(b, opts)
	ref := reference{Detail: map[string]string{}}
	for _, v := range rep.Verdicts {
		s := "ok"
		switch {
		case v.Skipped:
			s = "skip"
		case !v.OK:
			s = "FAIL"
		}
		ref.Statuses = append(ref.Statuses, s)
		ref.Checks = append(ref.Checks, v.Check)
		ref.Detail[v.Check] = v.Detail
	}
	return ref
}

// complete reports whether the Go verifier fully verified the bundle.
func (r reference) complete() bool {
	if r.Fatal != "" || len(r.Statuses) == 0 {
		return false
	}
	for i, s := range r.Statuses {
		if s != "ok" && r.Checks[i] != provenance.LinkConsistency {
			return false
		}
	}
	return true
}

// federation is a two-node testnet with treaties, a job on node 0 and what
// a verifier of that job needs.
type federation struct {
	tn      *testnet.Testnet
	stop    func() // stops the testnet (also at cleanup)
	base    string // node 0's API
	bundle  []byte // the job's proof bundle, fully verified by the Go verifier
	policy  string // the trust policy from node 0's GET /v1/trust
	trust   node.TrustView
	origin  string
	rootPEM string // the TSA roots as PEM
}

func startFederation(t *testing.T) *federation {
	t.Helper()
	tn, err := testnet.Start(t.Context(), testnet.Config{Nodes: 2, Dir: t.TempDir(), Epoch: 300 * time.Millisecond, SimFailure: 0.0001, Fakes: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { tn.Close() }) }
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := tn.ExchangeTreaties(ctx, treaty.TemplateBilateral, nil); err != nil {
		t.Fatal(err)
	}
	n0 := tn.Nodes[0]
	f := &federation{tn: tn, stop: stop, base: "http://" + n0.APIAddr(), origin: n0.Log().Origin()}
	var job string
	for i := range 4 {
		o, err := client.BuildOrder(tn.Client, client.OrderSpec{Image: "ghcr.io/acme/infer:1", GPU: "A100:1", Regions: n0.Regions, MaxPrice: "3/h"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, err := n0.API.Submit(ctx, o)
		if err != nil || r.Result != "ack" {
			t.Fatalf("submit %d: %v %+v", i, err, r)
		}
		if job == "" {
			job = r.Job
		}
	}
	raw, err := n0.API.Raw(ctx, http.MethodGet, "/v1/trust", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f.trust); err != nil {
		t.Fatal(err)
	}
	f.policy = policyFromTrust(t, f.base, f.trust)
	for _, r := range f.trust.TSARoots {
		der, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			t.Fatal(err)
		}
		f.rootPEM += string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	// The bundle is complete once the job's epoch is witnessed and
	// dual-timestamped: wait for the Go verifier to say so.
	for {
		raw, err := n0.API.Raw(ctx, http.MethodGet, "/v1/jobs/"+job+"/proof", "", nil)
		if err == nil && goVerify(t, raw, f.policy, "").complete() {
			f.bundle = raw
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no fully verified bundle for job %s: %v", job, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, err := provenance.ParseBundle(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Proof) == 0 || len(b.TSA) != 2 {
		t.Fatalf("bundle has %d proof hashes and %d tokens; the tampering below needs a proof and two tokens", len(b.Proof), len(b.TSA))
	}
	return f
}

// policyFromTrust writes the policy `aurora federation policy` writes from
// a GET /v1/trust answer (its log with the tiles URL, the partners' logs
// and witnesses, one of them required, the TSA roots inline), through
// trust.Policy.Marshal.
func policyFromTrust(t *testing.T, base string, v node.TrustView) string {
	t.Helper()
	p := &trust.Policy{QuorumName: "partners"}
	p.Logs = append(p.Logs, trust.Log{Key: v.LogKey, URL: base + v.Tiles})
	var members []string
	for _, pt := range v.Partners {
		p.Logs = append(p.Logs, trust.Log{Key: pt.LogKey})
		name := "w-" + pt.Origin[len(pt.Origin)-8:]
		p.Witnesses = append(p.Witnesses, trust.Witness{Name: name, Key: pt.Witness.Key})
		members = append(members, name)
	}
	if len(members) == 0 {
		t.Fatal("node 0 has no treaty partner")
	}
	p.Groups = []trust.Group{{Name: "partners", K: 1, Members: members}}
	for _, r := range v.TSARoots {
		der, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		p.TSA.Roots = append(p.TSA.Roots, c)
	}
	p.TSA.MinTokens = v.TSAMin
	text := "# Aurora trust policy for the browser verifier test, from " + base + "/v1/trust\n\n" + string(p.Marshal())
	if _, err := trust.Parse([]byte(text)); err != nil {
		t.Fatalf("policy: %v\n%s", err, text)
	}
	return text
}

// edit re-marshals the bundle after fn changes it.
func edit(t *testing.T, bundle []byte, fn func(b *provenance.Bundle)) []byte {
	t.Helper()
	b, err := provenance.ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	out, err := b.Marshal()
	if err != nil {
		t.Fatalf("marshal tampered bundle: %v", err)
	}
	return out
}

// editSig flips the last bit of the first signature line whose key name
// pick accepts (the signature, not its key ID or timestamp).
func editSig(t *testing.T, note []byte, pick func(name string) bool) []byte {
	t.Helper()
	lines := strings.Split(string(note), "\n")
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, "\u2014 ")
		if !ok {
			continue
		}
		name, b64, _ := strings.Cut(rest, " ")
		if !pick(name) {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-1] ^= 1
		lines[i] = "\u2014 " + name + " " + base64.StdEncoding.EncodeToString(raw)
		return []byte(strings.Join(lines, "\n"))
	}
	t.Fatal("no such signature line")
	return nil
}

// dropSigs removes the signature lines whose key name pick accepts.
func dropSigs(note []byte, pick func(name string) bool) []byte {
	var out []string
	for _, l := range strings.Split(string(note), "\n") {
		if rest, ok := strings.CutPrefix(l, "\u2014 "); ok {
			if name, _, _ := strings.Cut(rest, " "); pick(name) {
				continue
			}
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

func checkpointBody(t *testing.T, bundle []byte) []byte {
	t.Helper()
	b, err := provenance.ParseBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b.Checkpoint, []byte("\n\n"))
	return b.Checkpoint[:i+1]
}

// replaceLine replaces the line of policy starting with prefix.
func replaceLine(t *testing.T, policy, prefix, with string) string {
	t.Helper()
	lines := strings.Split(policy, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = with
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("policy has no line %q", prefix)
	return ""
}

func dropLines(policy, prefix string) string {
	var out []string
	for _, l := range strings.Split(policy, "\n") {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// compare requires the page's verdicts to be the Go verifier's: the same
// checks with the same statuses, or the same input refused.
func compare(t *testing.T, name string, ref reference, fatal string, checks, statuses []string) {
	t.Helper()
	if ref.Fatal != "" || fatal != "" {
		if ref.Fatal != fatal {
			t.Errorf("%s: page refused %q, Go verifier refused %q", name, fatal, ref.Fatal)
		}
		return
	}
	if !slices.Equal(ref.Checks, checks) || !slices.Equal(ref.Statuses, statuses) {
		t.Errorf("%s: page %v %v, Go verifier %v %v (%v)", name, checks, statuses, ref.Checks, ref.Statuses, ref.Detail)
	}
}

// TestBrowserVerifier: the node serves /verify; in headless Chromium the
// page verifies a real job's bundle against the policy the node's
// GET /v1/trust gives (every check ok), names the broken link of each
// tampered bundle and policy, agrees with the Go verifier on all of them
// and on a few hundred random corruptions, and measures itself.
func TestBrowserVerifier(t *testing.T) {
	br := startBrowser(t)
	f := startFederation(t)
	br.open(t, f.base+node.VerifyPagePath)

	good := br.verifyUI(t, string(f.bundle), f.policy, "")
	t.Logf("good bundle (%d bytes): %s", len(f.bundle), good.Summary)
	wantRows := []string{"record", "leaf-hash", "log-signature", "inclusion", "witnesses", "tsa", "consistency"}
	if good.Outcome != "verified" || len(good.Rows) != len(wantRows) || !strings.HasPrefix(good.Summary, "verified: leaf ") {
		t.Fatalf("good bundle: %+v", good)
	}
	for i, r := range good.Rows {
		want := "ok"
		if r.Check == "consistency" {
			want = "skip"
		}
		if r.Check != wantRows[i] || r.Status != want {
			t.Errorf("good bundle row %d: %+v, want %s %s", i, r, wantRows[i], want)
		}
	}
	for _, want := range []string{"2 distinct TSAs", "quorum \"partners\"", f.origin} {
		if !strings.Contains(good.Summary+fmt.Sprint(good.Rows), want) {
			t.Errorf("good bundle: the page does not say %q", want)
		}
	}

	filePolicy := dropLines(f.policy, "tsa-root ") + "tsa-roots tsa-roots.pem\n"
	if r := br.verifyFiles(t, string(f.bundle), filePolicy, f.rootPEM); r.Outcome != "verified" {
		t.Errorf("bundle, policy and TSA roots loaded from files: %s", r.Summary)
	}

	ctx := t.Context()
	body := checkpointBody(t, f.bundle)
	digest := sha256.Sum256(body)
	pool, err := tsa.CertPoolFromPEM([]byte(f.rootPEM))
	if err != nil {
		t.Fatal(err)
	}
	otherDigest, err := (&tsa.Client{URL: f.tn.TSAs[0].URL, Roots: pool}).Timestamp(ctx, sha256.Sum256([]byte("another checkpoint\n")))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tsa.NewDevTSA(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	strangerToken, err := stranger.Timestamp(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := treaty.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherLogKey, err := provenance.LogVerifierKey(f.origin, otherKey.DID())
	if err != nil {
		t.Fatal(err)
	}
	partner := f.trust.Partners[0]
	otherWitness, err := provenance.WitnessVerifier(partner.Witness.Name, otherKey.DID())
	if err != nil {
		t.Fatal(err)
	}
	witnessName := "w-" + partner.Origin[len(partner.Origin)-8:]
	isLog := func(name string) bool { return name == f.origin }
	isWitness := func(name string) bool { return name != f.origin }

	cases := []struct {
		name          string
		bundle        []byte
		policy, roots string
		outcome       string // verified, partial or failed
		broken        string // the first failed check, or the input refused
		detail        string // in the broken check's row
	}{
		{name: "group written with any", bundle: f.bundle, policy: strings.Replace(f.policy, "group partners 1 ", "group partners any ", 1), outcome: "verified"},
		{name: "TSA roots from a pasted PEM", bundle: f.bundle, policy: filePolicy, roots: f.rootPEM, outcome: "verified"},
		{name: "flipped leaf byte", outcome: "failed", broken: "inclusion", detail: "does not match the checkpoint's root",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) {
				var e treaty.LogEntry
				if err := treaty.Decode(b.Leaf, &e); err != nil || e.Job == nil {
					t.Fatalf("leaf: %v", err)
				}
				i := bytes.Index(b.Leaf, []byte(e.Job.Job))
				b.Leaf[i+len(e.Job.Job)-1] ^= 1 // still a valid job record, another leaf
			})},
		{name: "leaf that is no record", outcome: "failed", broken: "record",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.Leaf[0] ^= 0xff })},
		{name: "wrong inclusion hash", outcome: "failed", broken: "inclusion", detail: "does not match",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.Proof[0] = bytes.Clone(b.Proof[0]); b.Proof[0][7] ^= 0x40 })},
		{name: "missing inclusion hash", outcome: "failed", broken: "inclusion", detail: "wrong proof size",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.Proof = b.Proof[:len(b.Proof)-1] })},
		{name: "bad checkpoint signature", outcome: "failed", broken: "log-signature", detail: "does not verify",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.Checkpoint = editSig(t, b.Checkpoint, isLog) })},
		{name: "checkpoint root altered", outcome: "failed", broken: "log-signature", detail: "does not verify",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) {
				lines := strings.SplitN(string(b.Checkpoint), "\n", 4)
				root, _ := base64.StdEncoding.DecodeString(lines[2])
				root[0] ^= 1
				lines[2] = base64.StdEncoding.EncodeToString(root)
				b.Checkpoint = []byte(strings.Join(lines, "\n"))
			})},
		{name: "bad cosignature", outcome: "failed", broken: "witnesses", detail: "does not verify",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.Checkpoint = editSig(t, b.Checkpoint, isWitness) })},
		{name: "cosignature removed", outcome: "failed", broken: "witnesses", detail: "do not meet the quorum",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.Checkpoint = dropSigs(b.Checkpoint, isWitness) })},
		{name: "altered TSA token imprint", outcome: "failed", broken: "tsa", detail: "token 0: signature: messageDigest does not match",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) {
				tok := bytes.Clone(b.TSA[0])
				i := bytes.Index(tok, digest[:])
				if i < 0 {
					t.Fatal("token 0 does not hold the checkpoint digest")
				}
				tok[i+5] ^= 1
				b.TSA[0] = tok
			})},
		{name: "TSA token for another checkpoint", outcome: "failed", broken: "tsa", detail: "token 1: imprint: token covers a different digest",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.TSA[1] = otherDigest })},
		{name: "TSA not among the roots", outcome: "failed", broken: "tsa", detail: "token 0: chain:",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.TSA[0] = strangerToken })},
		{name: "one TSA twice", outcome: "failed", broken: "tsa", detail: "from 1 distinct TSAs",
			bundle: edit(t, f.bundle, func(b *provenance.Bundle) { b.TSA = [][]byte{b.TSA[0], b.TSA[0]} })},
		{name: "wrong policy log key", bundle: f.bundle, outcome: "failed", broken: "log-signature", detail: "no signature by",
			policy: replaceLine(t, f.policy, "log "+f.trust.LogKey, "log "+otherLogKey)},
		{name: "wrong policy witness key", bundle: f.bundle, outcome: "failed", broken: "witnesses", detail: "0 trusted cosignatures",
			policy: replaceLine(t, f.policy, "witness "+witnessName+" ", "witness "+witnessName+" "+otherWitness.VerifierKey())},
		{name: "policy without witnesses", bundle: f.bundle, outcome: "partial",
			policy: replaceLine(t, dropLines(dropLines(f.policy, "witness "), "group "), "quorum ", "quorum none")},
		{name: "policy without TSA roots", bundle: f.bundle, outcome: "partial", policy: dropLines(f.policy, "tsa-root ")},
		{name: "TSA roots file not pasted", bundle: f.bundle, outcome: "partial", policy: filePolicy},
		{name: "policy for another log", bundle: f.bundle, outcome: "failed", broken: "policy", detail: "lists no log with origin",
			policy: dropLines(f.policy, "log "+f.trust.LogKey) + "log " + mustLogKey(t, "aurora/testnet/12D3KooWOther", otherKey) + "\n"},
		{name: "policy that does not parse", bundle: f.bundle, outcome: "failed", broken: "policy", detail: "trust: policy line",
			policy: f.policy + "witnes x y\n"},
		{name: "bundle that does not parse", bundle: f.bundle[:len(f.bundle)-1], outcome: "failed", broken: "bundle", detail: "last line does not end in a newline"},
	}
	for _, c := range cases {
		policy := c.policy
		if policy == "" {
			policy = f.policy
		}
		got := br.verifyUI(t, string(c.bundle), policy, c.roots)
		if got.Outcome != c.outcome || got.Broken != c.broken {
			t.Errorf("%s: page says %s at %q (%s), want %s at %q", c.name, got.Outcome, got.Broken, got.Summary, c.outcome, c.broken)
			continue
		}
		var checks, statuses []string
		fatal := ""
		for _, r := range got.Rows {
			checks, statuses = append(checks, r.Check), append(statuses, r.Status)
			if r.Check == c.broken && !strings.Contains(r.Detail, c.detail) {
				t.Errorf("%s: %s says %q, want %q", c.name, r.Check, r.Detail, c.detail)
			}
		}
		if len(got.Rows) == 1 {
			fatal, checks, statuses = got.Rows[0].Check, nil, nil
		}
		compare(t, c.name, goVerify(t, c.bundle, policy, c.roots), fatal, checks, statuses)
		t.Logf("%-34s %s", c.name, truncate(got.Summary, 150))
		if c.name == "TSA roots file not pasted" && (len(got.Notes) != 1 || !strings.Contains(got.Notes[0], "tsa-roots.pem")) {
			t.Errorf("%s: notes %q, want one naming tsa-roots.pem", c.name, got.Notes)
		}
	}

	// Random corruptions: the page and the Go verifier must agree on every
	// one, check by check. A third hit the bundle's bytes anywhere (mostly
	// its base64, which stops parsing); the rest hit the decoded leaf
	// (dag-cbor), one of the tokens (DER, CMS, X.509) or the note, and the
	// bundle is re-marshalled around them.
	rng := rand.New(rand.NewPCG(15, 6962))
	var mutated []apiCase
	var refs []reference
	flip := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		return b
	}
	parsed, err := provenance.ParseBundle(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	for n := corruptions(); len(mutated) < n; {
		var m []byte
		switch len(mutated) % 6 {
		case 0, 1:
			m = flip(f.bundle)
		case 2:
			b := *parsed
			b.Leaf = flip(parsed.Leaf)
			m, err = b.Marshal()
		case 3, 4:
			b := *parsed
			b.TSA = slices.Clone(parsed.TSA)
			i := rng.IntN(len(b.TSA))
			b.TSA[i] = flip(b.TSA[i])
			m, err = b.Marshal()
		case 5:
			b := *parsed
			b.Checkpoint = flip(parsed.Checkpoint)
			if m, err = b.Marshal(); err != nil {
				continue // the note no longer parses: the first kind covers that
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		mutated = append(mutated, apiCase{Bundle: base64.StdEncoding.EncodeToString(m), Policy: f.policy})
		refs = append(refs, goVerify(t, m, f.policy, ""))
	}
	kinds := map[string]int{}
	for i, r := range br.verifyAPI(t, mutated) {
		compare(t, fmt.Sprintf("corruption %d", i), refs[i], r.Fatal, r.Checks, r.Statuses)
		kind := r.Fatal
		if kind == "" {
			kind = "verified"
			if k := slices.Index(r.Statuses, "FAIL"); k >= 0 {
				kind = r.Checks[k]
			}
		}
		kinds[kind]++
	}
	t.Logf("%d random corruptions, first broken link (page = Go verifier on each): %v", len(mutated), kinds)

	// A cosignature dated more than 5 minutes after the verifier's clock
	// fails; 4 minutes is within the skew.
	cos, err := provenance.VerifyCosignatures(mustOpen(t, f), []*provenance.CosignatureVerifier{mustWitness(t, partner.Witness.Key)})
	if err != nil || len(cos) != 1 {
		t.Fatalf("cosignatures: %v %v", cos, err)
	}
	for _, c := range []struct {
		skew   time.Duration
		status string
	}{{6 * time.Minute, "FAIL"}, {4 * time.Minute, "ok"}} {
		now := cos[0].Time.Add(-c.skew)
		r := br.verifyAPI(t, []apiCase{{Bundle: base64.StdEncoding.EncodeToString(f.bundle), Policy: f.policy, Now: now.Unix()}})[0]
		compare(t, fmt.Sprintf("clock %s behind the cosignature", c.skew), goVerifyAt(t, f.bundle, f.policy, "", now), r.Fatal, r.Checks, r.Statuses)
		if i := slices.Index(r.Checks, "witnesses"); i < 0 || r.Statuses[i] != c.status {
			t.Errorf("clock %s behind the cosignature: %v %v, want witnesses %s", c.skew, r.Checks, r.Statuses, c.status)
		}
	}

	// The budget: one bundle in at most 50 ms, measured by the page. The
	// federation stops first, so that its nodes do not compete for the CPU,
	// and the page is loaded afresh from its file (it needs no server): the
	// first click is a cold start, the runs after it are warm.
	f.stop()
	page, err := filepath.Abs(filepath.Join("..", "..", "web", "verify", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	br.open(t, (&url.URL{Scheme: "file", Path: page}).String())
	cold := br.verifyUI(t, string(f.bundle), f.policy, "")
	if cold.Outcome != "verified" {
		t.Fatalf("from the file: %s", cold.Summary)
	}
	runs := make([]apiCase, 30)
	for i := range runs {
		runs[i] = apiCase{Bundle: base64.StdEncoding.EncodeToString(f.bundle), Policy: f.policy}
	}
	var ms []float64
	for _, r := range br.verifyAPI(t, runs) {
		if r.Fatal != "" || !strings.HasPrefix(r.Summary, "verified: ") {
			t.Fatalf("repeat run: %s", r.Summary)
		}
		ms = append(ms, r.MS)
	}
	slices.Sort(ms)
	t.Logf("browser verification of one bundle (performance.now(), budget 50 ms): cold first click %.1f ms; %d warm runs: min %.1f ms, median %.1f ms, p90 %.1f ms, max %.1f ms (first click with the federation running: %.1f ms)",
		cold.MS, len(ms), ms[0], ms[len(ms)/2], ms[len(ms)*9/10], ms[len(ms)-1], good.MS)

	// Without WebCrypto (what a page loaded over plain http from another
	// host gets: not a secure context) the page verifies nothing and says
	// why. Last: it takes WebCrypto away from this page for good.
	var noCrypto struct{ Outcome, Summary string }
	br.eval(t, `(async () => {
  Object.defineProperty(globalThis.crypto, 'subtle', {get: () => undefined});
  const r = await AuroraVerify.verifyBundle(`+jsString(string(f.bundle))+`, `+jsString(f.policy)+`, '');
  return {Outcome: r.outcome, Summary: r.summary};
})()`, &noCrypto)
	if noCrypto.Outcome != "failed" || !strings.Contains(noCrypto.Summary, "WebCrypto is unavailable") || !strings.Contains(noCrypto.Summary, "secure context") {
		t.Errorf("without WebCrypto: %+v", noCrypto)
	}
	br.noProblems(t)
}

// corruptions is how many random corruptions of the bundle the page and the
// Go verifier judge: 600, or 120 under -short (make test; make test-browser
// runs them all).
func corruptions() int {
	if testing.Short() {
		return 120
	}
	return 600
}

func mustOpen(t *testing.T, f *federation) provenance.Checkpoint {
	t.Helper()
	b, err := provenance.ParseBundle(f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	v, err := provenance.ParseLogKey(f.trust.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := provenance.OpenCheckpoint(b.Checkpoint, f.origin, v)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func mustWitness(t *testing.T, key string) *provenance.CosignatureVerifier {
	t.Helper()
	w, err := provenance.ParseWitnessKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustLogKey(t *testing.T, origin string, k *treaty.PrivateKey) string {
	t.Helper()
	s, err := provenance.LogVerifierKey(origin, k.DID())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
