// Command json-extract is the reference "extract" map (plugins/README.md):
// it replaces a record's value with one field of its JSON value.
package main

import (
	"encoding/json"
	"errors"
	"strings"

	freshet "github.com/freshet/freshet/sdk-go"
)

var (
	path    []string
	dotted  string
	scratch []byte
)

func init() {
	freshet.Map("extract", extract, freshet.OnOpen(func(config []byte) error {
		var cfg struct {
			Field string `json:"field"`
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return err
		}
		if cfg.Field == "" {
			return errors.New(`configuration needs "field", a dotted path such as user.id`)
		}
		dotted, path = cfg.Field, strings.Split(cfg.Field, ".")
		return nil
	}))
}

func extract(c *freshet.Context, r *freshet.Record) ([]byte, error) {
	raw, err := freshet.JSONField(r.Value, path...)
	switch {
	case errors.Is(err, freshet.ErrJSONNotFound):
		return nil, errors.New("field not found: " + dotted)
	case err != nil:
		return nil, errors.New("invalid json")
	case raw[0] == '"':
		scratch, err = freshet.JSONUnquote(scratch[:0], raw)
		if err != nil {
			return nil, errors.New("invalid json")
		}
		return scratch, nil
	}
	return raw, nil
}

func main() {}
