package jobspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/freshet/freshet/engine/params"
	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest job file Parse accepts.
const MaxFileSize = 4 << 20

const (
	maxDepth  = 64      // nesting of mappings and lists
	maxValues = 100_000 // YAML values after alias expansion
)

// Load reads and parses the job file at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading job file: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a job file; filename is used in error
// messages. The error, if any, is an ErrorList of every problem found.
func Parse(filename string, data []byte) (*Spec, error) {
	root, err := parseYAML(filename, data)
	if err != nil {
		return nil, err
	}
	return decode(filename, root, nil)
}

// parseYAML parses data as one YAML document and returns its root node.
func parseYAML(file string, data []byte) (root *yaml.Node, err error) {
	fail := func(line int, format string, args ...any) (*yaml.Node, error) {
		return nil, ErrorList{&params.Error{Pos: params.Pos{File: file, Line: line, Col: min(line, 1)}, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxFileSize {
		return fail(0, "the job file is %d bytes; the limit is %d", len(data), MaxFileSize)
	}
	defer func() {
		// yaml.v3 has panicked on some malformed inputs in the past; a job
		// file is user input, so turn that into an error, never a crash.
		if r := recover(); r != nil {
			root, err = nil, ErrorList{&SyntaxError{File: file, Msg: fmt.Sprintf("the YAML parser failed: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "the job file is empty")
		}
		return nil, ErrorList{syntaxError(file, data, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, ErrorList{syntaxError(file, data, err)}
	default:
		return fail(extra.Line, "a job file holds one YAML document, but another starts here")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return fail(0, "the job file is empty")
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 error into a SyntaxError naming file and line.
func syntaxError(file string, data []byte, err error) *SyntaxError {
	msg := err.Error()
	e := &SyntaxError{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	} else {
		e.Line = locate(data, msg)
	}
	if e.Line > 0 {
		if col := tabInIndent(data, e.Line); col > 0 {
			e.Col = col
			e.Msg = "tab character in indentation (YAML indents with spaces only)"
		}
	}
	return e
}

// locate finds the line of a YAML error that yaml.v3 reported without one:
// the first line at which a prefix of the file fails with the same message.
func locate(data []byte, msg string) int {
	if len(data) > 32<<10 {
		return 0
	}
	end, line := 0, 0
	for end < len(data) && line < 1000 {
		nl := bytes.IndexByte(data[end:], '\n')
		if nl < 0 {
			end = len(data)
		} else {
			end += nl + 1
		}
		line++
		var n yaml.Node
		if err := yaml.Unmarshal(data[:end], &n); err != nil && err.Error() == msg {
			return line
		}
	}
	return 0
}

// tabInIndent returns the column of a tab in the leading whitespace of line
// (1-based), or 0.
func tabInIndent(data []byte, line int) int {
	for i := 1; i < line; i++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return 0
		}
		data = data[nl+1:]
	}
	for i, c := range data {
		switch c {
		case ' ', '-':
		case '\t':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// decoder turns a YAML tree into a Spec, collecting every problem.
type decoder struct {
	file   string
	origin map[*yaml.Node]string // nodes from overrides, with the override that made them
	budget int
	c      collector
	// sections are the positions of the top-level fields written.
	sections map[string]params.Pos
	// broken is set when a node or an input could not be decoded, so that
	// graph checks that would only echo that mistake are skipped.
	broken     bool
	badSection map[string]bool
}

func decode(file string, root *yaml.Node, origin map[*yaml.Node]string) (*Spec, error) {
	d := &decoder{file: file, origin: origin, budget: maxValues, sections: map[string]params.Pos{}, badSection: map[string]bool{}}
	s := d.spec(root)
	d.validate(s)
	if err := d.c.err(); err != nil {
		return nil, err
	}
	s.root, s.origin = root, origin
	for _, n := range s.Nodes() {
		n.Params = n.NewParams()
	}
	return s, nil
}

func (d *decoder) pos(n *yaml.Node) params.Pos {
	if o, ok := d.origin[n]; ok {
		return params.Pos{File: o}
	}
	return params.Pos{File: d.file, Line: n.Line, Col: n.Column}
}

// where describes a position for "first set at ..." messages.
func (d *decoder) where(n *yaml.Node) string {
	if o, ok := d.origin[n]; ok {
		return o
	}
	return fmt.Sprintf("line %d", n.Line)
}

// spend counts one YAML value against the expansion budget.
func (d *decoder) spend(n *yaml.Node) bool {
	d.budget--
	if d.budget == 0 {
		d.c.add(d.pos(n), "", "the document has more than %d values once aliases are expanded", maxValues)
	}
	return d.budget > 0
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type entry struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the entries of mapping node n (already resolved), reporting
// duplicate keys and applying YAML merge keys (<<).
func (d *decoder) mapping(n *yaml.Node, path string, depth int) []entry {
	var out, merged []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kr := resolve(k)
		if kr.Kind == yaml.ScalarNode && kr.Tag == "!!merge" {
			merged = append(merged, d.merge(v, path, depth+1)...)
			continue
		}
		if kr.Kind != yaml.ScalarNode || kr.Tag == "!!null" {
			d.c.add(d.pos(k), path, "a field name must be a plain string, got %s", describe(kr))
			continue
		}
		if first, dup := seen[kr.Value]; dup {
			d.c.add(d.pos(k), join(path, kr.Value), "duplicate field (first set at %s)", d.where(first))
			continue
		}
		seen[kr.Value] = k
		out = append(out, entry{kr.Value, k, v})
	}
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.k
			out = append(out, e)
		}
	}
	return out
}

// merge returns the entries a merge key brings in: those of a mapping, or of
// a list of mappings where earlier ones win.
func (d *decoder) merge(v *yaml.Node, path string, depth int) []entry {
	if depth > maxDepth || !d.spend(v) {
		return nil
	}
	r := resolve(v)
	switch r.Kind {
	case yaml.MappingNode:
		return d.mapping(r, path, depth)
	case yaml.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, item := range r.Content {
			ir := resolve(item)
			if ir.Kind != yaml.MappingNode {
				d.c.add(d.pos(item), path, "<< merges mappings, got %s", describe(ir))
				continue
			}
			for _, e := range d.mapping(ir, path, depth+1) {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	d.c.add(d.pos(v), path, "<< merges a mapping or a list of mappings, got %s", describe(r))
	return nil
}

// describe names a YAML value for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "an alias"
}

// value converts any YAML value into a params.Value.
func (d *decoder) value(n *yaml.Node, path string, depth int) params.Value {
	pos := d.pos(n)
	if depth > maxDepth {
		d.c.add(pos, path, "nested more than %d levels deep", maxDepth)
		return params.Value{Pos: pos}
	}
	if !d.spend(n) {
		return params.Value{Pos: pos}
	}
	r := resolve(n)
	switch r.Kind {
	case yaml.SequenceNode:
		list := make([]params.Value, 0, len(r.Content))
		for i, c := range r.Content {
			list = append(list, d.value(c, fmt.Sprintf("%s[%d]", path, i), depth+1))
		}
		return params.Value{V: list, Pos: pos}
	case yaml.MappingNode:
		m := map[string]params.Value{}
		for _, e := range d.mapping(r, path, depth) {
			m[e.key] = d.value(e.v, join(path, e.key), depth+1)
		}
		return params.Value{V: m, Pos: pos}
	}
	v, err := scalar(r)
	if err != nil {
		d.c.add(pos, path, "%v", err)
	}
	return params.Value{V: v, Pos: pos}
}

// scalar converts a scalar by its resolved YAML tag.
func scalar(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("invalid boolean %q", n.Value)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("integer %s does not fit in 64 bits", n.Value)
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("invalid number %q", n.Value)
		}
		return f, nil
	}
	return nil, fmt.Errorf("unsupported YAML tag %s (write the value without a tag)", n.Tag)
}

// str decodes a structural string field.
func (d *decoder) str(e entry, path string) (string, bool) {
	r := resolve(e.v)
	if r.Kind != yaml.ScalarNode || r.Tag != "!!str" {
		d.c.add(d.pos(e.v), path, "expected a string, got %s", describe(r))
		return "", false
	}
	return r.Value, true
}

// integer decodes a structural integer field within [lo, hi].
func (d *decoder) integer(e entry, path string, lo, hi int) (int, bool) {
	r := resolve(e.v)
	var i int64
	if r.Kind != yaml.ScalarNode || r.Tag != "!!int" || r.Decode(&i) != nil {
		d.c.add(d.pos(e.v), path, "expected an integer, got %s", describe(r))
		return 0, false
	}
	if i < int64(lo) || i > int64(hi) {
		d.c.add(d.pos(e.v), path, "%d is out of range [%d, %d]", i, lo, hi)
		return 0, false
	}
	return int(i), true
}

// enum decodes a structural string field that must be one of allowed.
func (d *decoder) enum(e entry, path string, allowed []string) (string, bool) {
	s, ok := d.str(e, path)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	d.c.add(d.pos(e.v), path, "%q is not one of %s%s", s, strings.Join(allowed, ", "), suggest(s, allowed))
	return "", false
}
