// Package trust parses and writes Aurora's trust-policy file: the logs a
// verifier or monitor trusts (origin and key, optional tiles URL), the
// witnesses and the quorum of their cosignatures, in C2SP tlog-policy
// syntax, plus Aurora's TSA lines (the RFC 3161 roots and how many distinct
// TSAs must have timestamped a checkpoint). It is pure: it reads no files;
// the commands resolve tsa-roots paths.
//
//	# Aurora trust policy
//	log aurora/prod/12D3KooW…+1a2b3c4d+AT…= https://node-a.example/tlog
//	witness b aurora-witness/12D3KooW…+5e6f7a8b+BA…= https://node-b.example/witness
//	witness c aurora-witness/12D3KooW…+9c0d1e2f+BA…=
//	group partners any b c
//	quorum partners
//	tsa-roots roots.pem
//	tsa-root MIIB…        (a DER certificate in base64, inline)
//	tsa-min 2
package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/aurora-federation/aurora/provenance/c2sp"
)

// Limits of a policy file (C2SP recommends supporting at least 32 of each).
const (
	MaxPolicySize = 1 << 20
	MaxLineLen    = 16 << 10
	MaxLogs       = 256
	MaxWitnesses  = 256
	MaxGroups     = 256
	MaxTSARoots   = 32
	MaxURLLen     = 2048
)

// None is the predefined quorum name that requires no cosignature.
const None = "none"

// Log is a trusted log.
type Log struct {
	// Origin is the log's origin, the key name of its verifier key.
	Origin string
	// Key is the C2SP verifier key text (ORIGIN+HASH+BASE64, type 0x01).
	Key string
	// URL is the log's tiles prefix (C2SP tlog-tiles), "" if not given;
	// `aurora monitor` requires it.
	URL string
	// Verifier checks the log's checkpoint signatures.
	Verifier note.Verifier
}

// Witness is a trusted witness.
type Witness struct {
	// Name is the witness's name within the policy (groups and the quorum
	// refer to it).
	Name string
	// Key is the verifier key text (KEYNAME+HASH+BASE64, type 0x04).
	Key string
	// URL is its tlog-witness submission prefix, "" if not given.
	URL string
	// Verifier checks its cosignatures.
	Verifier *c2sp.CosignatureVerifier
}

// Group is a witness group: at least K of Members.
type Group struct {
	Name    string
	K       int
	Members []string
	kw      string // "all", "any" or "" (numeric), to write it back as given
}

// TSA is Aurora's timestamping part of the policy.
type TSA struct {
	// RootFiles are PEM files of trusted TSA roots (tsa-roots lines), as
	// written: relative paths are relative to the policy file.
	RootFiles []string
	// Roots are inline root certificates (tsa-root lines, DER).
	Roots []*x509.Certificate
	// MinTokens is how many distinct TSAs must have timestamped a
	// checkpoint (tsa-min); 0 means the verifier's default (2).
	MinTokens int
}

// Policy is a parsed trust policy. It is immutable once parsed; Quorum and
// the verifier lists it returns are safe for concurrent use.
type Policy struct {
	Logs      []Log
	Witnesses []Witness
	Groups    []Group
	// QuorumName is the quorum line's name: a witness, a group or None.
	QuorumName string
	TSA        TSA
}

// Error reports what is wrong with a policy, naming the line (1-based; 0
// for the file as a whole).
type Error struct {
	Line int
	Rule string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "trust: policy: " + e.Rule
	}
	return fmt.Sprintf("trust: policy line %d: %s", e.Line, e.Rule)
}

// Parse parses a policy strictly: C2SP tlog-policy lines (log, witness,
// group, quorum; comments and blank lines), Aurora's tsa-roots, tsa-root
// and tsa-min lines, and nothing else. Names must be defined before use,
// keys and names are unique, and exactly one quorum line is required.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, &Error{Rule: fmt.Sprintf("%d bytes, limit %d", len(data), MaxPolicySize)}
	}
	p := &Policy{}
	names := map[string]int{}   // witness and group names → defining line
	logKeys := map[string]int{} // raw public keys of logs → line
	witKeys := map[string]int{} // of witnesses (a node's one key may be both)
	origins := map[string]int{} // log origins → line
	quorumLine := 0
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, raw := range lines {
		n := i + 1
		bad := func(format string, args ...any) (*Policy, error) {
			return nil, &Error{Line: n, Rule: fmt.Sprintf(format, args...)}
		}
		if len(raw) > MaxLineLen {
			return bad("%d bytes, limit %d", len(raw), MaxLineLen)
		}
		for _, c := range raw {
			if c != '\t' && (c < 0x20 || c == 0x7f) {
				return bad("control character 0x%02x", c)
			}
		}
		f := fields(string(raw))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return bad("want: log <vkey> [<url>]")
			}
			if len(p.Logs) == MaxLogs {
				return bad("more than %d logs", MaxLogs)
			}
			v, err := c2sp.ParseLogKey(f[1])
			if err != nil {
				return bad("%v", err)
			}
			pub, err := rawKey(f[1])
			if err != nil {
				return bad("%v", err)
			}
			if at, dup := logKeys[pub]; dup {
				return bad("log key already listed on line %d", at)
			}
			if at, dup := origins[v.Name()]; dup {
				return bad("log %q already listed on line %d", v.Name(), at)
			}
			l := Log{Origin: v.Name(), Key: f[1], Verifier: v}
			if len(f) == 3 {
				if l.URL, err = checkURL(f[2]); err != nil {
					return bad("%v", err)
				}
			}
			logKeys[pub], origins[v.Name()] = n, n
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return bad("want: witness <name> <vkey> [<url>]")
			}
			if len(p.Witnesses) == MaxWitnesses {
				return bad("more than %d witnesses", MaxWitnesses)
			}
			if err := checkName(f[1]); err != nil {
				return bad("%v", err)
			}
			if at, dup := names[f[1]]; dup {
				return bad("name %q already defined on line %d", f[1], at)
			}
			if strings.Contains(f[2], "+did:key:") {
				return bad("witness key: want a C2SP verifier key NAME+HASH+BASE64 (aurora proof verify --witness-key also takes NAME+did:key:…)")
			}
			v, err := c2sp.ParseWitnessKey(f[2])
			if err != nil {
				return bad("%v", err)
			}
			pub, err := rawKey(f[2])
			if err != nil {
				return bad("%v", err)
			}
			if at, dup := witKeys[pub]; dup {
				return bad("witness key already listed on line %d", at)
			}
			w := Witness{Name: f[1], Key: f[2], Verifier: v}
			if len(f) == 4 {
				if w.URL, err = checkURL(f[3]); err != nil {
					return bad("%v", err)
				}
			}
			witKeys[pub], names[f[1]] = n, n
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(f) < 4 {
				return bad("want: group <name> <k|all|any> <member>...")
			}
			if len(p.Groups) == MaxGroups {
				return bad("more than %d groups", MaxGroups)
			}
			if err := checkName(f[1]); err != nil {
				return bad("%v", err)
			}
			if at, dup := names[f[1]]; dup {
				return bad("name %q already defined on line %d", f[1], at)
			}
			g := Group{Name: f[1], Members: f[3:]}
			seen := map[string]bool{}
			for _, m := range g.Members {
				if m == None {
					return bad("%q cannot be a group member", None)
				}
				if _, ok := names[m]; !ok {
					return bad("member %q is not defined on an earlier line", m)
				}
				if seen[m] {
					return bad("member %q listed twice", m)
				}
				seen[m] = true
			}
			switch f[2] {
			case "all":
				g.K, g.kw = len(g.Members), "all"
			case "any":
				g.K, g.kw = 1, "any"
			default:
				k, err := decimal(f[2])
				if err != nil || k < 1 || k > len(g.Members) {
					return bad("threshold %q: want all, any or 1..%d without leading zeros", f[2], len(g.Members))
				}
				g.K = k
			}
			names[f[1]] = n
			p.Groups = append(p.Groups, g)
		case "quorum":
			if len(f) != 2 {
				return bad("want: quorum <name>")
			}
			if quorumLine != 0 {
				return bad("second quorum line (the first is line %d)", quorumLine)
			}
			if _, ok := names[f[1]]; !ok && f[1] != None {
				return bad("quorum %q is not defined on an earlier line", f[1])
			}
			p.QuorumName, quorumLine = f[1], n
		case "tsa-roots":
			if len(f) != 2 {
				return bad("want: tsa-roots <PEM file>")
			}
			if len(p.TSA.RootFiles)+len(p.TSA.Roots) == MaxTSARoots {
				return bad("more than %d TSA root lines", MaxTSARoots)
			}
			p.TSA.RootFiles = append(p.TSA.RootFiles, f[1])
		case "tsa-root":
			if len(f) != 2 {
				return bad("want: tsa-root <base64 DER certificate>")
			}
			if len(p.TSA.RootFiles)+len(p.TSA.Roots) == MaxTSARoots {
				return bad("more than %d TSA root lines", MaxTSARoots)
			}
			der, err := base64.StdEncoding.Strict().DecodeString(f[1])
			if err != nil {
				return bad("tsa-root: not base64: %v", err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return bad("tsa-root: %v", err)
			}
			p.TSA.Roots = append(p.TSA.Roots, c)
		case "tsa-min":
			if len(f) != 2 {
				return bad("want: tsa-min <n>")
			}
			if p.TSA.MinTokens != 0 {
				return bad("second tsa-min line")
			}
			k, err := decimal(f[1])
			if err != nil || k < 1 || k > c2sp.MaxTSATokens {
				return bad("tsa-min %q: want 1..%d", f[1], c2sp.MaxTSATokens)
			}
			p.TSA.MinTokens = k
		default:
			return bad("unknown keyword %q (want log, witness, group, quorum, tsa-roots, tsa-root or tsa-min)", truncate(f[0]))
		}
	}
	if quorumLine == 0 {
		return nil, &Error{Rule: "no quorum line (write \"quorum none\" to require no cosignatures)"}
	}
	return p, nil
}

// fields splits on ASCII spaces and tabs only (C2SP: "whitespace").
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func decimal(s string) (int, error) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("not a decimal")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errors.New("not a decimal")
		}
	}
	return strconv.Atoi(s)
}

func checkName(name string) error {
	if name == None {
		return fmt.Errorf("%q is predefined", None)
	}
	if strings.ContainsRune(name, '+') {
		return fmt.Errorf("name %q: no \"+\"", truncate(name))
	}
	return nil
}

// rawKey returns the public key bytes of a vkey (after the type byte), the
// identity C2SP uses for duplicates.
func rawKey(vkey string) (string, error) {
	// NAME+HASH+BASE64: key names hold no "+", base64 may.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return "", errors.New("key: want NAME+HASH+BASE64")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < 2 {
		return "", errors.New("key: not base64")
	}
	return string(raw[1:]), nil
}

func checkURL(s string) (string, error) {
	if len(s) > MaxURLLen {
		return "", fmt.Errorf("URL longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("URL %q: want http(s)://host/prefix without query or fragment", truncate(s))
	}
	return s, nil
}

// Log returns the policy's log with the given origin.
func (p *Policy) Log(origin string) (Log, bool) {
	for _, l := range p.Logs {
		if l.Origin == origin {
			return l, true
		}
	}
	return Log{}, false
}

// WitnessKeys returns the verifiers of every witness.
func (p *Policy) WitnessKeys() []*c2sp.CosignatureVerifier {
	out := make([]*c2sp.CosignatureVerifier, len(p.Witnesses))
	for i, w := range p.Witnesses {
		out[i] = w.Verifier
	}
	return out
}

// Quorum returns the policy's quorum for c2sp.VerifyOptions, nil for
// "quorum none".
func (p *Policy) Quorum() c2sp.Quorum {
	if p.QuorumName == None {
		return nil
	}
	return quorum{p: p}
}

type quorum struct{ p *Policy }

var _ c2sp.Quorum = quorum{}

func (q quorum) Met(cos []c2sp.Cosignature) bool {
	signed := map[string]bool{}
	for _, c := range cos {
		for _, w := range q.p.Witnesses {
			if w.Verifier.Name() == c.Witness && w.Verifier.KeyHash() == c.KeyHash {
				signed[w.Name] = true
			}
		}
	}
	groups := make(map[string]Group, len(q.p.Groups))
	for _, g := range q.p.Groups {
		groups[g.Name] = g
	}
	var met func(name string) bool
	met = func(name string) bool {
		g, ok := groups[name]
		if !ok {
			return signed[name]
		}
		k := 0
		for _, m := range g.Members {
			if met(m) {
				k++
			}
		}
		return k >= g.K
	}
	return met(q.p.QuorumName)
}

func (q quorum) String() string {
	for _, g := range q.p.Groups {
		if g.Name == q.p.QuorumName {
			return fmt.Sprintf("%q (%d of %s)", g.Name, g.K, strings.Join(g.Members, ", "))
		}
	}
	return fmt.Sprintf("%q (that witness)", q.p.QuorumName)
}

// Marshal writes the policy in the syntax Parse reads; Parse(Marshal(p))
// is p.
func (p *Policy) Marshal() []byte {
	var b bytes.Buffer
	line := func(parts ...string) {
		for i, s := range parts {
			if s == "" {
				continue
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s)
		}
		b.WriteByte('\n')
	}
	for _, l := range p.Logs {
		line("log", l.Key, l.URL)
	}
	for _, w := range p.Witnesses {
		line("witness", w.Name, w.Key, w.URL)
	}
	for _, g := range p.Groups {
		k := g.kw
		if k == "" {
			k = strconv.Itoa(g.K)
		}
		line(append([]string{"group", g.Name, k}, g.Members...)...)
	}
	line("quorum", p.QuorumName)
	for _, f := range p.TSA.RootFiles {
		line("tsa-roots", f)
	}
	for _, c := range p.TSA.Roots {
		line("tsa-root", base64.StdEncoding.EncodeToString(c.Raw))
	}
	if p.TSA.MinTokens > 0 {
		line("tsa-min", strconv.Itoa(p.TSA.MinTokens))
	}
	return b.Bytes()
}
