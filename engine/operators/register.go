package operators

import (
	"github.com/freshet/freshet/engine/registry"
)

// Register adds every built-in operator to r.
func Register(r *registry.Registry) {
	r.AddOperator("identity", "passes every record through unchanged", buildIdentity)
	r.AddOperator("uppercase", "upper-cases the record value (Unicode)", buildUppercase)
	r.AddOperator("tokenize", "splits the value into words, one record each (options: lowercase, min-length)", buildTokenize)
	r.AddOperator("json-extract", "emits the value at a JSON path, or projects several fields into a new object", buildJSONExtract)
	r.AddOperator("filter", "keeps records whose JSON field (or value) compares true with a constant", buildFilter)
	r.AddOperator("count", "keyed: counts records per key (emit: every | final)", buildAggregate(AggCount))
	r.AddOperator("sum", "keyed: sums a number field per key", buildAggregate(AggSum))
	r.AddOperator("min", "keyed: smallest value of a number field per key", buildAggregate(AggMin))
	r.AddOperator("max", "keyed: largest value of a number field per key", buildAggregate(AggMax))
	r.AddOperator("avg", "keyed: mean of a number field per key", buildAggregate(AggAvg))
	registerJoin(r)
}
