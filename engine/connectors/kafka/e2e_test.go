package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/internal/kafkatest"
	"github.com/freshet/freshet/engine/stream"
)

// failOnce passes records through. In the job's first attempt, each
// subtask fails once a checkpoint has completed and some records followed
// it, so the restarted job restores a checkpoint holding offsets and
// prepared transactions. It slows the pipeline so that checkpoints happen
// while records flow.
type failOnce struct {
	api.BaseOperator
	armed    bool
	after    int
	failures *atomic.Int32
}

func (f *failOnce) Open(ctx api.Context) error {
	f.armed, f.after = ctx.Attempt() == 0, -1
	return nil
}

func (f *failOnce) NotifyCheckpointComplete(int64) error {
	if f.armed && f.after < 0 {
		f.after = 0
	}
	return nil
}

func (f *failOnce) NotifyCheckpointAborted(int64) error { return nil }

func (f *failOnce) ProcessBatch(in *api.Batch, out api.Output) error {
	time.Sleep(3 * time.Millisecond)
	if f.armed && f.after >= 0 {
		if f.after += in.Len(); f.after > 50 {
			f.failures.Add(1)
			return errors.New("failOnce: injected failure")
		}
	}
	for i := range in.Records {
		out.Emit(&in.Records[i])
	}
	return nil
}

// TestJobExactlyOnceThroughFailure runs kafka source → operator → kafka
// sink (exactly-once) as a job with checkpoints through the engine's
// runtime, fails it mid-run, and checks a read_committed consumer sees
// every input record exactly once. The source is unbounded and the job is
// stopped once the output is complete: the runtime restarts subtasks that
// had already finished from a checkpoint that no longer holds their state,
// which no connector can make exactly-once (see the report).
func TestJobExactlyOnceThroughFailure(t *testing.T) {
	forEachCluster(t, func(t *testing.T, bootstrap string) {
		in := newTopic(t, bootstrap, 3)
		out := newTopic(t, bootstrap, 2)
		// The input arrives over about a second, so that checkpoints
		// complete and the failure strikes while records flow.
		const n, chunks = 20000, 50
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("r%05d", i))
		}
		feed := kafkatest.Client(t, bootstrap, kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		fed := make(chan error, 1)
		go func() {
			for c := range chunks {
				var recs []*kgo.Record
				for i := c * n / chunks; i < (c+1)*n/chunks; i++ {
					recs = append(recs, rec(int32(i%3), want[i]))
				}
				if err := feed.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
					fed <- err
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			fed <- nil
		}()

		newSrc, err := NewSource(SourceConfig{ClientConfig: ClientConfig{BootstrapServers: kafkatest.Seeds(bootstrap)}, Topics: []string{in}})
		if err != nil {
			t.Fatal(err)
		}
		newSink, err := NewSink(sinkConfig(bootstrap, out, DeliveryExactlyOnce))
		if err != nil {
			t.Fatal(err)
		}
		var failures atomic.Int32
		env := stream.NewEnvironment(stream.Config{
			Parallelism: 2,
			Checkpoint:  &cluster.CheckpointConfig{Interval: 30 * time.Millisecond, Dir: t.TempDir()},
			Restart:     &cluster.FixedDelay{Attempts: 3, Delay: 10 * time.Millisecond},
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		env.FromSource("in", newSrc).
			Transform("fail-once", func() (api.Operator, error) { return &failOnce{failures: &failures}, nil }).
			AddSink("out", newSink)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		job, err := env.ExecuteAsync(ctx, "kafka-exactly-once")
		if err != nil {
			t.Fatal(err)
		}
		for len(committed(t, bootstrap, out)) < n && ctx.Err() == nil {
			if st, _ := job.Status(); st.State.Terminal() {
				t.Fatalf("job ended early: %+v", st)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := <-fed; err != nil {
			t.Fatalf("feeding the input: %v", err)
		}
		if err := job.Stop(ctx); err != nil {
			t.Fatalf("stopping the job: %v", err)
		}
		if _, err := job.Wait(ctx); err != nil {
			t.Fatalf("job: %v", err)
		}
		if failures.Load() == 0 {
			t.Fatal("the job never failed (no checkpoint completed?)")
		}
		eventually(t, "job output", bootstrap, out, want)
	})
}
