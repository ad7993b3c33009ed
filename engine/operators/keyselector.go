package operators

import (
	"errors"
	"fmt"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
)

// KeySelector returns the function behind a key-by: it appends the key of r
// to dst and returns it. The runtime sets r.Key from it before partitioning
// by key group.
//
//   - value: the whole record value;
//   - key: the record key as it is;
//   - {field: path}: the JSON value at path, a string as its text (unquoted,
//     unescaped) and any other value as its JSON text, so {"id": 7} and
//     {"id": "7"} share key 7.
//
// A record without the field gets an error wrapping ErrFieldNotFound (and so
// onerror.ErrMalformed), for the node's on-error policy. The function
// allocates nothing.
func KeySelector(k *jobspec.KeyBy) (func(r *api.Record, dst []byte) ([]byte, error), error) {
	if k == nil {
		return nil, errors.New("key selector: no key-by given")
	}
	switch k.Kind {
	case jobspec.KeyByValue:
		return func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, r.Value...), nil }, nil
	case jobspec.KeyByKey:
		return func(r *api.Record, dst []byte) ([]byte, error) { return append(dst, r.Key...), nil }, nil
	case jobspec.KeyByField:
		path, err := jsonpath.Parse(k.Field)
		if err != nil {
			return nil, fmt.Errorf("key selector: %w", err)
		}
		missing := fmt.Errorf("key-by field %s: %w", path, ErrFieldNotFound)
		badEscape := fmt.Errorf("key-by field %s: %w: malformed string escape", path, onerror.ErrMalformed)
		return func(r *api.Record, dst []byte) ([]byte, error) {
			v, kind := path.Get(r.Value)
			if kind == jsonpath.Missing {
				return dst, missing
			}
			out, err := jsonpath.AppendText(dst, v, kind)
			if err != nil {
				return dst, badEscape
			}
			return out, nil
		}, nil
	}
	return nil, fmt.Errorf("key selector: unknown key-by kind %d", k.Kind)
}
