package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/harness"
)

// Options configure a run.
type Options struct {
	// Match selects the cases to run by name; nil runs every case.
	Match func(name string) bool
}

// Run parses the spec file, loads the module at modulePath in rt and runs
// every case. The error is for what stops the run as a whole (a malformed
// spec, wrapping ErrMalformed; a module that does not load; ctx ending);
// failed cases are in the Report.
func Run(ctx context.Context, rt *host.Runtime, modulePath, specFile string) (*Report, error) {
	s, err := Load(specFile)
	if err != nil {
		return nil, err
	}
	return s.Run(ctx, rt, modulePath, Options{})
}

// Run loads the module at modulePath in rt and runs the selected cases.
func (s *Spec) Run(ctx context.Context, rt *host.Runtime, modulePath string, o Options) (*Report, error) {
	m, err := rt.LoadFile(ctx, modulePath)
	if err != nil {
		return nil, fmt.Errorf("testing %s: %w", modulePath, err)
	}
	return s.RunModule(ctx, m, o)
}

// RunModule runs the selected cases against m. It returns the report of the
// cases run so far and ctx's error when ctx ends.
func (s *Spec) RunModule(ctx context.Context, m *host.Module, o Options) (*Report, error) {
	rep := &Report{Spec: s.File, Module: m.ID()}
	for _, c := range s.Cases {
		if o.Match != nil && !o.Match(c.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("testing %s with %s: %w", m.ID(), s.File, err)
		}
		rep.Cases = append(rep.Cases, runCase(ctx, s.File, m, c))
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("testing %s with %s: %w", m.ID(), s.File, err)
	}
	return rep, nil
}

// caseRun is the state of one case being run.
type caseRun struct {
	file     string
	c        *Case
	h        *harness.Harness
	fn       host.Function
	agg      *aggregateOp
	res      *CaseResult
	outSeen  int
	sideSeen map[string]int
}

func runCase(ctx context.Context, file string, m *host.Module, c *Case) (res CaseResult) {
	start := time.Now()
	res = CaseResult{Name: c.Name, File: file, Line: c.Line}
	logs := &logBuffer{}
	defer func() {
		res.Duration = time.Since(start)
		res.Logs = logs.lines
	}()
	r := &caseRun{file: file, c: c, res: &res, sideSeen: map[string]int{}}
	fn, err := m.Function(c.Function, c.Kind)
	if err != nil {
		r.fail("setting up: %v", err)
		return res
	}
	r.fn = fn
	res.Function = fmt.Sprintf("%s (%s)", fn.Name, fn.Kind)
	if err := r.newHarness(m, slog.New(&logHandler{buf: logs})); err != nil {
		r.fail("setting up: %v", err)
		return res
	}
	defer func() {
		if err := r.h.Close(); err != nil && res.Passed() {
			r.fail("closing the function: %v", err)
		}
	}()
	err = r.h.Open()
	if c.openError != nil {
		if msg := errorMismatch(c.openError, err, "opening the function"); msg != "" {
			r.fail("%s", msg)
		}
		return res
	}
	if err != nil {
		r.fail("opening the function: %v", err)
		return res
	}
	for i := range c.steps {
		st := &c.steps[i]
		if err := ctx.Err(); err != nil {
			r.failStep(i, st, "not run: %v", err)
			return res
		}
		if !r.runStep(i, st) {
			return res
		}
	}
	return res
}

func (r *caseRun) newHarness(m *host.Module, log *slog.Logger) error {
	opts := host.Options{Function: r.fn.Name, Kind: r.fn.Kind, Config: r.c.Config, OnError: r.c.OnError}
	hopts := harness.Options{Name: r.fn.Name, Logger: log, Keyed: r.fn.Kind == abi.KindProcess}
	var op api.Operator
	switch r.fn.Kind {
	case abi.KindMap, abi.KindFilter, abi.KindFlatMap, abi.KindProcess, abi.KindDeserializer:
		hop, err := host.NewOperator(m, opts)
		if err != nil {
			return err
		}
		op = hop
	case abi.KindKeySelector:
		op = &keySelectorOp{m: m, opts: opts}
	case abi.KindAggregate:
		r.agg = &aggregateOp{m: m, opts: opts, accs: map[string]*accumulator{}}
		op = r.agg
	default:
		return fmt.Errorf("function %q is a %s function, which a spec cannot test yet", r.fn.Name, r.fn.Kind)
	}
	h, err := harness.New(op, hopts)
	if err != nil {
		return err
	}
	r.h = h
	return nil
}

// runStep runs one step and its checks; false stops the case.
func (r *caseRun) runStep(i int, st *step) bool {
	var err error
	switch st.action {
	case actRecords:
		err = r.h.ProcessRecords(st.records...)
	case actWatermark:
		err = r.h.ProcessWatermark(st.time)
	case actProcessingTime:
		err = r.h.SetProcessingTime(st.time)
	case actFinish:
		err = r.h.Finish()
	case actMerge:
		if r.agg == nil {
			r.failStep(i, st, "merge: only aggregate functions merge, %s is a %s function", r.fn.Name, r.fn.Kind)
			return false
		}
		err = r.agg.merge(st.mergeSrc, st.mergeDst)
	}
	if st.err != nil {
		if msg := errorMismatch(st.err, err, "the step"); msg != "" {
			r.failStep(i, st, "%s", msg)
		}
	} else if err != nil {
		r.failStep(i, st, "unexpected error (the case stops here): %v", err)
		return false
	}
	if st.output != nil {
		got := r.h.Output()[r.outSeen:]
		r.outSeen = len(r.h.Output())
		if msg := compareRecords(*st.output, got, st.anyOrder); msg != "" {
			r.failStep(i, st, "output differs: %s", msg)
		}
	}
	for _, se := range st.sides {
		all := r.h.SideOutput(se.tag)
		got := all[r.sideSeen[se.tag]:]
		r.sideSeen[se.tag] = len(all)
		if msg := compareRecords(se.recs, got, st.anyOrder); msg != "" {
			r.failStep(i, st, "side output %q differs: %s", se.tag, msg)
		}
	}
	for _, se := range st.state {
		if msg := r.checkState(se); msg != "" {
			r.failStep(i, st, "%s", msg)
		}
	}
	if st.timers != nil {
		if r.h.State() == nil {
			r.failStep(i, st, "timers: %s is a %s function; only process functions have timers", r.fn.Name, r.fn.Kind)
		} else if msg := compareTimers(*st.timers, r.h.Timers()); msg != "" {
			r.failStep(i, st, "pending timers differ: %s", msg)
		}
	}
	for _, ce := range st.counters {
		if got := r.h.Counter(ce.name); got != ce.n {
			r.failStep(i, st, "counter %q: expected %d, got %d", ce.name, ce.n, got)
		}
	}
	return true
}

// errorMismatch says how got differs from the expected error, or "".
func errorMismatch(want *errorExpect, got error, what string) string {
	switch {
	case got == nil:
		return fmt.Sprintf("expected %s to fail with %s; it succeeded", what, want)
	case want.kind != nil && !errors.Is(got, want.kind), !strings.Contains(got.Error(), want.msg):
		return fmt.Sprintf("expected %s to fail with %s; it failed with: %v", what, want, got)
	}
	return ""
}

func (e *errorExpect) String() string {
	var b strings.Builder
	if e.kind != nil {
		fmt.Fprintf(&b, "a %s error", e.kindName)
	} else {
		b.WriteString("an error")
	}
	if e.msg != "" {
		fmt.Fprintf(&b, " containing %q", e.msg)
	}
	return b.String()
}

// fail records a failure of the case outside its steps.
func (r *caseRun) fail(format string, args ...any) {
	r.res.Failures = append(r.res.Failures, Failure{File: r.file, Line: r.c.Line, Msg: fmt.Sprintf(format, args...)})
}

func (r *caseRun) failStep(i int, st *step, format string, args ...any) {
	r.res.Failures = append(r.res.Failures, Failure{Step: i + 1, File: r.file, Line: st.line, Action: st.actName, Msg: fmt.Sprintf(format, args...)})
}

// checkState compares one keyed state entry with the expectation.
func (r *caseRun) checkState(se stateExpect) string {
	what := fmt.Sprintf("state %q of key %s", se.name, fmtBytes(se.key, ""))
	b := r.h.State()
	if b == nil {
		return fmt.Sprintf("%s: %s is a %s function; only process functions have keyed state", what, r.fn.Name, r.fn.Kind)
	}
	var desc *api.StateDescriptor
	for _, d := range b.Descriptors() {
		if d.Name == se.name {
			desc = &d
			break
		}
	}
	if desc != nil && desc.Kind != se.kind {
		return fmt.Sprintf("%s: the function declared a %s state, the spec checks a %s state", what, desc.Kind, se.kind)
	}
	b.SetCurrentKey(se.key)
	b.SetCurrentNamespace(nil)
	switch se.kind {
	case api.ValueStateKind:
		var got []byte
		found := false
		if desc != nil {
			vs, err := b.Value(*desc)
			if err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
			v, ok, err := vs.Get()
			if err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
			got, found = bytes.Clone(v), ok
		}
		switch {
		case se.absent && found:
			return fmt.Sprintf("%s: expected absent, got %s", what, fmtBytes(got, ""))
		case se.absent:
			return ""
		case !found:
			return fmt.Sprintf("%s: expected %s, got absent", what, se.value)
		case !bytes.Equal(got, se.value.b):
			return fmt.Sprintf("%s: expected %s, got %s", what, se.value, fmtBytes(got, se.value.enc))
		}
	case api.ListStateKind:
		var got [][]byte
		if desc != nil {
			ls, err := b.List(*desc)
			if err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
			if err := ls.Iter(func(v []byte) bool { got = append(got, bytes.Clone(v)); return true }); err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
		}
		return compareList(what, se.list, got)
	case api.MapStateKind:
		var got []mapEntry
		if desc != nil {
			ms, err := b.Map(*desc)
			if err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
			if err := ms.Iter(func(k, v []byte) bool {
				got = append(got, mapEntry{key: bytes.Clone(k), value: bytesValue{b: bytes.Clone(v)}})
				return true
			}); err != nil {
				return fmt.Sprintf("%s: %v", what, err)
			}
		}
		return compareMap(what, se.mapv, got)
	}
	return ""
}

// keySelectorOp runs a key selector over every batch and emits the records
// with their new keys, as a job's key selector operator does.
type keySelectorOp struct {
	api.BaseOperator
	m    *host.Module
	opts host.Options
	ks   *host.KeySelector
}

func (k *keySelectorOp) Open(ctx api.Context) error {
	ks, err := host.NewKeySelector(ctx.Context(), k.m, k.opts)
	if err != nil {
		return err
	}
	k.ks = ks
	return nil
}

func (k *keySelectorOp) ProcessBatch(in *api.Batch, out api.Output) error {
	if err := k.ks.SelectKeys(in); err != nil {
		return err
	}
	for i := range in.Records {
		out.Emit(&in.Records[i])
	}
	return nil
}

func (k *keySelectorOp) Close() error {
	if k.ks == nil {
		return nil
	}
	err := k.ks.Close()
	k.ks = nil
	return err
}

// aggregateOp runs an aggregate function the way a window of unbounded
// size would: one accumulator per key, every record added to its key's;
// Finish emits each key's result (in order of first appearance) with the
// largest timestamp added, and starts over.
type aggregateOp struct {
	api.BaseOperator
	m    *host.Module
	opts host.Options
	agg  *host.AggregateFunction
	keys [][]byte
	accs map[string]*accumulator
}

type accumulator struct {
	acc   []byte
	maxTs int64
}

func (a *aggregateOp) Open(ctx api.Context) error {
	agg, err := host.NewAggregateFunction(ctx.Context(), a.m, a.opts)
	if err != nil {
		return err
	}
	a.agg = agg
	return nil
}

func (a *aggregateOp) get(key []byte) (*accumulator, error) {
	if acc, ok := a.accs[string(key)]; ok {
		return acc, nil
	}
	b, err := a.agg.CreateE(nil)
	if err != nil {
		return nil, fmt.Errorf("creating the accumulator of key %s: %w", fmtBytes(key, ""), err)
	}
	acc := &accumulator{acc: b, maxTs: api.NoTimestamp}
	a.keys = append(a.keys, bytes.Clone(key))
	a.accs[string(key)] = acc
	return acc, nil
}

func (a *aggregateOp) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		rec := &in.Records[i]
		acc, err := a.get(rec.Key)
		if err != nil {
			return err
		}
		next, err := a.agg.AddE(acc.acc, rec.Value, nil)
		if err != nil {
			return fmt.Errorf("adding record %d (key %s): %w", i, fmtBytes(rec.Key, ""), err)
		}
		acc.acc = next
		acc.maxTs = max(acc.maxTs, rec.Timestamp)
	}
	return nil
}

// merge merges the accumulator of key src into dst's and drops src's.
func (a *aggregateOp) merge(src, dst []byte) error {
	from, ok := a.accs[string(src)]
	if !ok {
		return fmt.Errorf("merge: key %s has no accumulator (add a record with that key first)", fmtBytes(src, ""))
	}
	into, err := a.get(dst)
	if err != nil {
		return err
	}
	merged, err := a.agg.MergeE(into.acc, from.acc, nil)
	if err != nil {
		return fmt.Errorf("merging key %s into %s: %w", fmtBytes(src, ""), fmtBytes(dst, ""), err)
	}
	into.acc = merged
	into.maxTs = max(into.maxTs, from.maxTs)
	delete(a.accs, string(src))
	for i, k := range a.keys {
		if bytes.Equal(k, src) {
			a.keys = append(a.keys[:i], a.keys[i+1:]...)
			break
		}
	}
	return nil
}

func (a *aggregateOp) Finish(out api.Output) error {
	for _, k := range a.keys {
		acc := a.accs[string(k)]
		res, err := a.agg.ResultE(acc.acc, nil)
		if err != nil {
			return fmt.Errorf("result of key %s: %w", fmtBytes(k, ""), err)
		}
		out.Emit(&api.Record{Key: k, Value: res, Timestamp: acc.maxTs})
	}
	a.keys, a.accs = nil, map[string]*accumulator{}
	return nil
}

func (a *aggregateOp) Close() error {
	if a.agg == nil {
		return nil
	}
	err := a.agg.Close()
	a.agg = nil
	return err
}

// logBuffer keeps the last log lines of the function under test.
type logBuffer struct{ lines []string }

const maxLogLines = 50

func (l *logBuffer) add(line string) {
	if len(l.lines) == maxLogLines {
		l.lines = append(l.lines[:0], l.lines[1:]...)
	}
	l.lines = append(l.lines, line)
}

// logHandler is a slog.Handler writing to a logBuffer.
type logHandler struct {
	buf   *logBuffer
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String())
	b.WriteByte(' ')
	b.WriteString(rec.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	rec.Attrs(add)
	h.buf.add(b.String())
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{buf: h.buf, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
