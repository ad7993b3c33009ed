package nexmark

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
)

// Targets are the suite's per-core throughput goals (events/s per core on
// 2 cores with RocksDB state and a checkpoint every 10 s), drawn on the plot.
var Targets = map[string]float64{
	"q0": 1e6, "q1": 1e6, "q2": 1e6, "q1-go": 1e6, "q2-go": 1e6,
	"q5": 300e3, "q7": 300e3, "q8": 300e3,
}

// SVG writes a horizontal bar chart of the events per second per core of
// each query, Freshet next to the hand-written limit, on a logarithmic
// axis, with each query's target as a dashed mark.
func (r Report) SVG(w io.Writer) error {
	const (
		left, right, top, bottom = 70.0, 90.0, 58.0, 40.0
		plotW                    = 560.0
		row, bar                 = 36.0, 13.0
	)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range r.Results {
		for _, v := range []float64{x.PerCore(), x.LimitPerCore(), Targets[x.Query]} {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1e4, 1e7
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	xOf := func(v float64) float64 {
		if v <= 0 {
			return left
		}
		return left + plotW*(math.Log10(v)-d0)/(d1-d0)
	}
	height := top + bottom + row*float64(len(r.Results))
	width := left + plotW + right
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">Nexmark: events/s per core (log scale), %s</text>`+"\n", left, html.EscapeString(r.Date.UTC().Format("2006-01-02")))
	legend := func(x float64, color, label string) {
		fmt.Fprintf(&b, `<rect x="%.0f" y="30" width="12" height="12" fill="%s"/><text x="%.0f" y="40">%s</text>`+"\n", x, color, x+16, label)
	}
	legend(left, "#2b6cb0", "Freshet")
	legend(left+90, "#a0aec0", "hand-written limit")
	fmt.Fprintf(&b, `<line x1="%.0f" y1="32" x2="%.0f" y2="40" stroke="#c53030" stroke-width="2" stroke-dasharray="3,2"/><text x="%.0f" y="40">target</text>`+"\n", left+240, left+240, left+246)
	// Decade grid.
	for d := d0; d <= d1; d++ {
		x := xOf(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#e2e8f0"/>`+"\n", x, top-6, x, height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#4a5568">%s</text>`+"\n", x, height-bottom+16, decade(d))
	}
	for i, x := range r.Results {
		y := top + row*float64(i)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y+bar+4, html.EscapeString(x.Query))
		for j, v := range []float64{x.PerCore(), x.LimitPerCore()} {
			color := "#2b6cb0"
			if j == 1 {
				color = "#a0aec0"
			}
			by := y + float64(j)*bar
			label := "n/a"
			if v > 0 {
				fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", left, by, math.Max(xOf(v)-left, 1), bar-2, color)
				label = count(int64(v))
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#2d3748">%s</text>`+"\n", math.Max(xOf(v), left)+4, by+bar-3, html.EscapeString(label))
		}
		if t := Targets[x.Query]; t > 0 {
			tx := xOf(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c53030" stroke-width="2" stroke-dasharray="3,2"/>`+"\n", tx, y-2, tx, y+2*bar)
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#4a5568">events per second of process CPU time</text>`+"\n", left, height-6)
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// decade labels the axis at 10^d: 10 K, 100 K, 1 M, 10 M.
func decade(d float64) string {
	v := math.Pow(10, d)
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.0f G", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.0f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0f K", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
