package spec

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/freshet/freshet/engine/api"
)

// Report is the outcome of running a spec against a module.
type Report struct {
	// Spec is the spec file, Module the module's ID (name and hash prefix).
	Spec, Module string
	// Cases are the cases run, in spec order.
	Cases []CaseResult
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name string
	// File and Line locate the case in its spec.
	File string
	Line int
	// Function is the function tested, e.g. "fraud (process)".
	Function string
	// Failures is empty when the case passed.
	Failures []Failure
	// Logs are the function's last log lines.
	Logs     []string
	Duration time.Duration
}

// Passed reports whether the case passed.
func (c *CaseResult) Passed() bool { return len(c.Failures) == 0 }

// Failure is one check that did not hold, or an error that stopped a case.
type Failure struct {
	// Step is the step's number in its case (from 1); 0 for failures while
	// setting up, opening or closing the function.
	Step int
	// File and Line locate the step (the case for Step 0).
	File string
	Line int
	// Action is what the step did: "records", "watermark 61000", "check".
	Action string
	// Msg says what was expected and what happened; a diff spans several
	// lines.
	Msg string
}

func (f Failure) String() string {
	if f.Step == 0 {
		return f.Msg
	}
	return fmt.Sprintf("step %d (%s:%d, %s): %s", f.Step, f.File, f.Line, f.Action, f.Msg)
}

// Passed and Failed count the cases.
func (r *Report) Passed() int { return len(r.Cases) - r.Failed() }

// Failed counts the cases that failed.
func (r *Report) Failed() int {
	n := 0
	for i := range r.Cases {
		if !r.Cases[i].Passed() {
			n++
		}
	}
	return n
}

// Write prints one line per case (PASS or FAIL, name, location, time) and,
// under each failed case, its failures and the function's last log lines.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	for i := range r.Cases {
		c := &r.Cases[i]
		status := "PASS"
		if !c.Passed() {
			status = "FAIL"
		}
		fmt.Fprintf(&b, "%s  %s (%s:%d, %s)\n", status, c.Name, c.File, c.Line, roundDuration(c.Duration))
		for i, f := range c.Failures {
			if f.Step == 0 {
				writeIndented(&b, "      ", f.Msg)
				continue
			}
			if i == 0 || c.Failures[i-1].Step != f.Step {
				fmt.Fprintf(&b, "      step %d (%s:%d, %s):\n", f.Step, f.File, f.Line, f.Action)
			}
			writeIndented(&b, "        ", f.Msg)
		}
		if !c.Passed() && len(c.Logs) > 0 {
			fmt.Fprintf(&b, "      the function logged:\n")
			for _, l := range c.Logs {
				writeIndented(&b, "        ", l)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String is Write's output followed by the summary line.
func (r *Report) String() string {
	var b strings.Builder
	_ = r.Write(&b)
	fmt.Fprintf(&b, "%d passed, %d failed\n", r.Passed(), r.Failed())
	return b.String()
}

func writeIndented(b *strings.Builder, indent, text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(indent)
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return strconv.Itoa(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// fmtBytes shows b the way enc writes it: text when it is UTF-8, else hex.
func fmtBytes(b []byte, enc string) string {
	switch enc {
	case "hex":
		return "hex " + hex.EncodeToString(b)
	case "base64":
		return "base64 " + base64.StdEncoding.EncodeToString(b)
	case "i64le", "i64be":
		if len(b) == 8 {
			if enc == "i64le" {
				return fmt.Sprintf("i64le %d", int64(binary.LittleEndian.Uint64(b)))
			}
			return fmt.Sprintf("i64be %d", int64(binary.BigEndian.Uint64(b)))
		}
		return fmt.Sprintf("hex %s (%d bytes, not an i64)", hex.EncodeToString(b), len(b))
	}
	if isText(b) {
		return strconv.Quote(string(b))
	}
	if len(b) == 8 {
		return fmt.Sprintf("hex %s (i64le %d)", hex.EncodeToString(b), int64(binary.LittleEndian.Uint64(b)))
	}
	return "hex " + hex.EncodeToString(b)
}

// isText: valid UTF-8 without control characters other than tab and
// line breaks.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

func (v bytesValue) String() string {
	if v.b == nil && v.enc == "" {
		return "null"
	}
	return fmtBytes(v.b, v.enc)
}

func (m *recordMatch) matches(r *api.Record) bool {
	if m.key != nil && !bytes.Equal(m.key.b, r.Key) {
		return false
	}
	if m.value != nil && !bytes.Equal(m.value.b, r.Value) {
		return false
	}
	if m.ts != nil && *m.ts != r.Timestamp {
		return false
	}
	if m.headers != nil {
		hs := *m.headers
		if len(hs) != len(r.Headers) {
			return false
		}
		for i, h := range hs {
			if !bytes.Equal(h.key, r.Headers[i].Key) || !bytes.Equal(h.value.b, r.Headers[i].Value) {
				return false
			}
		}
	}
	return true
}

func (m *recordMatch) String() string {
	var parts []string
	if m.key != nil {
		parts = append(parts, "key "+m.key.String())
	}
	if m.value != nil {
		parts = append(parts, "value "+m.value.String())
	}
	if m.ts != nil {
		parts = append(parts, "timestamp "+timeString(*m.ts))
	}
	if m.headers != nil {
		var hs []string
		for _, h := range *m.headers {
			hs = append(hs, fmtBytes(h.key, "")+": "+h.value.String())
		}
		parts = append(parts, "headers {"+strings.Join(hs, ", ")+"}")
	}
	if len(parts) == 0 {
		return "{any record}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// fmtRecord shows a record; like, when set, gives the encodings to use.
func fmtRecord(r *api.Record, like *recordMatch) string {
	kenc, venc := "", ""
	if like != nil && like.key != nil {
		kenc = like.key.enc
	}
	if like != nil && like.value != nil {
		venc = like.value.enc
	}
	s := fmt.Sprintf("{key %s, value %s, timestamp %s", fmtBytes(r.Key, kenc), fmtBytes(r.Value, venc), timeString(r.Timestamp))
	if len(r.Headers) > 0 {
		var hs []string
		for _, h := range r.Headers {
			hs = append(hs, fmtBytes(h.Key, "")+": "+fmtBytes(h.Value, ""))
		}
		s += ", headers {" + strings.Join(hs, ", ") + "}"
	}
	return s + "}"
}

// compareRecords returns "" when got matches want, else a diff.
func compareRecords(want []recordMatch, got []api.Record, anyOrder bool) string {
	like := func(i int) *recordMatch {
		if i < len(want) {
			return &want[i]
		}
		return nil
	}
	if anyOrder {
		return diffAnyOrder("record", len(want), len(got),
			func(w, g int) bool { return want[w].matches(&got[g]) },
			func(w int) string { return want[w].String() },
			func(g int) string { return fmtRecord(&got[g], nil) })
	}
	return diffOrdered("record", len(want), len(got),
		func(i int) bool { return want[i].matches(&got[i]) },
		func(i int) string { return want[i].String() },
		func(i int) string { return fmtRecord(&got[i], like(i)) })
}

// maxContext is the longest listing that also shows the matching items.
const maxContext = 12

// diffOrdered compares two sequences item by item.
func diffOrdered(noun string, nw, ng int, match func(i int) bool, want, got func(i int) string) string {
	n := max(nw, ng)
	var lines []string
	differs := nw != ng
	hidden := 0
	for i := 0; i < n; i++ {
		switch {
		case i < nw && i < ng && match(i):
			if n <= maxContext {
				lines = append(lines, fmt.Sprintf("    [%d] %s", i, got(i)))
			} else {
				hidden++
			}
		case i < nw && i < ng:
			differs = true
			lines = append(lines, fmt.Sprintf("  - [%d] %s", i, want(i)), fmt.Sprintf("  + [%d] %s", i, got(i)))
		case i < nw:
			lines = append(lines, fmt.Sprintf("  - [%d] %s", i, want(i)))
		default:
			lines = append(lines, fmt.Sprintf("  + [%d] %s", i, got(i)))
		}
	}
	if !differs {
		return ""
	}
	if hidden > 0 {
		lines = append(lines, fmt.Sprintf("    (%d matching not shown)", hidden))
	}
	return fmt.Sprintf("expected %s, got %d (- expected, + got):\n%s", plural(nw, noun), ng, strings.Join(lines, "\n"))
}

// diffAnyOrder compares two multisets: it pairs items with a maximum
// bipartite matching (expectations may leave fields out, so the first
// match found is not always the right one) and lists what is left.
func diffAnyOrder(noun string, nw, ng int, match func(w, g int) bool, want, got func(i int) string) string {
	owner := make([]int, ng) // want index matched to each got item, or -1
	for g := range owner {
		owner[g] = -1
	}
	var seen []bool
	var try func(w int) bool
	try = func(w int) bool {
		for g := 0; g < ng; g++ {
			if seen[g] || !match(w, g) {
				continue
			}
			seen[g] = true
			if owner[g] < 0 || try(owner[g]) {
				owner[g] = w
				return true
			}
		}
		return false
	}
	matched := make([]bool, nw)
	for w := 0; w < nw; w++ {
		seen = make([]bool, ng)
		try(w)
	}
	for _, w := range owner {
		if w >= 0 {
			matched[w] = true
		}
	}
	var lines []string
	for w, ok := range matched {
		if !ok {
			lines = append(lines, "  - missing    "+want(w))
		}
	}
	for g, w := range owner {
		if w < 0 {
			lines = append(lines, "  + unexpected "+got(g))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("expected %s in any order, got %d (- expected, + got):\n%s", plural(nw, noun), ng, strings.Join(lines, "\n"))
}

func domainName(d api.TimeDomain) string {
	if d == api.ProcessingTime {
		return "processing-time"
	}
	return "event-time"
}

func (m *timerMatch) String() string {
	var parts []string
	if m.domain != nil {
		parts = append(parts, domainName(*m.domain))
	}
	if m.ts != nil {
		parts = append(parts, "timestamp "+strconv.FormatInt(*m.ts, 10))
	}
	if m.key != nil {
		parts = append(parts, "key "+m.key.String())
	}
	if len(parts) == 0 {
		return "{any timer}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func fmtTimer(t *api.Timer) string {
	s := fmt.Sprintf("{%s, timestamp %d, key %s", domainName(t.Domain), t.Timestamp, fmtBytes(t.Key, ""))
	if len(t.Namespace) > 0 {
		s += ", namespace " + fmtBytes(t.Namespace, "")
	}
	return s + "}"
}

func (m *timerMatch) matches(t *api.Timer) bool {
	return (m.key == nil || bytes.Equal(m.key.b, t.Key)) &&
		(m.ts == nil || *m.ts == t.Timestamp) &&
		(m.domain == nil || *m.domain == t.Domain)
}

// compareTimers compares the pending timers, in firing order.
func compareTimers(want []timerMatch, got []api.Timer) string {
	return diffOrdered("timer", len(want), len(got),
		func(i int) bool { return want[i].matches(&got[i]) },
		func(i int) string { return want[i].String() },
		func(i int) string { return fmtTimer(&got[i]) })
}

func compareList(what string, want []bytesValue, got [][]byte) string {
	msg := diffOrdered("element", len(want), len(got),
		func(i int) bool { return bytes.Equal(want[i].b, got[i]) },
		func(i int) string { return want[i].String() },
		func(i int) string {
			enc := ""
			if i < len(want) {
				enc = want[i].enc
			}
			return fmtBytes(got[i], enc)
		})
	if msg == "" {
		return ""
	}
	return what + ": the list differs: " + msg
}

func compareMap(what string, want, got []mapEntry) string {
	byKey := func(a, b mapEntry) int { return bytes.Compare(a.key, b.key) }
	want, got = slices.Clone(want), slices.Clone(got)
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	var lines []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && bytes.Compare(want[i].key, got[j].key) < 0:
			lines = append(lines, fmt.Sprintf("  - %s: %s", fmtBytes(want[i].key, ""), want[i].value))
			i++
		case i == len(want) || bytes.Compare(want[i].key, got[j].key) > 0:
			lines = append(lines, fmt.Sprintf("  + %s: %s", fmtBytes(got[j].key, ""), fmtBytes(got[j].value.b, "")))
			j++
		default:
			if !bytes.Equal(want[i].value.b, got[j].value.b) {
				lines = append(lines, fmt.Sprintf("  - %s: %s", fmtBytes(want[i].key, ""), want[i].value),
					fmt.Sprintf("  + %s: %s", fmtBytes(got[j].key, ""), fmtBytes(got[j].value.b, want[i].value.enc)))
			}
			i, j = i+1, j+1
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: the map differs: expected %s, got %d (- expected, + got):\n%s", what, plural(len(want), "entry"), len(got), strings.Join(lines, "\n"))
}
