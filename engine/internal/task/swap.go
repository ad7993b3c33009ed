package task

import (
	"errors"
	"fmt"

	"github.com/freshet/freshet/engine/api"
)

// FlagSwap marks a barrier at which prepared operator swaps take effect:
// every record before it went through the old operator, every record after
// it goes through the new one.
const FlagSwap uint32 = 1 << 8

// PrepareSwap makes and opens, on the task goroutine, a new instance of the
// operator of node nodeID with newOp, to replace the running one at the next
// barrier flagged FlagSwap. The new instance shares the operator's keyed
// state and timers; opening it is where an incompatible state declaration
// or a module that fails to start is found. It returns that error, or nil
// once the instance is ready.
func (t *Task) PrepareSwap(nodeID int, newOp func() (api.Operator, error)) error {
	// Instantiating the module (the slow part for a Go guest) happens here,
	// off the task goroutine, so the task keeps processing meanwhile; only
	// Open, which may declare state, runs on the task goroutine.
	op, err := newOp()
	if err != nil {
		return fmt.Errorf("%s: creating the new version: %w", t.d.Name(), err)
	}
	res := make(chan error, 1)
	if !t.postWait(func() error {
		res <- t.prepareSwap(nodeID, op)
		return nil
	}) {
		_ = op.Close()
		return fmt.Errorf("%s has ended", t.d.Name())
	}
	select {
	case err := <-res:
		return err
	case <-t.done:
		return fmt.Errorf("%s has ended", t.d.Name())
	}
}

func (t *Task) opByNode(nodeID int) *opRuntime {
	for _, o := range t.nodes {
		if o.node.ID == nodeID {
			return o
		}
	}
	return nil
}

func (t *Task) prepareSwap(nodeID int, op api.Operator) (err error) {
	o := t.opByNode(nodeID)
	if o == nil || o.op == nil {
		_ = op.Close()
		return fmt.Errorf("%s does not run operator %d", t.d.Name(), nodeID)
	}
	if o.swap != nil {
		_ = o.swap.Close()
		o.swap = nil
	}
	defer o.recoverPanic("starting the new version", &err)
	if err := op.Open(o); err != nil {
		_ = op.Close()
		return fmt.Errorf("%s: starting the new version of %q: %w", t.d.Name(), o.node.Name, err)
	}
	o.swap = op
	return nil
}

// CancelSwap discards a prepared swap of node nodeID.
func (t *Task) CancelSwap(nodeID int) {
	t.postWait(func() error {
		if o := t.opByNode(nodeID); o != nil && o.swap != nil {
			_ = o.swap.Close()
			o.swap = nil
		}
		return nil
	})
}

// applySwaps switches every operator with a prepared swap to its new
// instance (at a FlagSwap barrier, after the snapshot).
func (t *Task) applySwaps() error {
	var errs []error
	for _, o := range t.nodes {
		if o.swap == nil {
			continue
		}
		old := o.op
		o.op, o.swap = o.swap, nil
		o.generator = false
		if g, ok := o.op.(api.WatermarkGenerator); ok && g.GeneratesWatermarks() {
			o.generator = true
		}
		o.ticker = nil
		if tk, ok := o.op.(api.Ticker); ok && tk.TickInterval() > 0 {
			o.ticker = tk
		}
		t.log.Info("operator swapped", "operator", o.node.Name)
		if err := old.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the old version of %q: %w", o.node.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.log.Warn("closing swapped-out operators", "err", err)
	}
	return nil
}
