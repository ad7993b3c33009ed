package onerror_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/conntest"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
)

func fileParams(fields map[string]any) *params.Params {
	vals := map[string]params.Value{}
	line := 3
	for k, v := range fields {
		vals[k] = params.Value{V: v, Pos: params.Pos{File: "job.yaml", Line: line, Col: 5}}
		line++
	}
	return params.New("sources[0]", params.Pos{File: "job.yaml", Line: 2, Col: 3}, vals)
}

func TestFromParams(t *testing.T) {
	tests := []struct {
		name       string
		fields     map[string]any
		jobDefault string
		want       onerror.Action
		wantErr    string
	}{
		{"default is fail", nil, "", onerror.Fail, ""},
		{"job default applies", nil, "skip", onerror.Skip, ""},
		{"source overrides job", map[string]any{"on-error": "fail"}, "skip", onerror.Fail, ""},
		{"dead letter with path", map[string]any{"on-error": "dead-letter", "dead-letter-path": "/tmp/x"}, "", onerror.DeadLetter, ""},
		{"dead letter needs a path", map[string]any{"on-error": "dead-letter"}, "", onerror.DeadLetter,
			"job.yaml:2:3: sources[0].dead-letter-path: on-error is dead-letter but dead-letter-path is not set"},
		{"path without dead letter", map[string]any{"dead-letter-path": "/tmp/x"}, "", onerror.Fail,
			"job.yaml:3:5: sources[0].dead-letter-path: is set but on-error is fail"},
		{"unknown action", map[string]any{"on-error": "ignore"}, "", onerror.Fail,
			`job.yaml:3:5: sources[0].on-error: "ignore" is not one of fail, skip, dead-letter`},
		{"bad job default", nil, "retry", onerror.Fail, `job default: on-error "retry" is not one of`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := fileParams(tc.fields)
			pol := onerror.FromParams(p, tc.jobDefault)
			err := p.Err()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if pol.Action != tc.want {
				t.Fatalf("action = %q, want %q", pol.Action, tc.want)
			}
		})
	}
}

func TestFailNamesSourceAndPosition(t *testing.T) {
	ctx := conntest.NewContext("clicks", 0, 1)
	h, err := onerror.Policy{Action: onerror.Fail}.NewHandler(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cause := fmt.Errorf("%w: invalid JSON", onerror.ErrMalformed)
	err = h.Handle("in.jsonl:17", []byte("{oops"), cause)
	var re *onerror.RecordError
	if !errors.As(err, &re) || re.Position != "in.jsonl:17" || re.Source != "clicks" {
		t.Fatalf("got %v, want a RecordError for clicks at in.jsonl:17", err)
	}
	if !errors.Is(err, onerror.ErrMalformed) {
		t.Fatalf("%v does not wrap ErrMalformed", err)
	}
	if want := `source "clicks": in.jsonl:17: malformed record: invalid JSON`; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

func TestSkipCounts(t *testing.T) {
	ctx := conntest.NewContext("clicks", 0, 1)
	h, err := onerror.Policy{Action: onerror.Skip}.NewHandler(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := h.Handle(fmt.Sprintf("f:%d", i), nil, onerror.ErrMalformed); err != nil {
			t.Fatal(err)
		}
	}
	if got := ctx.CounterValue(onerror.SkippedCounter); got != 3 {
		t.Fatalf("%s = %d, want 3", onerror.SkippedCounter, got)
	}
}

func readLetters(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("dead letter %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestDeadLetterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	pol := onerror.Policy{Action: onerror.DeadLetter, DeadLetterPath: path}
	// Two subtasks share the file.
	ctxs := []*conntest.Context{conntest.NewContext("clicks", 0, 2), conntest.NewContext("clicks", 1, 2)}
	var hs []*onerror.Handler
	for _, c := range ctxs {
		h, err := pol.NewHandler(c)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	records := [][]byte{[]byte(`{"a":`), []byte("tab\there \"quoted\""), {0xff, 0xfe, 'x'}}
	for i, r := range records {
		if err := hs[i%2].Handle(fmt.Sprintf("in.jsonl:%d", i+1), r, fmt.Errorf("%w: bad %d", onerror.ErrMalformed, i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hs {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := readLetters(t, path)
	if len(got) != 3 {
		t.Fatalf("%d dead letters, want 3", len(got))
	}
	want := []map[string]string{
		{"source": "clicks", "position": "in.jsonl:1", "reason": "malformed record: bad 0", "record": `{"a":`},
		{"source": "clicks", "position": "in.jsonl:2", "reason": "malformed record: bad 1", "record": "tab\there \"quoted\""},
		{"source": "clicks", "position": "in.jsonl:3", "reason": "malformed record: bad 2", "record": "//54", "encoding": "base64"},
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("letter %d = %v, want %v", i, got[i], want[i])
		}
	}
	if n := ctxs[0].CounterValue(onerror.DeadLetteredCounter) + ctxs[1].CounterValue(onerror.DeadLetteredCounter); n != 3 {
		t.Fatalf("dead-lettered count %d, want 3", n)
	}
}

func TestDeadLetterUnwritablePathFailsAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "dead.jsonl")
	_, err := onerror.Policy{Action: onerror.DeadLetter, DeadLetterPath: path}.NewHandler(conntest.NewContext("s", 0, 1))
	if err == nil || !strings.Contains(err.Error(), `source "s": opening dead-letter output`) {
		t.Fatalf("err = %v", err)
	}
}

type memWriter struct {
	letters []onerror.Letter
	closed  bool
}

func (m *memWriter) WriteDeadLetter(l *onerror.Letter) error {
	c := *l
	c.Record = append([]byte(nil), l.Record...)
	m.letters = append(m.letters, c)
	return nil
}
func (m *memWriter) Close() error { m.closed = true; return nil }

func TestDeadLetterToOtherWriter(t *testing.T) {
	mem := &memWriter{}
	p := fileParams(map[string]any{"on-error": "dead-letter"})
	pol := onerror.FromParams(p, "", onerror.DeadLetterTo(func(api.Context) (onerror.DeadLetterWriter, error) { return mem, nil }))
	if err := p.Err(); err != nil {
		t.Fatalf("dead-letter-path should not be required with DeadLetterTo: %v", err)
	}
	h, err := pol.NewHandler(conntest.NewContext("orders", 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("orders/3/1042", []byte("x"), onerror.ErrMalformed); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if len(mem.letters) != 1 || mem.letters[0].Position != "orders/3/1042" || !mem.closed {
		t.Fatalf("writer got %+v closed=%v", mem.letters, mem.closed)
	}
}

func TestLetterJSONEscapes(t *testing.T) {
	l := onerror.Letter{Source: "s\"1", Position: "p\\2", Reason: "line\nbreak\x01", Record: []byte("é€")}
	var m map[string]string
	if err := json.Unmarshal(l.AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	if m["source"] != l.Source || m["position"] != l.Position || m["reason"] != l.Reason || m["record"] != "é€" {
		t.Fatalf("round trip gave %v", m)
	}
}
