package kafka

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Delivery guarantees of the sink (`delivery-guarantee`).
const (
	// DeliveryNone writes asynchronously and never waits: records still
	// buffered when a task fails are lost, and a restored job writes again
	// what followed its checkpoint.
	DeliveryNone = "none"
	// DeliveryAtLeastOnce waits, when a checkpoint's barrier arrives, until
	// everything written before it is acknowledged (the default). A restored
	// job writes again what followed its checkpoint: duplicates, no loss.
	DeliveryAtLeastOnce = "at-least-once"
	// DeliveryExactlyOnce writes each checkpoint's records in one Kafka
	// transaction, committed when the checkpoint completes: read_committed
	// consumers see every record once.
	DeliveryExactlyOnce = "exactly-once"
)

var deliveries = []string{DeliveryNone, DeliveryAtLeastOnce, DeliveryExactlyOnce}

// Compression codecs (`compression`).
var compressions = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// Sink defaults and limits.
const (
	defaultTxnTimeout      = 15 * time.Minute // the broker's default transaction.max.timeout.ms
	defaultPoolSize        = 5
	maxPoolSize            = 1000
	defaultDeliveryTimeout = 2 * time.Minute
	defaultRetryBackoff    = 100 * time.Millisecond
	defaultMaxBuffered     = 10_000
)

// SinkConfig configures a Kafka sink. The zero value of every optional field
// means its default.
type SinkConfig struct {
	ClientConfig

	// Topic receives every record (`topic`).
	Topic string

	// Delivery is one of the Delivery* constants (`delivery-guarantee`,
	// default at-least-once).
	Delivery string

	// TransactionalIDPrefix (`transactional-id-prefix`, required for
	// exactly-once) names the sink's transactional ids:
	// <prefix>-<subtask>-<n>, n < TransactionPoolSize. It must be unique
	// per sink across every job writing to the cluster: a sink fences (and
	// aborts the transactions of) every producer using its ids.
	TransactionalIDPrefix string
	// TransactionTimeout is how long the broker keeps a transaction open
	// before aborting it (`transaction-timeout`, default 15m, at most the
	// broker's transaction.max.timeout.ms). A job must recover within it,
	// or the transactions of its last checkpoint are lost.
	TransactionTimeout time.Duration
	// TransactionPoolSize is the number of transactional ids per subtask
	// (`transaction-pool-size`, default 5): one for the open transaction
	// and one for each checkpoint whose completion has not been notified.
	TransactionPoolSize int

	// Partitioner is one of the Partition* constants (`partitioner`).
	Partitioner string

	// Format and KeyFormat name the built-in formats (`format`,
	// `key-format`, default FormatBytes); NewSerializer and
	// NewKeySerializer override them.
	Format, KeyFormat string
	NewSerializer     func() (Serializer, error)
	NewKeySerializer  func() (Serializer, error)

	// DropHeaders writes records without their headers (`headers: false`).
	DropHeaders bool

	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string
	// Linger is how long a partly filled batch waits for more records
	// (`linger`, default 0: batches fill while the previous one is in flight).
	Linger time.Duration
	// DeliveryTimeout bounds how long a record is retried before the sink
	// fails (`delivery-timeout`, default 2m), counted from when the sink got
	// it, and bounds each flush; RetryBackoff is the first
	// wait between retries, doubling up to 2s (`retry-backoff`, default 100ms).
	DeliveryTimeout time.Duration
	RetryBackoff    time.Duration
	// MaxBufferedRecords bounds the records waiting to be acknowledged;
	// beyond it ProcessBatch waits (back pressure). Default 10000: a
	// checkpoint waits for these to be acknowledged, so more buffering
	// means longer checkpoint pauses.
	MaxBufferedRecords int
}

type sinkSpec struct {
	SinkConfig
	newKey, newValue func() (Serializer, error)
}

func (c *SinkConfig) defaults() {
	c.ClientConfig.defaults()
	if c.Delivery == "" {
		c.Delivery = DeliveryAtLeastOnce
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = defaultTxnTimeout
	}
	if c.TransactionPoolSize == 0 {
		c.TransactionPoolSize = defaultPoolSize
	}
	if c.Partitioner == "" {
		c.Partitioner = PartitionKeyHash
	}
	if c.Format == "" {
		c.Format = FormatBytes
	}
	if c.KeyFormat == "" {
		c.KeyFormat = FormatBytes
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = defaultDeliveryTimeout
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = defaultRetryBackoff
	}
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = defaultMaxBuffered
	}
}

func (c SinkConfig) compile(bad func(field, format string, args ...any)) *sinkSpec {
	s := &sinkSpec{SinkConfig: c}
	c.ClientConfig.validate(bad)
	if c.Topic == "" {
		bad("topic", "required field is missing")
	} else if err := checkName(c.Topic); err != nil {
		bad("topic", "%v", err)
	}
	if !contains(deliveries, c.Delivery) {
		bad("delivery-guarantee", "%q is not one of %s", c.Delivery, strings.Join(deliveries, ", "))
	}
	exactly := c.Delivery == DeliveryExactlyOnce
	switch {
	case exactly && strings.TrimSpace(c.TransactionalIDPrefix) == "":
		bad("transactional-id-prefix", "delivery-guarantee is exactly-once but transactional-id-prefix is not set")
	case !exactly && c.TransactionalIDPrefix != "":
		bad("transactional-id-prefix", "is set but delivery-guarantee is %s, not exactly-once", c.Delivery)
	case strings.ContainsAny(c.TransactionalIDPrefix, " \t\r\n"):
		bad("transactional-id-prefix", "%q must not contain white space", c.TransactionalIDPrefix)
	}
	if c.TransactionTimeout < time.Second || c.TransactionTimeout > 24*time.Hour {
		bad("transaction-timeout", "%s is not between 1s and 24h", c.TransactionTimeout)
	}
	if c.TransactionPoolSize < 2 || c.TransactionPoolSize > maxPoolSize {
		bad("transaction-pool-size", "%d is not between 2 and %d", c.TransactionPoolSize, maxPoolSize)
	}
	if !contains(partitioners, c.Partitioner) {
		bad("partitioner", "%q is not one of %s", c.Partitioner, strings.Join(partitioners, ", "))
	}
	if _, ok := compressions[c.Compression]; !ok {
		bad("compression", "%q is not one of none, gzip, snappy, lz4, zstd", c.Compression)
	}
	if c.Linger < 0 {
		bad("linger", "must not be negative")
	}
	if c.DeliveryTimeout < 0 {
		bad("delivery-timeout", "must not be negative")
	}
	if c.RetryBackoff < 0 {
		bad("retry-backoff", "must not be negative")
	}
	if c.MaxBufferedRecords < 1 {
		bad("max-buffered-records", "must be positive")
	}
	s.newValue = c.NewSerializer
	if s.newValue == nil {
		v, err := NewSerializer(c.Format)
		if err != nil {
			bad("format", "%v", err)
		}
		s.newValue = func() (Serializer, error) { return v, nil }
	}
	s.newKey = c.NewKeySerializer
	if s.newKey == nil {
		k, err := NewSerializer(c.KeyFormat)
		if err != nil {
			bad("key-format", "%v", err)
		}
		s.newKey = func() (Serializer, error) { return k, nil }
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// NewSink validates cfg and returns a constructor of sink subtasks.
func NewSink(cfg SinkConfig) (func() (api.Operator, error), error) {
	cfg.defaults()
	var errs []error
	spec := cfg.compile(func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafka sink: %s: %s", field, fmt.Sprintf(format, args...)))
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return func() (api.Operator, error) { return &Sink{spec: spec}, nil }, nil
}

// BuildSink reads a job file's kafka sink (see the package doc).
func BuildSink(p *params.Params, opts ...Option) (registry.Operator, error) {
	o := collect(opts)
	var c SinkConfig
	c.ClientConfig.read(p)
	c.Topic = p.String("topic", "")
	if !p.Has("topic") {
		p.Required("topic")
		c.Topic = "-" // reported as missing already
	}
	c.Delivery = p.Enum("delivery-guarantee", DeliveryAtLeastOnce, deliveries...)
	c.TransactionalIDPrefix = p.String("transactional-id-prefix", "")
	c.TransactionTimeout = p.Duration("transaction-timeout", defaultTxnTimeout)
	c.TransactionPoolSize = int(p.IntRange("transaction-pool-size", defaultPoolSize, 2, maxPoolSize))
	c.Partitioner = p.Enum("partitioner", PartitionKeyHash, partitioners...)
	c.Format = FormatBytes
	c.KeyFormat = FormatBytes
	c.NewSerializer = readSerializer(p, o, "format")
	c.NewKeySerializer = readSerializer(p, o, "key-format")
	c.DropHeaders = !p.Bool("headers", true)
	c.Compression = p.Enum("compression", "none", "none", "gzip", "snappy", "lz4", "zstd")
	c.Linger = p.Duration("linger", 0)
	c.DeliveryTimeout = p.Duration("delivery-timeout", defaultDeliveryTimeout)
	c.RetryBackoff = p.Duration("retry-backoff", defaultRetryBackoff)
	c.MaxBufferedRecords = int(p.IntRange("max-buffered-records", defaultMaxBuffered, 1, 1<<30))
	c.defaults()
	spec := c.compile(p.Errorf)
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) { return &Sink{spec: spec}, nil }}, nil
}
