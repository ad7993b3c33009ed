package freshet_test

import (
	"bytes"
	"fmt"

	freshet "github.com/freshet/freshet/sdk-go"
)

// A map that upper-cases values. Register functions in init; main stays
// empty. Build with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
func ExampleMap() {
	freshet.Map("example-upper", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		return bytes.ToUpper(r.Value), nil
	})
}

// A keyed process function that counts records per key and emits every
// tenth count.
func ExampleProcess() {
	count := freshet.NewValueState("count")
	freshet.Process("example-count", freshet.ProcessFuncs{
		ProcessElementFn: func(c *freshet.Context, r *freshet.Record) error {
			n, _, err := count.GetInt64()
			if err != nil {
				return err
			}
			n++
			if n%10 == 0 {
				c.Emit(r.Key, fmt.Appendf(nil, "%d", n))
			}
			return count.PutInt64(n)
		},
	})
}

func ExampleJSONField() {
	doc := []byte(`{"user": {"name": "Ad\u00e8le", "age": 37}}`)
	age, _ := freshet.JSONField(doc, "user", "age")
	raw, _ := freshet.JSONField(doc, "user", "name")
	name, _ := freshet.JSONUnquote(nil, raw)
	fmt.Printf("%s %s\n", name, age)
	// Output: Adèle 37
}
