package nexmark

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is one benchmark run, ready to print.
type Report struct {
	Date time.Time
	// Machine describes where it ran (see Machine); Command how.
	Machine string
	Command string
	Config  Config
	Results []Result
}

// Machine describes this machine: CPU model, logical CPUs, memory, OS and
// Go version, and the load average when called (other work on a shared
// machine changes the figures).
func Machine() string {
	var parts []string
	if m := procField("/proc/cpuinfo", "model name"); m != "" {
		parts = append(parts, m)
	}
	parts = append(parts, fmt.Sprintf("%d logical CPUs", runtime.NumCPU()))
	if m := procField("/proc/meminfo", "MemTotal"); m != "" {
		var kb int64
		if _, err := fmt.Sscanf(m, "%d", &kb); err == nil {
			parts = append(parts, fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20)))
		}
	}
	parts = append(parts, runtime.GOOS+"/"+runtime.GOARCH, runtime.Version())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			parts = append(parts, "load average "+strings.Join(f[:3], " "))
		}
	}
	return strings.Join(parts, ", ")
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Markdown writes the run as a Markdown subsection: a heading with the
// date, the machine and command, the configuration, and one table row per
// query.
func (r Report) Markdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### Run of %s\n\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s.\n\n", r.Machine)
	fmt.Fprintf(&b, "```\n%s\n```\n\n", r.Command)
	c := r.Config
	cp := "no checkpoints"
	if c.CheckpointInterval > 0 {
		cp = "a checkpoint every " + c.CheckpointInterval.String()
	}
	fmt.Fprintf(&b, "%s events per query at %s events/s of event time, parallelism %d, %s state, %s.\n\n",
		count(c.Events), count(int64(c.Rate)), c.Parallelism, c.State, cp)
	b.WriteString("| query | Freshet events/s | events/s per core | limit events/s per core | ratio to limit | latency p50 / p99 (from) | peak RSS | checkpoints (last size) | results |\n")
	b.WriteString("|---|--:|--:|--:|--:|---|--:|--:|--:|\n")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			x.Query, count(int64(x.EventsPerSec())), orNA(x.PerCore(), count), orNA(x.LimitPerCore(), count),
			ratio(x),
			latency(x), rss(x), checkpoints(x), count(x.Results))
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

func orNA(v float64, f func(int64) string) string {
	if v <= 0 {
		return "n/a"
	}
	return f(int64(v))
}

func ratio(x Result) string {
	if r := x.Ratio(); r > 0 {
		return fmt.Sprintf("%.2f", r)
	}
	return "n/a"
}

// count prints n with a K or M suffix.
func count(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.0f M", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0f K", float64(n)/1e3)
	}
	return fmt.Sprintf("%d", n)
}

func latency(x Result) string {
	if x.LatencySamples == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s (%s)", dur(x.P50), dur(x.P99), x.LatencyMode)
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func rss(x Result) string {
	if x.PeakRSS < 0 {
		return "n/a"
	}
	if x.PeakIsProcess {
		return size(x.PeakRSS) + " (process)"
	}
	return size(x.PeakRSS)
}

func checkpoints(x Result) string {
	if x.Checkpoints == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", x.Checkpoints, size(x.LastCheckpoint))
}

// Section is the heading of the Nexmark section of docs/benchmarks.md.
const Section = "## Nexmark"

// AppendToSection inserts md at the end of the section headed Section in
// the Markdown file at path (before the next level-2 heading), adding the
// section at the end of the file when it has none. Other sections are left
// as they are.
func AppendToSection(path string, md []byte) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("appending the Nexmark results: %w", err)
	}
	out := insertInSection(old, md)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("appending the Nexmark results: %w", err)
	}
	return nil
}

func insertInSection(doc, md []byte) []byte {
	lines := bytes.SplitAfter(doc, []byte("\n"))
	start := -1
	inFence := false
	for i, l := range lines {
		t := bytes.TrimRight(l, "\r\n")
		if bytes.HasPrefix(t, []byte("```")) {
			inFence = !inFence
		}
		if inFence {
			continue
		}
		if start < 0 && bytes.Equal(bytes.TrimSpace(t), []byte(Section)) {
			start = i
			continue
		}
		if start >= 0 && bytes.HasPrefix(t, []byte("## ")) {
			// Insert before the next section, keeping one blank line.
			var b bytes.Buffer
			for _, x := range lines[:i] {
				b.Write(x)
			}
			ensureBlankLine(&b)
			b.Write(md)
			ensureBlankLine(&b)
			for _, x := range lines[i:] {
				b.Write(x)
			}
			return b.Bytes()
		}
	}
	var b bytes.Buffer
	b.Write(doc)
	if start < 0 {
		ensureBlankLine(&b)
		b.WriteString(Section + "\n\n")
	}
	ensureBlankLine(&b)
	b.Write(md)
	return b.Bytes()
}

// ensureBlankLine ends b with an empty line (unless b is empty).
func ensureBlankLine(b *bytes.Buffer) {
	s := b.Bytes()
	switch {
	case len(s) == 0:
	case !bytes.HasSuffix(s, []byte("\n")):
		b.WriteString("\n\n")
	case !bytes.HasSuffix(s, []byte("\n\n")):
		b.WriteString("\n")
	}
}
