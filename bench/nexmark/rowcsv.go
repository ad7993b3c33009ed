package nexmark

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// errNotRow is the category of values nexmark-csv cannot read.
var errNotRow = fmt.Errorf("%w: not a binary row of nexmark-view (a positive multiple of 8 bytes)", onerror.ErrMalformed)

// buildRowCSV reads a nexmark-csv node, which has no fields but on-error:
//
//	operators:
//	  - name: rows
//	    type: nexmark-csv
//
// It turns the binary rows of a nexmark-view (format: binary) into the CSV
// rows the view would have written with format: csv: where a query works
// on binary rows, the rows that reach the sink are made readable last, so
// only they pay for the decimal encoding.
func buildRowCSV(p *params.Params) (registry.Operator, error) {
	policy := onerror.FromParams(p, "")
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) { return &rowCSV{policy: policy}, nil }}, nil
}

// rowCSV is one subtask of nexmark-csv.
type rowCSV struct {
	api.BaseOperator
	policy onerror.Policy
	bad    *onerror.Handler
	buf    []byte
	rec    api.Record
}

func (c *rowCSV) Open(ctx api.Context) error {
	bad, err := c.policy.NewHandler(ctx)
	if err != nil {
		return fmt.Errorf("nexmark-csv %q: %w", ctx.OperatorName(), err)
	}
	c.bad = bad
	return nil
}

func (c *rowCSV) Close() error { return c.bad.Close() }

func (c *rowCSV) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		v := r.Value
		if len(v) == 0 || len(v)%8 != 0 {
			if err := c.bad.Handle(position(r), v, errNotRow); err != nil {
				return err
			}
			continue
		}
		c.buf = c.buf[:0]
		for j := 0; j < len(v); j += 8 {
			if j > 0 {
				c.buf = append(c.buf, ',')
			}
			c.buf = strconv.AppendInt(c.buf, int64(binary.LittleEndian.Uint64(v[j:])), 10)
		}
		c.rec = *r
		c.rec.Value = c.buf
		out.Emit(&c.rec)
	}
	c.rec = api.Record{}
	return nil
}
