package ops

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/aurora-rules.yml"
	rulesTestFile = "prometheus/aurora-rules.test.yml"
	runbookFile   = "../docs/OPERATIONS.md"
)

// wantAlerts are the alerts the KPIs and the runbook promise.
var wantAlerts = []string{
	"AuroraFillRateLow",
	"AuroraTreatyRTTHigh",
	"AuroraProvenanceCoverageLow",
	"AuroraPolicyLatencyHigh",
	"AuroraEquivocationDetected",
	"AuroraBackupStale",
	"AuroraPubsubDrops",
	"AuroraNodeDown",
	"AuroraStoreFull",
	"AuroraStoreLow",
	"AuroraForwardsUnresolved",
	"AuroraLaunchQueueFull",
	"AuroraEpochPinBacklog",
	"AuroraTreatySLAFillLow",
	"AuroraTreatySLARTTHigh",
}

// ruleFile mirrors the rule file; For is a pointer to tell "for: 0m" from a missing `for`.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         *string           `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func (f ruleFile) rules() []rule {
	var rs []rule
	for _, g := range f.Groups {
		rs = append(rs, g.Rules...)
	}
	return rs
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var f ruleFile
	decodeStrict(t, rulesFile, &f)
	return f
}

// TestRulesValid runs Prometheus' own rule-file validation: strict YAML, PromQL, label and template syntax.
func TestRulesValid(t *testing.T) {
	_, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
}

func TestRuleExprsNameKnownMetrics(t *testing.T) {
	k := loadKnownMetrics(t)
	for _, r := range loadRules(t).rules() {
		checkExpr(t, k, fmt.Sprintf("%s %s%s", rulesFile, r.Record, r.Alert), r.Expr)
	}
}

func TestAlerts(t *testing.T) {
	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(runbook)

	got := map[string]bool{}
	for _, r := range loadRules(t).rules() {
		if r.Alert == "" {
			continue
		}
		got[r.Alert] = true
		t.Run(r.Alert, func(t *testing.T) {
			if r.For == nil {
				t.Error("no for:")
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("severity = %q, want critical or warning", s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("annotation %s missing", a)
				}
			}
			u, err := url.Parse(r.Annotations["runbook_url"])
			if err != nil {
				t.Fatalf("runbook_url: %v", err)
			}
			if !strings.HasSuffix(u.Path, "/docs/OPERATIONS.md") {
				t.Errorf("runbook_url %s does not point into docs/OPERATIONS.md", u)
			}
			if want := strings.ToLower(r.Alert); u.Fragment != want {
				t.Errorf("runbook_url anchor = %q, want %q", u.Fragment, want)
			}
			if !anchors[u.Fragment] {
				t.Errorf("docs/OPERATIONS.md has no heading for anchor #%s", u.Fragment)
			}
		})
	}
	for _, a := range wantAlerts {
		if !got[a] {
			t.Errorf("alert %s missing from %s", a, rulesFile)
		}
	}
}

// unitTests mirrors the parts of promtool's test file this test reads.
type unitTests struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	Tests              []struct {
		Name        string    `yaml:"name"`
		Interval    string    `yaml:"interval"`
		InputSeries yaml.Node `yaml:"input_series"`
		PromQLTests yaml.Node `yaml:"promql_expr_test"`
		AlertTests  []struct {
			Alertname string      `yaml:"alertname"`
			EvalTime  string      `yaml:"eval_time"`
			ExpAlerts []yaml.Node `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestRuleUnitTestsCoverEveryAlert checks that promtool's tests see every alert both firing and silent.
func TestRuleUnitTestsCoverEveryAlert(t *testing.T) {
	var ut unitTests
	decodeStrict(t, rulesTestFile, &ut)
	if len(ut.RuleFiles) != 1 || filepath.Join("prometheus", ut.RuleFiles[0]) != rulesFile {
		t.Errorf("rule_files = %q, want [%s]", ut.RuleFiles, filepath.Base(rulesFile))
	}
	fires, silent := map[string]int{}, map[string]int{}
	for _, tc := range ut.Tests {
		for _, at := range tc.AlertTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname]++
			} else {
				silent[at.Alertname]++
			}
		}
	}
	for _, r := range loadRules(t).rules() {
		if r.Alert == "" {
			continue
		}
		if fires[r.Alert] == 0 {
			t.Errorf("%s: no unit test where it fires", r.Alert)
		}
		if silent[r.Alert] == 0 {
			t.Errorf("%s: no unit test where it stays silent", r.Alert)
		}
	}
}

// TestPromtool runs promtool when it is installed (Debian: apt-get install prometheus).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH; apt-get install -y prometheus to run it")
	}
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", rulesTestFile},
		{"check", "config", "prometheus/prometheus.yml"},
		{"check", "config", "prometheus/prometheus-k8s.yml"},
		{"check", "config", "prometheus/prometheus-testnet.yml"},
	} {
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// thresholds returns, for every comparison of an expression with a number in expr, the metric names on the
// other side mapped to that number, e.g. "a < 0.8 and b < 0.8" -> {a: 0.8, b: 0.8}.
func thresholds(t *testing.T, expr string) map[string]float64 {
	t.Helper()
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		be, ok := n.(*parser.BinaryExpr)
		if !ok || !be.Op.IsComparisonOperator() {
			return nil
		}
		side, num := be.LHS, be.RHS
		if _, ok := side.(*parser.NumberLiteral); ok {
			side, num = num, side
		}
		lit, ok := num.(*parser.NumberLiteral)
		if !ok {
			return nil
		}
		names, err := selectors(side.String())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			out[name] = lit.Val
		}
		return nil
	})
	return out
}

var headingRe = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// markdownAnchors returns the anchors GitHub generates for the headings in md.
func markdownAnchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	for _, m := range headingRe.FindAllSubmatch(md, -1) {
		anchors[githubSlug(string(m[1]))] = true
	}
	return anchors
}

// githubSlug approximates GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestGithubSlug(t *testing.T) {
	for in, want := range map[string]string{
		"AuroraFillRateLow":        "aurorafillratelow",
		"Staging soak checklist":   "staging-soak-checklist",
		"Backups (RPO 15 min)":     "backups-rpo-15-min",
		"`aurora ledger restore`":  "aurora-ledger-restore",
		"Key rotation: new DID":    "key-rotation-new-did",
		"Upgrades & rollbacks":     "upgrades--rollbacks",
		"Deploy with Docker, 3.1.": "deploy-with-docker-31",
	} {
		if got := githubSlug(in); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", in, got, want)
		}
	}
}

var fragmentLinkRe = regexp.MustCompile(`\]\(#([^)]+)\)`)

// TestRunbookLinks checks the runbook's own #anchor links.
func TestRunbookLinks(t *testing.T) {
	md, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(md)
	for _, m := range fragmentLinkRe.FindAllSubmatch(md, -1) {
		if !anchors[string(m[1])] {
			t.Errorf("docs/OPERATIONS.md links to #%s, which no heading defines", m[1])
		}
	}
}
