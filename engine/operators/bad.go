package operators

import (
	"fmt"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
)

// Categories of bad records; both wrap onerror.ErrMalformed.
var (
	// ErrFieldNotFound: the record has no value at the field path (or is not
	// JSON there).
	ErrFieldNotFound = fmt.Errorf("%w: field not found", onerror.ErrMalformed)
	// ErrNotANumber: the field exists but does not hold a finite number.
	ErrNotANumber = fmt.Errorf("%w: not a number", onerror.ErrMalformed)
)

// badRecords applies a node's on-error policy to the records an operator
// cannot process.
type badRecords struct {
	policy onerror.Policy
	h      *onerror.Handler
}

func (b *badRecords) open(ctx api.Context) error {
	h, err := b.policy.NewHandler(ctx)
	if err != nil {
		return err
	}
	b.h = h
	return nil
}

// handle returns nil when the record was skipped or dead-lettered, and the
// error that fails the task otherwise.
func (b *badRecords) handle(r *api.Record, err error) error {
	return b.h.Handle(position(r), r.Value, err)
}

func (b *badRecords) close() error { return b.h.Close() }

// position describes a record in a bad-record report: operators have no
// file offset, so the key (when set) and event time identify it.
func position(r *api.Record) string {
	var b []byte
	if len(r.Key) > 0 {
		b = append(b, "record with key "...)
		b = strconv.AppendQuote(b, string(r.Key))
	} else {
		b = append(b, "record"...)
	}
	if r.HasTimestamp() {
		b = append(b, " at "...)
		b = strconv.AppendInt(b, r.Timestamp, 10)
	}
	return string(b)
}
