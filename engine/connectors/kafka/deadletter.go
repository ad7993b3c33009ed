package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/onerror"
)

// Headers a dead letter carries besides the original record's own.
const (
	HeaderErrorReason    = "freshet.error.reason"    // what was wrong
	HeaderErrorSource    = "freshet.error.source"    // the source's name in the job
	HeaderErrorTopic     = "freshet.error.topic"     // where the record was read
	HeaderErrorPartition = "freshet.error.partition" // (decimal)
	HeaderErrorOffset    = "freshet.error.offset"    // (decimal)
)

// deadLetterTopic is the onerror.DeadLetterWriter of a source with a
// dead-letter-topic: it writes the bad record (key, value, headers and
// timestamp as read) to the topic, adding the reason and the position as
// headers. Writes are asynchronous; the source flushes them when it
// snapshots, so a dead letter is durable before a checkpoint moves past its
// record (at least once: a restored source may dead-letter it again).
type deadLetterTopic struct {
	cl     *kgo.Client
	topic  string
	source string
	record *kgo.Record // the record being handled, set by the source

	mu  sync.Mutex
	err error // first failed write
}

func (d *deadLetterTopic) WriteDeadLetter(l *onerror.Letter) error {
	if err := d.takeErr(); err != nil {
		return err
	}
	r := &kgo.Record{Topic: d.topic, Value: append([]byte(nil), l.Record...)}
	if src := d.record; src != nil {
		r.Key = append([]byte(nil), src.Key...)
		r.Timestamp = src.Timestamp
		r.Headers = make([]kgo.RecordHeader, 0, len(src.Headers)+5)
		for _, h := range src.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: append([]byte(nil), h.Value...)})
		}
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: HeaderErrorTopic, Value: []byte(src.Topic)},
			kgo.RecordHeader{Key: HeaderErrorPartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
			kgo.RecordHeader{Key: HeaderErrorOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
		)
	}
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: HeaderErrorReason, Value: []byte(l.Reason)},
		kgo.RecordHeader{Key: HeaderErrorSource, Value: []byte(l.Source)},
	)
	position := l.Position
	// Background: the write must survive the task's cancellation until
	// flush or Close gives up on it.
	d.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err != nil {
			d.mu.Lock()
			if d.err == nil {
				d.err = fmt.Errorf("writing the dead letter of %s to topic %s: %w", position, d.topic, err)
			}
			d.mu.Unlock()
		}
	})
	return nil
}

func (d *deadLetterTopic) takeErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// flush waits until every dead letter written so far is acknowledged.
func (d *deadLetterTopic) flush(ctx context.Context) error {
	if err := d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing dead letters to topic %s: %w", d.topic, err)
	}
	return d.takeErr()
}

// Close flushes, waiting at most 10 seconds. The client belongs to the source.
func (d *deadLetterTopic) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.flush(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("dead letters to topic %s not acknowledged within 10s: %w", d.topic, err)
	}
	return err
}
