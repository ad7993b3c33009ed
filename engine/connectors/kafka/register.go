package kafka

import (
	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds the kafka source and the kafka sink to r. Options add
// custom formats (WithDeserializer, WithSerializer).
func Register(r *registry.Registry, opts ...Option) {
	r.AddSource("kafka", "Kafka topics by name or pattern, exactly-once through checkpointed offsets (bounded or unbounded)",
		func(p *params.Params) (func() (api.Source, error), error) { return BuildSource(p, opts...) })
	r.AddSink("kafka", "a Kafka topic: none, at-least-once or exactly-once (one transaction per checkpoint)",
		func(p *params.Params) (registry.Operator, error) { return BuildSink(p, opts...) })
}

// What the runtime finds by type assertion.
var (
	_ api.Source               = (*Source)(nil)
	_ api.Waker                = (*Source)(nil)
	_ api.CheckpointedFunction = (*Source)(nil)
	_ api.CheckpointListener   = (*Source)(nil)
	_ api.Operator             = (*Sink)(nil)
	_ api.CheckpointedFunction = (*Sink)(nil)
	_ api.CheckpointListener   = (*Sink)(nil)
	_ onerror.DeadLetterWriter = (*deadLetterTopic)(nil)
)
