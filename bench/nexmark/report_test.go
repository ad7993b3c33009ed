package nexmark

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
)

func TestInsertInSection(t *testing.T) {
	const md = "### Run\n\n| a |\n"
	tests := []struct {
		name, doc, want string
	}{
		{"before the next section", "# B\n\n## Nexmark\n\nIntro.\n\n## Other\n\nx\n",
			"# B\n\n## Nexmark\n\nIntro.\n\n### Run\n\n| a |\n\n## Other\n\nx\n"},
		{"at the end", "# B\n\n## Other\n\n## Nexmark\n\nIntro.\n",
			"# B\n\n## Other\n\n## Nexmark\n\nIntro.\n\n### Run\n\n| a |\n"},
		{"after earlier runs", "## Nexmark\n\n### Run\n\n| old |\n",
			"## Nexmark\n\n### Run\n\n| old |\n\n### Run\n\n| a |\n"},
		{"a new section", "# B\n\n## Other\nx", "# B\n\n## Other\nx\n\n## Nexmark\n\n### Run\n\n| a |\n"},
		{"an empty file", "", "## Nexmark\n\n### Run\n\n| a |\n"},
		{"headings in code blocks do not count", "## Nexmark\n\n```\n## not a heading\n```\n\n## Other\n",
			"## Nexmark\n\n```\n## not a heading\n```\n\n### Run\n\n| a |\n\n## Other\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(insertInSection([]byte(tc.doc), []byte(md))); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestAppendToSectionFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.md")
	for range 2 {
		if err := AppendToSection(p, []byte("### Run\n")); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	if string(b) != "## Nexmark\n\n### Run\n\n### Run\n" {
		t.Fatalf("%q", b)
	}
	if err := AppendToSection(filepath.Join(p, "not-a-dir", "x.md"), nil); err == nil {
		t.Fatal("writing under a file succeeded")
	}
}

func sampleReport() Report {
	cfg := DefaultConfig()
	return Report{
		Date: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), Machine: "a test machine", Command: "freshet bench nexmark --all", Config: cfg,
		Results: []Result{
			{Query: "q0", Events: 10_000_000, Results: 9_200_000, Wall: 4 * time.Second, CPU: 5 * time.Second, PeakRSS: 40 << 20,
				P50: 120 * time.Microsecond, P99: 3 * time.Millisecond, LatencySamples: 9000, LatencyMode: LatencyStamped,
				Checkpoints: 1, LastCheckpoint: 2048, Limit: LimitResult{Events: 10_000_000, Wall: 2 * time.Second, CPU: 2 * time.Second}},
			{Query: "q5", Events: 10_000_000, Results: 5, Wall: 50 * time.Second, CPU: 90 * time.Second, PeakRSS: -1},
		},
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### Run of 2026-11-27 10:00 UTC\n\nMachine: a test machine.\n\n```\nfreshet bench nexmark --all\n```\n",
		"10 M events per query at 10 M events/s of event time, parallelism 2, rocksdb state, a checkpoint every 10s.",
		"| q0 | 2.50 M | 2.00 M | 5.00 M | 0.40 | 120µs / 3ms (record) | 40 MiB | 1 (2 KiB) | 9.20 M |\n",
		"| q5 | 200 K | 111 K | n/a | n/a | n/a | n/a | 0 | 5 |\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().SVG(&b); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	texts := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "text" {
			texts++
		}
	}
	if texts < 10 {
		t.Fatalf("only %d labels", texts)
	}
}

func TestProbeLatency(t *testing.T) {
	p := NewProbe(LatencyProcessingTime, 0, 0)
	if _, _, n := p.Latency(); n != 0 {
		t.Fatal("samples without results")
	}
	s := &probeSink{p: p}
	now := time.Now().UnixMilli()
	in := api.NewBatch(100)
	for i := range 100 {
		in.Append(nil, nil, now-int64(i)-1) // window ends i ms ago
	}
	if err := s.ProcessBatch(in, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p50, p99, n := p.Latency()
	if n != 100 || p.Results() != 100 {
		t.Fatalf("%d samples of %d results", n, p.Results())
	}
	if p50 < 49*time.Millisecond || p50 > 200*time.Millisecond || p99 < 98*time.Millisecond || p99 < p50 {
		t.Fatalf("p50 %s, p99 %s", p50, p99)
	}
}

func TestProbeStampsAndEventTime(t *testing.T) {
	p := NewProbe(LatencyStamped, 0, 0)
	s := &probeSink{p: p}
	var stamp [8]byte
	binary.BigEndian.PutUint64(stamp[:], uint64(time.Now().Add(-time.Second).UnixNano()))
	in := api.NewBatch(2)
	in.Emit(&api.Record{Value: []byte("x"), Headers: []api.Header{{Key: []byte(StampHeader), Value: stamp[:]}}})
	in.Emit(&api.Record{Value: []byte("unstamped")})
	_ = s.ProcessBatch(in, nil)
	_ = s.Close()
	if p50, _, n := p.Latency(); n != 1 || p50 < time.Second || p50 > 2*time.Second {
		t.Fatalf("%d samples, p50 %s", n, p50)
	}

	// Event time: due when every view subtask passed the timestamp plus the delay.
	p = NewProbe(LatencyEventTime, 0, 10*time.Millisecond)
	a, b := p.emitLog("v", 0), p.emitLog("v", 1)
	a.add(100, 1000)
	a.add(200, 2000)
	b.add(150, 1500)
	b.add(300, 3000)
	for _, c := range []struct{ t, want int64 }{{50, 1500}, {110, 2000}, {160, 3000}, {250, 3000}, {400, 3000}} {
		if got, ok := p.dueSince(c.t); !ok || got != c.want {
			t.Errorf("dueSince(%d) = %d, want %d", c.t, got, c.want)
		}
	}
}

func FuzzRestoreState(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 7, 1, 'x'})
	f.Add([]byte{0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, e []byte) {
		w := &windowTop{cfg: topConfig{size: 10}, wins: map[int64]*partialTop{}}
		if err := w.RestoreState([][]byte{e}); err != nil && !errors.Is(err, ErrCorruptState) {
			t.Fatalf("window-top: %v is not ErrCorruptState", err)
		}
		l := &localCount{counts: map[paneKey]int32{}}
		if err := l.RestoreState([][]byte{e}); err != nil && !errors.Is(err, ErrCorruptState) {
			t.Fatalf("local-count: %v is not ErrCorruptState", err)
		}
	})
}

func FuzzView(f *testing.F) {
	for _, r := range events(f, 60) {
		f.Add(r.Value)
	}
	keys := map[string]string{"person": "id", "auction": "seller", "bid": "bidder"}
	f.Fuzz(func(t *testing.T, v []byte) {
		for _, name := range []string{"person", "auction", "bid"} {
			h := harness(t, "nexmark-view", map[string]any{"view": name, "key": keys[name], "on-error": "skip"}, false, nil)
			if err := h.Process(api.Record{Value: v, Timestamp: 1}); err != nil {
				t.Fatalf("view %s: %v", name, err)
			}
			for _, r := range h.Records() {
				if len(r.Value) == 0 || len(r.Key) == 0 {
					t.Fatalf("view %s emitted %q", name, r.Value)
				}
			}
		}
	})
}
