// Command upper is the operator project of the CLI's build and test tests:
// a map that upper-cases ASCII letters and fails on empty values.
package main

import (
	"bytes"
	"errors"

	freshet "github.com/freshet/freshet/sdk-go"
)

func init() {
	freshet.Map("upper", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		if len(r.Value) == 0 {
			return nil, errors.New("empty value")
		}
		return bytes.ToUpper(r.Value), nil
	})
}

func main() {}
