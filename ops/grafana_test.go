package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const dashboardFile = "grafana/aurora.json"

// board is the part of the classic dashboard model the checks below read.
type board struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      string `json:"query"`
			Datasource *dsRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int     `json:"id"`
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Datasource *dsRef  `json:"datasource"`
	Panels     []panel `json:"panels"` // collapsed rows
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds *struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadBoard(t *testing.T) ([]byte, board) {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var b board
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return raw, b
}

// allPanels flattens rows, keeping collapsed rows' children.
func (b board) allPanels() []panel {
	var out []panel
	for _, p := range b.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// TestDashboardSchema decodes the dashboard strictly with the Grafana Foundation SDK (classic model, schema
// version 42): unknown fields, wrong types and missing required panel options are errors.
func TestDashboardSchema(t *testing.T) {
	raw, _ := loadBoard(t)
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := sdkErr(d.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if err := sdkErr(d.Validate()); err != nil {
		t.Errorf("validate: %v", err)
	}
}

// sdkErr works around grafana-foundation-sdk v0.0.22 returning an empty cog.BuildErrors as a non-nil error.
func sdkErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func TestDashboardStructure(t *testing.T) {
	_, b := loadBoard(t)
	if b.UID == "" || len(b.UID) > 40 {
		t.Errorf("uid %q: want 1-40 characters", b.UID)
	}
	vars := map[string]string{}
	for _, v := range b.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Error(`no "datasource" variable of type datasource: panels must not pin a data source`)
	}

	ids := map[int]string{}
	var boxes []panel
	for _, p := range b.allPanels() {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("%s: id also used by %q", where, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		for _, o := range boxes {
			h := o.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("%s overlaps panel %d %q", where, o.ID, o.Title)
			}
		}
		boxes = append(boxes, p)
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource must be ${datasource}", where)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%s: no unit", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: missing or duplicate refId %q", where, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: target %s: datasource must be ${datasource}", where, tg.RefID)
			}
			for _, m := range rangeRe.FindAllStringSubmatch(tg.Expr, -1) {
				if m[1] != "$__rate_interval" && m[1] != "$__range" {
					t.Errorf("%s: target %s: window [%s]: use $__rate_interval (or $__range)", where, tg.RefID, m[1])
				}
			}
		}
	}
}

// rangeRe finds range and subquery windows in an unsubstituted dashboard expression.
var rangeRe = regexp.MustCompile(`\[([^\]]*)\]`)

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// TestDashboardQueries parses every panel target and variable query and checks the metric names.
func TestDashboardQueries(t *testing.T) {
	k := loadKnownMetrics(t)
	_, b := loadBoard(t)
	n := 0
	for _, p := range b.allPanels() {
		for _, tg := range p.Targets {
			checkExpr(t, k, fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), grafanaVars.Replace(tg.Expr))
			n++
		}
	}
	for _, v := range b.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRe.FindStringSubmatch(v.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Query)
			continue
		}
		checkExpr(t, k, "variable "+v.Name, grafanaVars.Replace(m[1]))
	}
	if n == 0 {
		t.Fatal("dashboard has no queries")
	}
}

// TestDashboardCoversMetrics wants every family in metrics.txt charted, directly or through a recording rule.
func TestDashboardCoversMetrics(t *testing.T) {
	_, b := loadBoard(t)
	expands := map[string][]string{}
	for _, r := range loadRules(t).rules() {
		if r.Record != "" {
			names, err := selectors(r.Expr)
			if err != nil {
				t.Fatal(err)
			}
			expands[r.Record] = names
		}
	}
	used := map[string]bool{}
	var use func(name string)
	use = func(name string) {
		used[name] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			used[strings.TrimSuffix(name, s)] = true
		}
		for _, n := range expands[name] {
			use(n)
		}
	}
	for _, p := range b.allPanels() {
		for _, tg := range p.Targets {
			names, err := selectors(grafanaVars.Replace(tg.Expr))
			if err != nil {
				continue // reported by TestDashboardQueries
			}
			for _, n := range names {
				use(n)
			}
		}
	}
	for _, m := range readMetricsList(t) {
		if !used[m] {
			t.Errorf("no panel charts %s", m)
		}
	}
}

// TestDashboardThresholdsMatchAlerts wants every panel that charts an alerted quantity to draw its
// threshold at the alert's value, so a panel turns red when the alert would fire.
func TestDashboardThresholdsMatchAlerts(t *testing.T) {
	_, b := loadBoard(t)
	kpis := map[string]bool{}
	for _, r := range loadRules(t).rules() {
		if r.Alert == "" {
			continue
		}
		for name, limit := range thresholds(t, r.Expr) {
			if limit == 0 {
				continue // "any increase" alerts have no line to draw
			}
			charted := false
			for _, p := range b.allPanels() {
				if !panelSelects(p, name) {
					continue
				}
				charted = true
				if p.Type == "stat" {
					kpis[name] = true
				}
				var steps []float64
				if th := p.FieldConfig.Defaults.Thresholds; th != nil {
					for _, s := range th.Steps {
						if s.Value != nil {
							steps = append(steps, *s.Value)
						}
					}
				}
				if !slices.Contains(steps, limit) {
					t.Errorf("%s: panel %d %q charts %s but its thresholds %v lack %g", r.Alert, p.ID, p.Title, name, steps, limit)
				}
			}
			if !charted {
				t.Errorf("%s: no panel charts %s", r.Alert, name)
			}
		}
	}
	for _, kpi := range []string{
		"job:aurora_jobs_fill:ratio_rate1h",
		"job:aurora_treaty_rtt_seconds:p95_5m",
		"job:aurora_policy_decision_duration_seconds:p99_5m",
		"job:aurora_provenance_coverage:ratio_rate1h",
	} {
		if !kpis[kpi] {
			t.Errorf("KPI %s has no stat panel", kpi)
		}
	}
}

func panelSelects(p panel, name string) bool {
	for _, tg := range p.Targets {
		names, _ := selectors(grafanaVars.Replace(tg.Expr))
		if slices.Contains(names, name) {
			return true
		}
	}
	return false
}
