package kafka

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
)

// Deserializer turns the bytes of a Kafka record key or value into the bytes
// of a Freshet record. One Deserializer serves one source subtask, from its
// task goroutine only, so an implementation may keep scratch state (the
// WebAssembly host implements it with one module instance per subtask).
type Deserializer interface {
	// Deserialize returns the decoded form of raw: raw itself, or dst[:0]
	// with the decoded bytes appended. The result is used before the next
	// call. A record that cannot be decoded is an error wrapping
	// onerror.ErrMalformed; the source applies its on-error policy to it.
	Deserialize(dst, raw []byte) ([]byte, error)
}

// Serializer turns the bytes of a Freshet record key or value into the
// bytes written to Kafka. Like Deserializer, one serves one sink subtask.
type Serializer interface {
	// Serialize appends the encoded form of v to dst and returns it. An
	// error fails the sink subtask, naming the record.
	Serialize(dst, v []byte) ([]byte, error)
}

// Built-in formats, the values of the `format` and `key-format` fields.
// Empty bytes (a record without key, a tombstone without value) pass
// through unchanged in every format.
const (
	// FormatBytes passes bytes through as they are (the default).
	FormatBytes = "bytes"
	// FormatString requires valid UTF-8.
	FormatString = "string"
	// FormatJSON requires one valid JSON value.
	FormatJSON = "json"
	// FormatInt32 is a 4-byte big-endian signed integer in Kafka, decimal
	// text in Freshet (Kafka's IntegerSerializer).
	FormatInt32 = "int32"
	// FormatInt64 is an 8-byte big-endian signed integer in Kafka, decimal
	// text in Freshet (Kafka's LongSerializer).
	FormatInt64 = "int64"
)

var builtinFormats = []string{FormatBytes, FormatString, FormatJSON, FormatInt32, FormatInt64}

// codec implements both directions of a built-in format.
type codec string

// NewDeserializer returns the built-in deserializer of format f.
func NewDeserializer(f string) (Deserializer, error) {
	if !isBuiltin(f) {
		return nil, fmt.Errorf("format %q is not one of %v", f, builtinFormats)
	}
	return codec(f), nil
}

// NewSerializer returns the built-in serializer of format f.
func NewSerializer(f string) (Serializer, error) {
	if !isBuiltin(f) {
		return nil, fmt.Errorf("format %q is not one of %v", f, builtinFormats)
	}
	return codec(f), nil
}

func isBuiltin(f string) bool {
	for _, b := range builtinFormats {
		if f == b {
			return true
		}
	}
	return false
}

// Malformed-record errors are built once: the per-record path allocates
// nothing, even for bad records.
var (
	errNotUTF8 = fmt.Errorf("%w: not valid UTF-8", onerror.ErrMalformed)
	errNotJSON = fmt.Errorf("%w: not valid JSON", onerror.ErrMalformed)
	errInt32   = fmt.Errorf("%w: an int32 is 4 bytes", onerror.ErrMalformed)
	errInt64   = fmt.Errorf("%w: an int64 is 8 bytes", onerror.ErrMalformed)
)

func (c codec) Deserialize(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	switch c {
	case FormatString:
		if !utf8.Valid(raw) {
			return nil, errNotUTF8
		}
	case FormatJSON:
		if !json.Valid(raw) {
			return nil, errNotJSON
		}
	case FormatInt32:
		if len(raw) != 4 {
			return nil, errInt32
		}
		return strconv.AppendInt(dst[:0], int64(int32(binary.BigEndian.Uint32(raw))), 10), nil
	case FormatInt64:
		if len(raw) != 8 {
			return nil, errInt64
		}
		return strconv.AppendInt(dst[:0], int64(binary.BigEndian.Uint64(raw)), 10), nil
	}
	return raw, nil
}

func (c codec) Serialize(dst, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return dst, nil
	}
	switch c {
	case FormatString:
		if !utf8.Valid(v) {
			return dst, errNotUTF8
		}
	case FormatJSON:
		if !json.Valid(v) {
			return dst, errNotJSON
		}
	case FormatInt32, FormatInt64:
		bits := 32
		if c == FormatInt64 {
			bits = 64
		}
		// The string is not retained: strconv copies it into its error.
		n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(v), len(v)), 10, bits)
		if err != nil {
			return dst, fmt.Errorf("%w: %s needs a decimal integer: %v", onerror.ErrMalformed, c, err)
		}
		if bits == 32 {
			return binary.BigEndian.AppendUint32(dst, uint32(int32(n))), nil
		}
		return binary.BigEndian.AppendUint64(dst, uint64(n)), nil
	}
	return append(dst, v...), nil
}

// Option extends the connector when it is registered or built: custom
// formats, for example a deserializer implemented by a WebAssembly module.
type Option func(*options)

type options struct {
	deserializers map[string]DeserializerFactory
	serializers   map[string]SerializerFactory
}

// DeserializerFactory validates the source's params (a custom format reads
// its own fields from them, e.g. the module to load) and returns a
// constructor called once per subtask. A Deserializer that also implements
// io.Closer is closed when its subtask closes.
type DeserializerFactory func(p *params.Params) (func() (Deserializer, error), error)

// SerializerFactory is DeserializerFactory for sinks.
type SerializerFactory func(p *params.Params) (func() (Serializer, error), error)

// WithDeserializer makes format name usable in a source's `format` and
// `key-format` fields.
func WithDeserializer(name string, f DeserializerFactory) Option {
	return func(o *options) {
		if o.deserializers == nil {
			o.deserializers = map[string]DeserializerFactory{}
		}
		o.deserializers[name] = f
	}
}

// WithSerializer makes format name usable in a sink's `format` and
// `key-format` fields.
func WithSerializer(name string, f SerializerFactory) Option {
	return func(o *options) {
		if o.serializers == nil {
			o.serializers = map[string]SerializerFactory{}
		}
		o.serializers[name] = f
	}
}

func collect(opts []Option) options {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// formatNames lists the built-in formats and the custom ones, for messages.
func formatNames[F any](custom map[string]F) []string {
	names := append([]string(nil), builtinFormats...)
	for n := range custom {
		names = append(names, n)
	}
	return names
}

// readDeserializer reads format field name of a source.
func readDeserializer(p *params.Params, o options, name string) func() (Deserializer, error) {
	f := p.String(name, FormatBytes)
	if isBuiltin(f) {
		d := codec(f)
		return func() (Deserializer, error) { return d, nil }
	}
	if fac, ok := o.deserializers[f]; ok {
		newD, err := fac(p)
		if err != nil {
			p.Errorf(name, "format %s: %v", f, err)
			return nil
		}
		return newD
	}
	p.Errorf(name, "%q is not one of %v", f, formatNames(o.deserializers))
	return nil
}

// readSerializer reads format field name of a sink.
func readSerializer(p *params.Params, o options, name string) func() (Serializer, error) {
	f := p.String(name, FormatBytes)
	if isBuiltin(f) {
		c := codec(f)
		return func() (Serializer, error) { return c, nil }
	}
	if fac, ok := o.serializers[f]; ok {
		newS, err := fac(p)
		if err != nil {
			p.Errorf(name, "format %s: %v", f, err)
			return nil
		}
		return newS
	}
	p.Errorf(name, "%q is not one of %v", f, formatNames(o.serializers))
	return nil
}
