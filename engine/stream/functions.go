package stream

import (
	"fmt"
	"unsafe"

	"github.com/freshet/freshet/engine/api"
)

type mapOp struct {
	api.BaseOperator
	fn  func(r *api.Record) error
	rec api.Record // the copy fn may change; a field, so it never escapes per call
}

func (o *mapOp) ProcessBatch(in *api.Batch, out api.Output) error {
	view, canView := out.(api.ViewEmitter)
	for i := range in.Records {
		src := &in.Records[i]
		o.rec = *src
		if err := o.fn(&o.rec); err != nil {
			return err
		}
		// A record whose bytes still lie in the input batch needs no copy.
		if canView && within(o.rec.Key, src) && within(o.rec.Value, src) && sameHeaders(o.rec.Headers, src.Headers) {
			view.EmitView(&o.rec)
		} else {
			out.Emit(&o.rec)
		}
	}
	o.rec = api.Record{}
	return nil
}

// within reports whether b is empty or starts at r's key or value.
func within(b []byte, r *api.Record) bool {
	if len(b) == 0 {
		return true
	}
	p := unsafe.SliceData(b)
	return p == unsafe.SliceData(r.Value) && len(b) <= len(r.Value) ||
		p == unsafe.SliceData(r.Key) && len(b) <= len(r.Key)
}

func sameHeaders(a, b []api.Header) bool {
	return len(a) == 0 || len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

type filterOp struct {
	api.BaseOperator
	fn func(r *api.Record) bool
}

func (o *filterOp) ProcessBatch(in *api.Batch, out api.Output) error {
	view, canView := out.(api.ViewEmitter)
	for i := range in.Records {
		if o.fn(&in.Records[i]) {
			if canView {
				view.EmitView(&in.Records[i])
			} else {
				out.Emit(&in.Records[i])
			}
		}
	}
	return nil
}

type flatMapOp struct {
	api.BaseOperator
	fn func(r *api.Record, out api.Output) error
}

func (o *flatMapOp) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		if err := o.fn(&in.Records[i], out); err != nil {
			return err
		}
	}
	return nil
}

// ProcessFunction is a keyed process function. Process is called once per
// record with the record's key set as the current key of ctx.KeyedState();
// OnTimer when a timer registered through ctx.Timers() fires.
type ProcessFunction struct {
	Open    func(ctx api.Context) error
	Process func(ctx api.Context, r *api.Record, out api.Output) error
	OnTimer func(ctx api.Context, t api.Timer, out api.Output) error
	Finish  func(ctx api.Context, out api.Output) error
}

type processOp struct {
	api.BaseOperator
	fn  ProcessFunction
	ctx api.Context
	ks  api.KeyedState
}

func (o *processOp) Open(ctx api.Context) error {
	o.ctx, o.ks = ctx, ctx.KeyedState()
	if o.fn.Process == nil {
		return fmt.Errorf("process function %q has no Process", ctx.OperatorName())
	}
	if o.fn.Open != nil {
		return o.fn.Open(ctx)
	}
	return nil
}

func (o *processOp) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		if o.ks != nil {
			o.ks.SetCurrentKey(r.Key)
		}
		if err := o.fn.Process(o.ctx, r, out); err != nil {
			return err
		}
	}
	return nil
}

func (o *processOp) OnTimer(t api.Timer, out api.Output) error {
	if o.fn.OnTimer == nil {
		return nil
	}
	return o.fn.OnTimer(o.ctx, t, out)
}

func (o *processOp) Finish(out api.Output) error {
	if o.fn.Finish == nil {
		return nil
	}
	return o.fn.Finish(o.ctx, out)
}
