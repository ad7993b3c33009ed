package kafka

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// fileParams are the params of a node at job.yaml:2:3 whose fields are on
// lines 3, 4, ... in sorted field order.
func fileParams(path string, fields map[string]any) *params.Params {
	vals := map[string]params.Value{}
	line := 3
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := params.FromMap("", map[string]any{"x": fields[k]})
		raw, _ := v.Raw("x")
		vals[k] = params.Value{V: raw.V, Pos: params.Pos{File: "job.yaml", Line: line, Col: 5}}
		line++
	}
	return params.New(path, params.Pos{File: "job.yaml", Line: 2, Col: 3}, vals)
}

func TestBuildSourceReportsMistakes(t *testing.T) {
	base := map[string]any{"bootstrap-servers": "127.0.0.1:9092", "topic": "orders"}
	with := func(kv ...any) map[string]any {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name   string
		fields map[string]any
		want   []string // fragments of the error
	}{
		{"no servers", with("bootstrap-servers", nil), []string{"job.yaml:2:3: sources[0].bootstrap-servers: required field is missing"}},
		{"bad server", with("bootstrap-servers", "localhost"), []string{`job.yaml:3:5: sources[0].bootstrap-servers: "localhost" is not host:port`}},
		{"no topic", with("topic", nil), []string{"sources[0].topic: give the topics to read"}},
		{"topic and pattern", with("topic-pattern", "o.*"), []string{"job.yaml:5:5: sources[0].topic-pattern: give either topics or a topic-pattern"}},
		{"bad pattern", with("topic", nil, "topic-pattern", "(["), []string{"sources[0].topic-pattern: error parsing regexp"}},
		{"bad topic name", with("topic", "a b"), []string{`sources[0].topic: topic name "a b" has ' '`}},
		{"timestamp start without time", with("start-from", "timestamp"), []string{"sources[0].start-timestamp: start-from is timestamp but start-timestamp is not set"}},
		{"bad start time", with("start-from", "timestamp", "start-timestamp", "yesterday"), []string{"job.yaml:5:5: sources[0].start-timestamp: expected an RFC 3339 time"}},
		{"committed without group", with("start-from", "committed"), []string{"sources[0].group-id: start-from is committed but group-id is not set"}},
		{"unknown start", with("start-from", "middle"), []string{`job.yaml:4:5: sources[0].start-from: "middle" is not one of earliest, latest`}},
		{"bad partition key", with("start-from", "offsets", "start-offsets", map[string]any{"orders": map[string]any{"x": 3}}),
			[]string{`sources[0].start-offsets.orders.x: "x" is not a partition number`}},
		{"stop offsets but unbounded", with("bounded", false, "stop-offsets", map[string]any{"orders": map[string]any{"0": 3}}),
			[]string{"sources[0].bounded: is false but stop-offsets are given"}},
		{"unknown format", with("format", "avro"), []string{`job.yaml:4:5: sources[0].format: "avro" is not one of [bytes string json int32 int64]`}},
		{"header without name", with("timestamp", "header"), []string{"sources[0].timestamp-header: timestamp is header but timestamp-header is not set"}},
		{"field and header", with("timestamp-field", "ts", "timestamp-header", "ts"), []string{"sources[0].timestamp-header: set timestamp-field or timestamp-header, not both"}},
		{"bad field path", with("timestamp", "field", "timestamp-field", "a..b"), []string{"sources[0].timestamp-field: timestamp is field: invalid field path"}},
		{"bad timestamp format", with("timestamp-format", "days"), []string{`sources[0].timestamp-format: timestamp format "days" is not one of`}},
		{"dead-letter topic without policy", with("dead-letter-topic", "dead"), []string{"sources[0].dead-letter-topic: is set but on-error is fail, not dead-letter"}},
		{"dead letter needs a destination", with("on-error", "dead-letter"), []string{"sources[0].dead-letter-path: on-error is dead-letter but dead-letter-path is not set"}},
		{"misspelled field", with("idle-timout", "5s"), []string{`job.yaml:4:5: sources[0].idle-timout: unknown field (did you mean "idle-timeout"?)`}},
		{"negative duration", with("max-out-of-orderness", "-5s"), []string{"sources[0].max-out-of-orderness: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildSource(fileParams("sources[0]", tt.fields))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestBuildSourceReadsEveryField(t *testing.T) {
	p := params.FromMap("sources[0]", map[string]any{
		"bootstrap-servers":            []string{"a:1", "b:2,c:3"},
		"client-id":                    "me",
		"connect-timeout":              "3s",
		"topics":                       []string{"x", "y"},
		"group-id":                     "g",
		"start-from":                   "offsets",
		"start-offsets":                map[string]any{"x": map[string]any{"0": 5, "2": 7}},
		"stop-offsets":                 map[string]any{"y": map[string]any{"1": 9}},
		"isolation":                    "read_uncommitted",
		"format":                       "json",
		"key-format":                   "string",
		"headers":                      false,
		"timestamp-field":              "meta.ts", // implies timestamp: field
		"timestamp-format":             "s",
		"max-out-of-orderness":         "2s",
		"idle-timeout":                 "1m",
		"partition-discovery-interval": "0",
		"fetch-max-bytes":              "1MiB",
		"on-error":                     "dead-letter",
		"dead-letter-topic":            "dead",
	})
	newSrc, err := BuildSource(p)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSrc()
	c := s.(*Source).spec.SourceConfig
	if got := strings.Join(c.BootstrapServers, ","); got != "a:1,b:2,c:3" || c.ClientID != "me" || c.ConnectTimeout != 3*time.Second {
		t.Errorf("client %+v", c.ClientConfig)
	}
	if !slices.Equal(c.Topics, []string{"x", "y"}) || c.GroupID != "g" || c.StartFrom != StartOffsets ||
		c.StartOffsets[TopicPartition{"x", 2}] != 7 || len(c.StartOffsets) != 2 || !c.Bounded || c.StopOffsets[TopicPartition{"y", 1}] != 9 {
		t.Errorf("topics and offsets %+v", c)
	}
	if c.Isolation != ReadUncommitted || !c.DropHeaders || c.Timestamp != TimestampField || c.TimestampFieldPath != "meta.ts" ||
		c.MaxOutOfOrderness != 2*time.Second || c.IdleTimeout != time.Minute || c.DiscoveryInterval >= 0 || c.FetchMaxBytes != 1<<20 {
		t.Errorf("reading %+v", c)
	}
	if c.OnError.Action != onerror.DeadLetter || c.DeadLetterTopic != "dead" {
		t.Errorf("on-error %v to %q", c.OnError, c.DeadLetterTopic)
	}
}

func TestBuildSinkReportsMistakes(t *testing.T) {
	tests := []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"bootstrap-servers": "h:1"}, "job.yaml:2:3: sinks[0].topic: required field is missing"},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "delivery-guarantee": "exactly-once"},
			"sinks[0].transactional-id-prefix: delivery-guarantee is exactly-once but transactional-id-prefix is not set"},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "transactional-id-prefix": "p"},
			"job.yaml:5:5: sinks[0].transactional-id-prefix: is set but delivery-guarantee is at-least-once, not exactly-once"},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "delivery-guarantee": "twice"},
			`job.yaml:4:5: sinks[0].delivery-guarantee: "twice" is not one of none, at-least-once, exactly-once`},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "partitioner": "random"},
			`sinks[0].partitioner: "random" is not one of key-hash, round-robin, fixed`},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "transaction-pool-size": 1},
			"sinks[0].transaction-pool-size: 1 is out of range [2, 1000]"},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "compression": "brotli"},
			`sinks[0].compression: "brotli" is not one of none, gzip, snappy, lz4, zstd`},
		{map[string]any{"bootstrap-servers": "h:1", "topic": "t", "linger": "soon"},
			"sinks[0].linger: expected a duration"},
	}
	for _, tt := range tests {
		_, err := BuildSink(fileParams("sinks[0]", tt.fields))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("fields %v: error\n%v\nwant it to contain\n%s", tt.fields, err, tt.want)
		}
	}
}

func TestGoBuildersValidate(t *testing.T) {
	_, err := NewSource(SourceConfig{Topics: []string{"t"}, StartFrom: StartCommitted})
	if err == nil || !strings.Contains(err.Error(), "kafka source: bootstrap-servers: required field is missing") ||
		!strings.Contains(err.Error(), "kafka source: group-id: start-from is committed") {
		t.Errorf("NewSource: %v", err)
	}
	_, err = NewSink(SinkConfig{ClientConfig: ClientConfig{BootstrapServers: []string{"h:1"}}, Topic: "t", Delivery: DeliveryExactlyOnce})
	if err == nil || !strings.Contains(err.Error(), "kafka sink: transactional-id-prefix") {
		t.Errorf("NewSink: %v", err)
	}
}

// A custom format (what the WebAssembly host registers) reads its own
// fields and makes one instance per subtask.
func TestCustomFormat(t *testing.T) {
	made := 0
	opt := WithDeserializer("upper", func(p *params.Params) (func() (Deserializer, error), error) {
		suffix := p.String("upper-suffix", "")
		return func() (Deserializer, error) { made++; return upper(suffix), nil }, nil
	})
	r := registry.New()
	Register(r, opt)
	newSrc, err := r.Source("kafka", params.FromMap("sources[0]", map[string]any{
		"bootstrap-servers": "h:1", "topic": "t", "format": "upper", "upper-suffix": "!"}))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSrc()
	d, err := s.(*Source).spec.newValue()
	if err != nil || made != 1 {
		t.Fatalf("constructor: %v, made %d", err, made)
	}
	if got, _ := d.Deserialize(nil, []byte("ab")); string(got) != "AB!" {
		t.Fatalf("got %q", got)
	}
	if _, err := r.Source("kafka", params.FromMap("sources[0]", map[string]any{"bootstrap-servers": "h:1", "topic": "t", "format": "lower"})); err == nil ||
		!strings.Contains(err.Error(), "upper") {
		t.Fatalf("unknown format error %v does not list the custom one", err)
	}
	if doc := r.Doc("sink")["kafka"]; doc == "" {
		t.Fatal("sink not registered")
	}
}

type upper string

func (u upper) Deserialize(dst, raw []byte) ([]byte, error) {
	dst = dst[:0]
	for _, c := range raw {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return append(dst, u...), nil
}
