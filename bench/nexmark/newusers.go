package nexmark

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows"
)

// buildNewUsers reads a new-users node, q8:
//
//	operators:
//	  - name: new-users
//	    type: new-users
//	    inputs: [persons, auctions]  # nexmark-view rows: persons (id, name), then auctions
//	    key-by: key                  # persons keyed by id, auctions by seller
//	    size: 10s                    # tumbling windows of event time
//
// It is the engine's window join (windows.WindowJoin) of its two inputs,
// keeping one copy of equal rows per window (JoinConfig.Distinct: both
// sides of the SQL are GROUP BY results, so a seller's many auctions in a
// window are one row, as in the plan Flink SQL runs), with a co-group
// function that emits each person once per window in which they opened an
// auction, {"id":…,"name":"…","starttime":…}:
//
//	SELECT P.id, P.name, P.starttime
//	FROM (persons grouped by id, name and 10 s tumbling window) P
//	JOIN (auctions grouped by seller and the same windows) A
//	ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
func buildNewUsers(p *params.Params) (registry.Operator, error) {
	size := time.Duration(0)
	if p.Required("size") {
		if size = p.Duration("size", 0); size < time.Millisecond {
			p.Errorf("size", "must be at least 1ms")
		}
	}
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	newJoin, err := windows.NewWindowJoin(windows.JoinConfig{
		Assigner:  windows.Tumbling(size),
		CoGroup:   newUsersOf,
		Distinct:  true, // both sides are GROUP BY results: a seller's auctions are one row
		StateName: "new-users",
	})
	if err != nil {
		return registry.Operator{}, &params.Error{Pos: p.Pos(), Field: p.Path(), Msg: err.Error()}
	}
	return registry.Operator{Keyed: true, TwoInputs: true, New: newJoin}, nil
}

var (
	pathID   = jsonpath.MustParse("id")
	pathName = jsonpath.MustParse("name")
)

// newUsersOf emits the distinct persons of a window that has auctions.
func newUsersOf(key []byte, w windows.Window, persons, auctions [][]byte, out api.Output) error {
	if len(auctions) == 0 {
		return nil
	}
	var seen [][]byte
	for _, p := range persons {
		id, k := pathID.Get(p)
		name, nk := pathName.Get(p)
		if k != jsonpath.Number || nk != jsonpath.String {
			return fmt.Errorf("new-users: person row %q lacks a numeric id or a name", p)
		}
		b := append([]byte(`{"id":`), id...)
		b = append(b, `,"name":"`...)
		b = append(b, name...) // still escaped as in the row
		b = append(b, `","starttime":`...)
		b = strconv.AppendInt(b, w.Start, 10)
		b = append(b, '}')
		dup := false
		for _, s := range seen {
			if bytes.Equal(s, b) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		seen = append(seen, b)
		out.Emit(&api.Record{Key: key, Value: b, Timestamp: w.MaxTimestamp()})
	}
	return nil
}
