package kafka

import (
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string {
	return tp.Topic + "/" + strconv.FormatInt(int64(tp.Partition), 10)
}

// Where a source starts reading a partition it has no checkpointed offset
// for (`start-from`).
const (
	StartEarliest  = "earliest"  // the log start (the default)
	StartLatest    = "latest"    // the end: only records written after Open
	StartTimestamp = "timestamp" // the first record at or after StartTimestamp
	StartCommitted = "committed" // the offset group-id committed, else CommittedFallback
	StartOffsets   = "offsets"   // StartOffsets; unlisted partitions start at the earliest
)

var startModes = []string{StartEarliest, StartLatest, StartTimestamp, StartCommitted, StartOffsets}

// Isolation levels (`isolation`).
const (
	ReadCommitted   = "read_committed" // skip aborted and open transactions (the default)
	ReadUncommitted = "read_uncommitted"
)

// Where a record's event time comes from (`timestamp`).
const (
	TimestampRecord = "record" // the Kafka record's timestamp (the default)
	TimestampHeader = "header" // the header named TimestampHeader
	TimestampField  = "field"  // the JSON field TimestampField of the value
	TimestampNone   = "none"   // no event time and no watermarks
)

var timestampModes = []string{TimestampRecord, TimestampHeader, TimestampField, TimestampNone}

// Source defaults.
const (
	defaultDiscoveryInterval = 30 * time.Second
	defaultFetchMaxBytes     = 16 << 20
)

// SourceConfig configures a Kafka source. The zero value of every optional
// field means its default.
type SourceConfig struct {
	ClientConfig

	// Topics to read (`topic` or `topics`), or TopicPattern, a regular
	// expression matched against whole topic names (`topic-pattern`);
	// exactly one of the two.
	Topics       []string
	TopicPattern string

	// GroupID (`group-id`) is the consumer group whose committed offsets
	// StartCommitted reads, and to which the source commits the offsets of
	// every completed checkpoint, for monitoring. The source never joins the
	// group: partitions are assigned by Owner.
	GroupID string

	// StartFrom is one of the Start* constants (`start-from`).
	StartFrom string
	// StartTimestamp is where StartTimestamp starts (`start-timestamp`:
	// RFC 3339 or ms since the epoch).
	StartTimestamp time.Time
	// StartOffsets are the offsets of StartOffsets (`start-offsets`,
	// {topic: {partition: offset}}).
	StartOffsets map[TopicPartition]int64
	// CommittedFallback is where StartCommitted starts a partition the
	// group has no offset for: StartEarliest (default) or StartLatest.
	CommittedFallback string

	// Bounded makes the source end (api.EndOfInput) once every partition
	// reached its stop offset: StopOffsets[tp] if given, else the offset
	// that was the latest when the subtask opened (`bounded: true`, or
	// `stop-offsets`, which implies it). Stop offsets are checkpointed, so a
	// restored bounded source stops where the original would have.
	Bounded     bool
	StopOffsets map[TopicPartition]int64

	// Isolation is ReadCommitted (default) or ReadUncommitted.
	Isolation string

	// Format and KeyFormat name the built-in formats of values and keys
	// (`format`, `key-format`; default FormatBytes). NewDeserializer and
	// NewKeyDeserializer, when set, override them: one instance is made per
	// subtask.
	Format, KeyFormat  string
	NewDeserializer    func() (Deserializer, error)
	NewKeyDeserializer func() (Deserializer, error)

	// DropHeaders leaves Kafka headers off the records (`headers: false`).
	DropHeaders bool

	// Timestamp is one of the Timestamp* constants (`timestamp`);
	// TimestampHeaderName or TimestampFieldPath say which header or JSON
	// field (`timestamp-header`, `timestamp-field`), read in
	// TimestampFormat (`timestamp-format`: ms (default), s, us, ns, rfc3339).
	// Left empty, Timestamp is header or field when one of those is set,
	// else record.
	Timestamp           string
	TimestampHeaderName string
	TimestampFieldPath  string
	TimestampFormat     string

	// MaxOutOfOrderness is how far a record's timestamp may lag behind the
	// largest one seen in its partition (`max-out-of-orderness`, default
	// 0). Each partition's watermark is its largest timestamp minus this
	// minus 1 ms; the source's watermark is the minimum over its partitions.
	MaxOutOfOrderness time.Duration
	// IdleTimeout, when positive, leaves a partition out of the watermark
	// after that long without a record (`idle-timeout`, default off); when
	// every partition is idle the source marks itself idle.
	IdleTimeout time.Duration

	// DiscoveryInterval is how often an unbounded source looks for new
	// partitions and topics (`partition-discovery-interval`, default 30s;
	// negative disables). Partitions found later start at the earliest offset.
	DiscoveryInterval time.Duration

	// FetchMaxBytes bounds one fetch response (`fetch-max-bytes`, default 16MiB).
	FetchMaxBytes int32

	// OnError is the policy for records that cannot be deserialized or
	// have no usable timestamp. DeadLetterTopic, with Action
	// onerror.DeadLetter, sends them to that topic (`dead-letter-topic`)
	// with the reason in headers, instead of a dead-letter file.
	OnError         onerror.Policy
	DeadLetterTopic string
}

// Owner is the subtask, among parallelism, that reads a partition. It is a
// pure function of the topic, the partition and the parallelism, so every
// subtask agrees without talking to the others, and a partition that
// appears later never moves the existing ones: the partitions of a topic are
// dealt round robin over the subtasks, starting at a subtask picked by a
// hash of the topic's name (so several single-partition topics spread out).
func Owner(topic string, partition int32, parallelism int) int {
	if parallelism <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	start := int(h.Sum32() % uint32(parallelism))
	return (start + int(partition)%parallelism) % parallelism
}

// sourceSpec is a validated SourceConfig with everything compiled.
type sourceSpec struct {
	SourceConfig
	pattern  *regexp.Regexp
	newKey   func() (Deserializer, error)
	newValue func() (Deserializer, error)
	assigner eventtime.TimestampAssigner // nil for record and none
	newGen   func() eventtime.Generator
}

func (c *SourceConfig) defaults() {
	c.ClientConfig.defaults()
	if c.StartFrom == "" {
		c.StartFrom = StartEarliest
	}
	if c.CommittedFallback == "" {
		c.CommittedFallback = StartEarliest
	}
	if c.Isolation == "" {
		c.Isolation = ReadCommitted
	}
	if c.Format == "" {
		c.Format = FormatBytes
	}
	if c.KeyFormat == "" {
		c.KeyFormat = FormatBytes
	}
	if c.Timestamp == "" {
		switch {
		case c.TimestampFieldPath != "" && c.TimestampHeaderName == "":
			c.Timestamp = TimestampField
		case c.TimestampHeaderName != "" && c.TimestampFieldPath == "":
			c.Timestamp = TimestampHeader
		default:
			c.Timestamp = TimestampRecord
		}
	}
	if c.TimestampFormat == "" {
		c.TimestampFormat = "ms"
	}
	if c.DiscoveryInterval == 0 {
		c.DiscoveryInterval = defaultDiscoveryInterval
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = defaultFetchMaxBytes
	}
	if len(c.StopOffsets) > 0 {
		c.Bounded = true
	}
}

// compile validates c (after defaults) and compiles it, reporting every
// problem through bad(field, ...), with the job file's field names.
func (c SourceConfig) compile(bad func(field, format string, args ...any)) *sourceSpec {
	s := &sourceSpec{SourceConfig: c}
	c.ClientConfig.validate(bad)
	switch {
	case len(c.Topics) == 0 && c.TopicPattern == "":
		bad("topic", "give the topics to read (topic, topics) or a topic-pattern")
	case len(c.Topics) > 0 && c.TopicPattern != "":
		bad("topic-pattern", "give either topics or a topic-pattern, not both")
	case c.TopicPattern != "":
		re, err := regexp.Compile("^(?:" + c.TopicPattern + ")$")
		if err != nil {
			bad("topic-pattern", "%v", err)
		}
		s.pattern = re
	}
	for _, t := range c.Topics {
		if err := checkName(t); err != nil {
			bad("topic", "%v", err)
		}
	}
	oneOf := func(field, v string, allowed []string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	oneOf("start-from", c.StartFrom, startModes)
	oneOf("committed-fallback", c.CommittedFallback, []string{StartEarliest, StartLatest})
	oneOf("isolation", c.Isolation, []string{ReadCommitted, ReadUncommitted})
	oneOf("timestamp", c.Timestamp, timestampModes)
	switch {
	case c.StartFrom == StartTimestamp && c.StartTimestamp.IsZero():
		bad("start-timestamp", "start-from is timestamp but start-timestamp is not set")
	case c.StartFrom != StartTimestamp && !c.StartTimestamp.IsZero():
		bad("start-timestamp", "is set but start-from is %s, not timestamp", c.StartFrom)
	}
	switch {
	case c.StartFrom == StartOffsets && len(c.StartOffsets) == 0:
		bad("start-offsets", "start-from is offsets but start-offsets is empty")
	case c.StartFrom != StartOffsets && len(c.StartOffsets) > 0:
		bad("start-offsets", "is set but start-from is %s, not offsets", c.StartFrom)
	}
	if c.StartFrom == StartCommitted && c.GroupID == "" {
		bad("group-id", "start-from is committed but group-id is not set")
	}
	for tp, o := range c.StartOffsets {
		if o < 0 {
			bad("start-offsets", "%s: offset %d is negative", tp, o)
		}
	}
	for tp, o := range c.StopOffsets {
		if o < 0 {
			bad("stop-offsets", "%s: offset %d is negative", tp, o)
		}
	}
	s.newValue = c.NewDeserializer
	if s.newValue == nil {
		d, err := NewDeserializer(c.Format)
		if err != nil {
			bad("format", "%v", err)
		}
		s.newValue = func() (Deserializer, error) { return d, nil }
	}
	s.newKey = c.NewKeyDeserializer
	if s.newKey == nil {
		d, err := NewDeserializer(c.KeyFormat)
		if err != nil {
			bad("key-format", "%v", err)
		}
		s.newKey = func() (Deserializer, error) { return d, nil }
	}
	tf, err := eventtime.ParseFormat(c.TimestampFormat)
	if err != nil {
		bad("timestamp-format", "%v", err)
	}
	switch c.Timestamp {
	case TimestampHeader:
		if c.TimestampHeaderName == "" {
			bad("timestamp-header", "timestamp is header but timestamp-header is not set")
		}
		s.assigner = eventtime.HeaderTimestamp(c.TimestampHeaderName, tf)
	case TimestampField:
		path, err := jsonpath.Parse(c.TimestampFieldPath)
		if err != nil {
			bad("timestamp-field", "timestamp is field: %v", err)
		}
		s.assigner = eventtime.FieldTimestamp(path, tf)
	}
	switch {
	case c.TimestampHeaderName != "" && c.TimestampFieldPath != "":
		bad("timestamp-header", "set timestamp-field or timestamp-header, not both")
	case c.Timestamp != TimestampHeader && c.TimestampHeaderName != "":
		bad("timestamp-header", "is set but timestamp is %s, not header", c.Timestamp)
	case c.Timestamp != TimestampField && c.TimestampFieldPath != "":
		bad("timestamp-field", "is set but timestamp is %s, not field", c.Timestamp)
	}
	if c.MaxOutOfOrderness < 0 {
		bad("max-out-of-orderness", "must not be negative")
	}
	if c.IdleTimeout < 0 {
		bad("idle-timeout", "must not be negative")
	}
	if c.FetchMaxBytes < 1 {
		bad("fetch-max-bytes", "must be positive")
	}
	if c.DeadLetterTopic != "" {
		if c.OnError.Action != onerror.DeadLetter {
			bad("dead-letter-topic", "is set but on-error is %s, not dead-letter", c.OnError.String())
		}
		if err := checkName(c.DeadLetterTopic); err != nil {
			bad("dead-letter-topic", "%v", err)
		}
	}
	s.newGen = eventtime.BoundedOutOfOrderness(c.MaxOutOfOrderness)
	return s
}

// checkName checks a topic name the way Kafka does.
func checkName(t string) error {
	if t == "" || t == "." || t == ".." || len(t) > 249 {
		return fmt.Errorf("topic name %q is not valid", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q has %q: only ASCII letters, digits, '.', '_' and '-' are allowed", t, r)
		}
	}
	return nil
}

// NewSource validates cfg and returns a constructor of source subtasks.
func NewSource(cfg SourceConfig) (func() (api.Source, error), error) {
	cfg.defaults()
	var errs []error
	spec := cfg.compile(func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafka source: %s: %s", field, fmt.Sprintf(format, args...)))
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return func() (api.Source, error) { return &Source{spec: spec}, nil }, nil
}

// BuildSource reads a job file's kafka source (see the package doc).
func BuildSource(p *params.Params, opts ...Option) (func() (api.Source, error), error) {
	o := collect(opts)
	var c SourceConfig
	c.ClientConfig.read(p)
	c.Topics = append(p.StringList("topic"), p.StringList("topics")...)
	c.TopicPattern = p.String("topic-pattern", "")
	c.GroupID = p.String("group-id", "")
	c.StartFrom = p.Enum("start-from", StartEarliest, startModes...)
	if p.Has("start-timestamp") {
		c.StartTimestamp = readTime(p, "start-timestamp")
	}
	c.StartOffsets = readOffsets(p, "start-offsets")
	c.CommittedFallback = p.Enum("committed-fallback", StartEarliest, StartEarliest, StartLatest)
	c.Bounded = p.Bool("bounded", false)
	c.StopOffsets = readOffsets(p, "stop-offsets")
	if len(c.StopOffsets) > 0 && p.Has("bounded") && !c.Bounded {
		p.Errorf("bounded", "is false but stop-offsets are given")
	}
	c.Isolation = p.Enum("isolation", ReadCommitted, ReadCommitted, ReadUncommitted)
	c.Format = FormatBytes
	c.KeyFormat = FormatBytes
	c.NewDeserializer = readDeserializer(p, o, "format")
	c.NewKeyDeserializer = readDeserializer(p, o, "key-format")
	c.DropHeaders = !p.Bool("headers", true)
	c.Timestamp = p.Enum("timestamp", "", timestampModes...) // "": from timestamp-field or timestamp-header
	c.TimestampHeaderName = p.String("timestamp-header", "")
	c.TimestampFieldPath = p.String("timestamp-field", "")
	c.TimestampFormat = p.String("timestamp-format", "ms")
	c.MaxOutOfOrderness = p.Duration("max-out-of-orderness", 0)
	c.IdleTimeout = p.Duration("idle-timeout", 0)
	c.DiscoveryInterval = p.Duration("partition-discovery-interval", defaultDiscoveryInterval)
	if p.Has("partition-discovery-interval") && c.DiscoveryInterval == 0 {
		c.DiscoveryInterval = -1 // 0 in a job file means off
	}
	fmb := p.Size("fetch-max-bytes", defaultFetchMaxBytes)
	if fmb < 1 || fmb > 1<<30 {
		p.Errorf("fetch-max-bytes", "must be between 1 byte and 1GiB")
		fmb = defaultFetchMaxBytes
	}
	c.FetchMaxBytes = int32(fmb)
	c.DeadLetterTopic = p.String("dead-letter-topic", "")
	var polOpts []onerror.Option
	if c.DeadLetterTopic != "" {
		// The source writes to the topic itself (Open); the opener only
		// tells the policy that no dead-letter-path is needed.
		polOpts = append(polOpts, onerror.DeadLetterTo(func(api.Context) (onerror.DeadLetterWriter, error) {
			return nil, errors.New("the dead-letter topic is opened by the kafka source")
		}))
	}
	// With a dead-letter-topic, a dead-letter-path (perhaps the job's,
	// inherited) is ignored.
	c.OnError = onerror.FromParams(p, "", polOpts...)
	c.defaults()
	spec := c.compile(p.Errorf)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return func() (api.Source, error) { return &Source{spec: spec}, nil }, nil
}

// readTime reads an RFC 3339 time or a number of ms since the epoch.
func readTime(p *params.Params, name string) time.Time {
	v, _ := p.Raw(name)
	switch x := v.V.(type) {
	case int64:
		return time.UnixMilli(x)
	case string:
		if ms, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t
		}
	case time.Time:
		return x
	}
	p.Errorf(name, "expected an RFC 3339 time such as 2024-05-01T12:00:00Z or ms since the epoch, got %v", v.V)
	return time.Time{}
}

// readOffsets reads {topic: {partition: offset}}.
func readOffsets(p *params.Params, name string) map[TopicPartition]int64 {
	if !p.Has(name) {
		return nil
	}
	topics := p.Sub(name)
	out := map[TopicPartition]int64{}
	for _, t := range topics.Keys() {
		parts := topics.Sub(t)
		for _, k := range parts.Keys() {
			n, err := strconv.ParseInt(k, 10, 32)
			if err != nil || n < 0 {
				parts.Errorf(k, "%q is not a partition number", k)
				parts.Raw(k)
				continue
			}
			off := parts.Int(k, -1)
			if off < 0 {
				parts.Errorf(k, "offset must be a non-negative integer")
				continue
			}
			out[TopicPartition{t, int32(n)}] = off
		}
	}
	return out
}

// sortTPs sorts topic-partitions by topic, then partition.
func sortTPs(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}
