package windowstest

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of data-driven test files")

// TestData is one directive of a data-driven test file:
//
//	# a comment
//	command arg key=value
//	input line
//	input line
//	----
//	expected output
//	<blank line>
type TestData struct {
	Pos     string // file:line
	Cmd     string
	Args    []string          // positional arguments
	Vals    map[string]string // key=value arguments
	Input   []string
	Expect  string
	line    int
	endLine int // line after the expected output
}

// Has reports whether key was given as key=value or as a bare flag.
func (d *TestData) Has(key string) bool {
	if _, ok := d.Vals[key]; ok {
		return true
	}
	for _, a := range d.Args {
		if a == key {
			return true
		}
	}
	return false
}

// Fatalf reports a mistake in the test file.
func (d *TestData) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s: %s: %s", d.Pos, d.Cmd, fmt.Sprintf(format, args...))
}

// RunDataDriven runs every directive of the file at path through fn and
// compares what fn returns with the expected output. With -rewrite it
// rewrites the file with the actual output instead.
func RunDataDriven(t *testing.T, path string, fn func(t *testing.T, d *TestData) string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var out strings.Builder
	i := 0
	for i < len(lines) {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			out.WriteString(line)
			if i < len(lines)-1 {
				out.WriteByte('\n')
			}
			i++
			continue
		}
		d := &TestData{Pos: fmt.Sprintf("%s:%d", path, i+1), Vals: map[string]string{}, line: i}
		fields := strings.Fields(trimmed)
		d.Cmd = fields[0]
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				d.Vals[k] = v
			} else {
				d.Args = append(d.Args, f)
			}
		}
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) != "----" {
			if strings.TrimSpace(lines[i]) == "" {
				t.Fatalf("%s: %s: missing ---- after the input", d.Pos, d.Cmd)
			}
			d.Input = append(d.Input, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: %s: missing ----", d.Pos, d.Cmd)
		}
		i++ // ----
		var expect []string
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			expect = append(expect, lines[i])
			i++
		}
		d.Expect = strings.Join(expect, "\n")
		got := strings.TrimRight(fn(t, d), "\n")
		if *rewrite {
			out.WriteString(line + "\n")
			for _, in := range d.Input {
				out.WriteString(in + "\n")
			}
			out.WriteString("----\n")
			if got != "" {
				out.WriteString(got + "\n")
			}
			continue
		}
		if got != d.Expect {
			t.Errorf("%s: %s\n--- got\n%s\n--- want\n%s", d.Pos, line, got, d.Expect)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
