package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/internal/kafkatest"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
)

const examplesDir = "../../../examples"

// registryWithKafka is the default registry plus this connector.
func registryWithKafka() *registry.Registry {
	r := job.DefaultRegistry().Clone()
	if _, ok := r.Doc("source")["kafka"]; !ok {
		Register(r)
	}
	return r
}

// Every example job file builds: its fields are all known and valid.
func TestExampleJobFilesBuild(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "kafka-*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/kafka-*.yaml: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			spec, err := jobspec.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := jobspec.Check(spec, registryWithKafka()); err != nil {
				t.Fatal(err)
			}
			if _, err := job.Build(spec, stream.Config{Registry: registryWithKafka(), Dir: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The exactly-once example runs as written (bounded, with its topics on
// the test cluster): large orders land once in large-orders, the order
// that is not JSON in orders-dead.
func TestExactlyOnceExampleRuns(t *testing.T) {
	bootstrap := kafkatest.Fake(t)
	for _, topic := range []string{"orders", "large-orders", "orders-dead"} {
		if err := kafkatest.CreateTopic(testCtx(t), bootstrap, topic, 3); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	var want []string
	for i := range 300 {
		v := fmt.Sprintf(`{"id":%d,"amount":%d}`, i, i%200)
		recs = append(recs, rec(int32(i%3), v))
		if i%200 > 100 {
			want = append(want, v)
		}
	}
	recs = append(recs, rec(1, `{"id":`))
	produce(t, bootstrap, "orders", recs...)

	spec, err := jobspec.Load(filepath.Join(examplesDir, "kafka-exactly-once.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Override([]string{
		"sources.orders.bootstrap-servers=" + bootstrap,
		"sources.orders.bounded=true",
		"sinks.out.bootstrap-servers=" + bootstrap,
		"config.checkpointing.interval=50ms",
	}, 0); err != nil {
		t.Fatal(err)
	}
	env, err := job.Build(spec, stream.Config{Registry: registryWithKafka(), Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := env.Execute(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	eventually(t, "large-orders", bootstrap, "large-orders", want)
	dead := kafkatest.ConsumeCommitted(t, bootstrap, "orders-dead")
	if len(dead) != 1 || string(dead[0].Value) != `{"id":` {
		t.Fatalf("orders-dead holds %d records", len(dead))
	}
	if !slices.ContainsFunc(dead[0].Headers, func(h kgo.RecordHeader) bool { return h.Key == HeaderErrorReason }) {
		t.Fatalf("dead letter without a reason: %v", dead[0].Headers)
	}
}
