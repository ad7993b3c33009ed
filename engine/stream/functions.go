package stream

import (
	"fmt"

	"github.com/freshet/freshet/engine/api"
)

type mapOp struct {
	api.BaseOperator
	fn func(r *api.Record) error
}

func (o *mapOp) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := in.Records[i]
		if err := o.fn(&r); err != nil {
			return err
		}
		out.Emit(&r)
	}
	return nil
}

type filterOp struct {
	api.BaseOperator
	fn func(r *api.Record) bool
}

func (o *filterOp) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		if o.fn(&in.Records[i]) {
			out.Emit(&in.Records[i])
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
