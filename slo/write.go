package slo

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteMarkdown writes the report as Markdown: a summary table with one row
// per KPI, then every breach.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Aurora SLO report\n\n")
	fmt.Fprintf(&b, "Window %s to %s (%s), step %s, objective: %s of steps meet each target. Source: %s.\n\n",
		r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), human(r.End.Sub(r.Start)), human(r.Step), pct(r.Objective), r.Prometheus)
	b.WriteString("| KPI | target | achieved | steps meeting it | without data | error budget left | breaches |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.Results {
		op := "≤"
		if x.KPI.AtLeast {
			op = "≥"
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s (%d of %d) | %d | %s | %d |\n", x.KPI.Name, op, value(x.KPI, x.KPI.Target), value(x.KPI, x.Achieved),
			pct(float64(x.Met)/float64(max(x.Steps, 1))), x.Met, x.Steps, x.NoData, budget(x.BudgetLeft), len(x.Breaches))
	}
	b.WriteString("\n## Breaches\n\n")
	n := 0
	for _, x := range r.Results {
		n += len(x.Breaches)
	}
	if n == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| KPI | from | to | duration | worst | steps without data |\n|---|---|---|---|---|---|\n")
		for _, x := range r.Results {
			for _, br := range x.Breaches {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n", x.KPI.Name, br.Start.UTC().Format(time.RFC3339), br.End.UTC().Format(time.RFC3339),
					human(br.End.Sub(br.Start)), value(x.KPI, br.Worst), br.NoData)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func value(k KPI, v float64) string {
	switch {
	case math.IsNaN(v):
		return "no data"
	case k.Unit == "s":
		return fmt.Sprintf("%.1f ms", v*1000)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func pct(f float64) string { return fmt.Sprintf("%.2f %%", f*100) }

func budget(f float64) string {
	if math.IsInf(f, -1) {
		return "exhausted (none allowed)"
	}
	if f < 0 {
		return fmt.Sprintf("exhausted (%s overspent)", pct(-f))
	}
	return pct(f)
}

// human prints a duration as Prometheus does: 5m, 2h, 1d, 1h30m.
func human(d time.Duration) string { return model.Duration(d).String() }

// WritePNG draws the report as a PNG: one chart per KPI, stacked, with the
// KPI's value at each step, its target as a line, and the steps that missed
// it marked in red. Width and height are in pixels (defaults 1200 and 300
// per KPI).
func WritePNG(w io.Writer, r *Report, width, heightPerKPI int) error {
	if width <= 0 {
		width = 1200
	}
	if heightPerKPI <= 0 {
		heightPerKPI = 300
	}
	if len(r.Results) == 0 {
		return fmt.Errorf("slo: no KPIs to draw")
	}
	const dpi = 96
	wd, ht := vg.Length(width)*vg.Inch/dpi, vg.Length(heightPerKPI*len(r.Results))*vg.Inch/dpi
	img := vgimg.NewWith(vgimg.UseWH(wd, ht), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(r.Results), Cols: 1, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	plots := make([][]*plot.Plot, len(r.Results))
	for i, x := range r.Results {
		p, err := kpiPlot(x, r)
		if err != nil {
			return err
		}
		plots[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func kpiPlot(x Result, r *Report) (*plot.Plot, error) {
	p := plot.New()
	op := "≤"
	if x.KPI.AtLeast {
		op = "≥"
	}
	p.Title.Text = fmt.Sprintf("%s (target %s %s; budget left %s)", x.KPI.Name, op, value(x.KPI, x.KPI.Target), budget(x.BudgetLeft))
	p.X.Tick.Marker = plot.TimeTicks{Format: "01-02 15:04"}
	p.Y.Label.Text = x.KPI.Unit
	p.X.Min, p.X.Max = float64(r.Start.Unix()), float64(r.End.Unix())
	var line, missed plotter.XYs
	for _, pt := range x.Series {
		if math.IsNaN(pt.Value) {
			continue
		}
		xy := plotter.XY{X: float64(pt.At.Unix()), Y: pt.Value}
		line = append(line, xy)
		if !x.KPI.Met(pt.Value) {
			missed = append(missed, xy)
		}
	}
	if len(line) > 0 {
		l, err := plotter.NewLine(line)
		if err != nil {
			return nil, err
		}
		l.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
		p.Add(l)
	}
	if len(missed) > 0 {
		s, err := plotter.NewScatter(missed)
		if err != nil {
			return nil, err
		}
		s.Color = color.RGBA{R: 214, G: 39, B: 40, A: 255}
		s.Radius = vg.Points(2)
		p.Add(s)
	}
	target := plotter.NewFunction(func(float64) float64 { return x.KPI.Target })
	target.Color = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(target)
	return p, nil
}
