package kafka_test

// This file is an external test: it imports engine/job, which imports
// engine/connectors, which will register this package.

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

	"github.com/freshet/freshet/engine/connectors/kafka"
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
		kafka.Register(r)
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, topic := range []string{"orders", "large-orders", "orders-dead"} {
		if err := kafkatest.CreateTopic(ctx, bootstrap, topic, 3); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	var want []string
	for i := range 300 {
		v := fmt.Sprintf(`{"id":%d,"amount":%d}`, i, i%200)
		recs = append(recs, &kgo.Record{Value: []byte(v)})
		if i%200 > 100 {
			want = append(want, v)
		}
	}
	recs = append(recs, &kgo.Record{Value: []byte(`{"id":`)})
	cl := kafkatest.Client(t, bootstrap, kgo.DefaultProduceTopic("orders"))
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

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
	if _, err := env.Execute(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = got[:0]
		for _, r := range kafkatest.ConsumeCommitted(t, bootstrap, "large-orders") {
			got = append(got, string(r.Value))
		}
		slices.Sort(got)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("large-orders holds %d records, want %d", len(got), len(want))
	}
	dead := kafkatest.ConsumeCommitted(t, bootstrap, "orders-dead")
	if len(dead) != 1 || string(dead[0].Value) != `{"id":` {
		t.Fatalf("orders-dead holds %d records", len(dead))
	}
	if !slices.ContainsFunc(dead[0].Headers, func(h kgo.RecordHeader) bool { return h.Key == kafka.HeaderErrorReason }) {
		t.Fatalf("dead letter without a reason: %v", dead[0].Headers)
	}
}
