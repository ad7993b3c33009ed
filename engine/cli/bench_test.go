package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/cli"
)

// TestBenchNexmark runs two small queries through `freshet bench nexmark`
// and checks the table, the report appended to a Markdown file's Nexmark
// section (the other sections untouched) and the plot.
func TestBenchNexmark(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "benchmarks.md")
	before := "# Benchmarks\n\n## Nexmark\n\nIntro.\n\n## Other\n\nKept.\n"
	if err := os.WriteFile(report, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	plot := filepath.Join(dir, "nexmark.svg")
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	r := run(context.Background(), "bench", "nexmark", "--query", "q0,q7", "--events", "20000", "--rate", "1000",
		"--state", "heap", "--checkpoint-interval", "0", "--dir", dir, "--report", report, "--plot", plot,
		"--cpuprofile", cpu, "--memprofile", mem)
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errout)
	}
	for _, want := range []string{"| q0 | ", "| q7 | ", "20 K events per query at 1000 events/s of event time, parallelism 2, heap state, no checkpoints."} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	md, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	nexmark, other, ok := strings.Cut(string(md), "## Other\n")
	if !ok || other != "\nKept.\n" || !strings.Contains(nexmark, "Intro.\n\n### Run of ") || !strings.Contains(nexmark, "| q7 | ") {
		t.Errorf("report:\n%s", md)
	}
	svg, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte(">q7<")) {
		t.Errorf("plot:\n%s", svg)
	}
	for _, prof := range []string{cpu, mem} {
		// pprof files are gzip-compressed protocol buffers.
		if b, err := os.ReadFile(prof); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("profile %s: %d bytes, %v", prof, len(b), err)
		}
	}
}

func TestBenchNexmarkMistakes(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "Usage: freshet bench nexmark"},
		{[]string{"bench", "tpch"}, `unknown suite "tpch"`},
		{[]string{"bench", "nexmark"}, "give --query NAME or --all"},
		{[]string{"bench", "nexmark", "--all", "--query", "q0"}, "not both"},
		{[]string{"bench", "nexmark", "--query", "q6"}, `unknown nexmark query: "q6" (queries: q0, q1, q1-go`},
		{[]string{"bench", "nexmark", "--query", "q0", "--state", "memory"}, `state is "memory", want rocksdb or heap`},
		{[]string{"bench", "nexmark", "--query", "q0", "--events", "0"}, "events is 0"},
		{[]string{"bench", "nexmark", "--query", "q1", "--plugins", "/nonexistent"}, "/nonexistent/rust/nexmark.wasm is missing"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(context.Background(), tc.args...)
			if r.code != cli.ExitUsage || !strings.Contains(r.errout, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.errout, cli.ExitUsage, tc.want)
			}
		})
	}
}
