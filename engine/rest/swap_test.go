package rest_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/rest"
	"github.com/freshet/freshet/engine/rest/resttest"
	"github.com/freshet/freshet/host/abi"
)

// tagged is an operator type that swaps like a WebAssembly operator: its
// "module" is the tag it prefixes every record with, so the output shows
// which version processed each record.
func tagged(module string) registry.Operator {
	return registry.Operator{
		Module: module,
		New:    func() (api.Operator, error) { return &tagOp{tag: module}, nil },
		Rebuild: func(m string) (registry.Operator, error) {
			return tagged(m), nil
		},
	}
}

type tagOp struct {
	api.BaseOperator
	tag string
	buf []byte
}

func (o *tagOp) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		o.buf = append(append(append(o.buf[:0], o.tag...), ':'), r.Value...)
		out.Emit(&api.Record{Key: r.Key, Value: o.buf, Timestamp: r.Timestamp})
	}
	return nil
}

func TestSwapThroughTheJobManager(t *testing.T) {
	reg := job.DefaultRegistry()
	reg.AddOperator("tagged", "prefixes records with its module's name", func(p *params.Params) (registry.Operator, error) {
		return tagged(p.String("module", "tag@1")), p.Err()
	})
	e := newEnv(t, envOpts{registry: reg})
	for _, v := range []string{"tag@1", "tag@2"} {
		name, version, _ := strings.Cut(v, "@")
		e.ok("POST", "/v1/modules?name="+name+"&version="+version, "application/wasm", resttest.Module(abi.KindMap, len(version)), http.StatusCreated, nil)
	}
	out := filepath.Join(e.dir, "out")
	id := e.submit(fmt.Sprintf(`apiVersion: freshet/v1
name: swappable
config:
  checkpointing: {interval: 50ms, dir: %s}
sources:
  - {name: gen, type: datagen, rows-per-second: 2000}
operators:
  - {name: tagger, type: tagged, module: tag@1}
sinks:
  - {name: out, type: file, path: %s}
`, filepath.Join(e.dir, "cp"), out))
	e.eventually("output of tag@1", func() bool { return len(readLines(t, out)) > 0 })

	path := "/v1/jobs/" + id + "/vertices/tagger/module"
	e.fails("POST", "/v1/jobs/"+id+"/vertices/gen/module", "application/json", []byte(`{"module": "tag@2"}`), 409, rest.CodeConflict, "cannot be hot-swapped")
	var acc rest.Accepted
	e.ok("POST", path, "application/json", []byte(`{"module": "tag@2"}`), http.StatusAccepted, &acc)
	var st rest.SwapStatus
	e.eventually("the swap", func() bool {
		e.ok("GET", "/v1/jobs/"+id+"/swaps/"+acc.RequestID, "", nil, http.StatusOK, &st)
		return st.Status != rest.StatusInProgress
	})
	if st.Status != rest.StatusCompleted {
		t.Fatalf("swap %+v", st)
	}
	e.eventually("output of tag@2", func() bool {
		for _, l := range readLines(t, out) {
			if strings.HasPrefix(l, "tag@2:") {
				return true
			}
		}
		return false
	})
	var evs rest.EventList
	e.ok("GET", "/v1/jobs/"+id+"/events", "", nil, http.StatusOK, &evs)
	swapped := false
	for _, ev := range evs.Events {
		swapped = swapped || ev.Type == string(cluster.EventModuleSwapped)
	}
	if !swapped {
		t.Fatalf("no MODULE_SWAPPED event: %s", mustJSON(evs))
	}
	e.fails("GET", "/v1/jobs/"+id+"/swaps/swap-99", "", nil, 404, rest.CodeNotFound, "swap-99")

	// Every record is processed once, by tag@1 up to the checkpoint the
	// swap happened at and by tag@2 after it (one subtask: in order).
	max1, min2 := -1, -1
	var seqs []string
	for _, l := range readLines(t, out) {
		tag, seq, _ := strings.Cut(l, ":")
		n, err := strconv.Atoi(seq)
		if err != nil {
			t.Fatalf("output line %q", l)
		}
		switch tag {
		case "tag@1":
			max1 = max(max1, n)
		case "tag@2":
			if min2 < 0 || n < min2 {
				min2 = n
			}
		default:
			t.Fatalf("output line %q", l)
		}
		seqs = append(seqs, seq)
	}
	if max1 >= min2 {
		t.Fatalf("tag@1 processed record %d after tag@2 processed %d", max1, min2)
	}
	checkSequences(t, seqs, 1)
}
