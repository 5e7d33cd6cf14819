package main

import (
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// drawChart plots the no-op re-run's median time against host count for
// every tool and the floor, log–log, with min–max bars.
func drawChart(res *Results, st map[statKey]stat, path string) error {
	p := plot.New()
	p.Title.Text = "No-op re-run: wall time vs host count"
	if res.Synthetic {
		p.Title.Text = "SYNTHETIC NUMBERS (report writer test)"
	}
	p.X.Label.Text = "hosts"
	p.Y.Label.Text = "seconds (median; bars: min–max)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks(ticks(res.Hosts))
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())

	series := []struct {
		tool  string
		label string
		c     color.RGBA
		shape draw.GlyphDrawer
		dash  []vg.Length
	}{
		{toolAnsible, "ansible", color.RGBA{R: 200, G: 40, B: 40, A: 255}, draw.TriangleGlyph{}, nil},
		{toolAnsPipe, "ansible + pipelining", color.RGBA{R: 230, G: 140, B: 20, A: 255}, draw.SquareGlyph{}, nil},
		{toolSwarmrun, "swarmrun", color.RGBA{R: 30, G: 90, B: 200, A: 255}, draw.CircleGlyph{}, nil},
		{toolFloor6, "floor-6 (connect + 6 commands)", color.RGBA{R: 120, G: 120, B: 120, A: 255}, draw.PlusGlyph{}, []vg.Length{vg.Points(1), vg.Points(3)}},
		{toolFloor, "floor (SSH connect + true)", color.RGBA{R: 60, G: 60, B: 60, A: 255}, draw.CrossGlyph{}, []vg.Length{vg.Points(4), vg.Points(3)}},
	}
	lo, hi := 1e9, 0.0
	for _, s := range series {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, n := range res.Hosts {
			v := st[statKey{s.tool, n, kindNoop}]
			if !v.ok() || v.Median <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(n), Y: v.Median})
			errs = append(errs, struct{ Low, High float64 }{v.Median - v.Min, v.Max - v.Median})
			lo, hi = min(lo, v.Min), max(hi, v.Max)
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = s.c, vg.Points(2), s.dash
		sc.Color, sc.Shape, sc.Radius = s.c, s.shape, vg.Points(3.5)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return err
		}
		eb.Color, eb.Width = s.c, vg.Points(1)
		p.Add(l, sc, eb)
		p.Legend.Add(s.label, l, sc)
	}
	if hi > 0 {
		p.Y.Min, p.Y.Max = lo/1.5, hi*4 // room for the legend
		p.Y.Tick.Marker = plot.ConstantTicks(logTicks(p.Y.Min, p.Y.Max))
	}
	p.X.Min, p.X.Max = float64(res.Hosts[0])/1.3, float64(res.Hosts[len(res.Hosts)-1])*1.3
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

func ticks(hosts []int) []plot.Tick {
	var t []plot.Tick
	for _, n := range hosts {
		t = append(t, plot.Tick{Value: float64(n), Label: sprintf("%d", n)})
	}
	return t
}

// logTicks labels 1, 2 and 5 times the powers of ten between lo and hi.
func logTicks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for d := 0.001; d < hi*10; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v >= lo && v <= hi {
				t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return t
}
