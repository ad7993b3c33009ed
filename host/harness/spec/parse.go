package spec

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
)

// Load reads and parses the spec file at path.
func Load(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading test spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading test spec %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses a spec; file names it in messages. The error joins every
// mistake found (at most maxErrors), each a *SyntaxError.
func Parse(file string, data []byte) (s *Spec, err error) {
	budget := max(minNodes, nodesPerByte*len(data))
	p := &parser{file: file, budget: budget, maxBudget: budget}
	if len(data) > MaxFileSize {
		p.failAt(0, 0, "the spec is %d bytes or more; the limit is %d", len(data), MaxFileSize)
		return nil, p.err()
	}
	defer func() {
		// A spec is user input: a parser panic is a malformed spec, not a crash.
		if r := recover(); r != nil {
			s, err = nil, &SyntaxError{File: file, Msg: fmt.Sprintf("the YAML parser failed: %v", r)}
		}
	}()
	root := p.document(data)
	if root != nil {
		s = p.spec(root)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// The values visited while parsing, counting an alias each time it is
// followed, are bounded by the file's size, so that aliases cannot make a
// small file expand into a huge spec.
const (
	maxErrors    = 20
	minNodes     = 1 << 16
	nodesPerByte = 8
)

type parser struct {
	file              string
	errs              []error
	budget, maxBudget int
}

func (p *parser) err() error {
	slices.SortStableFunc(p.errs, func(a, b error) int {
		x, y := a.(*SyntaxError), b.(*SyntaxError)
		if x.Line != y.Line {
			return x.Line - y.Line
		}
		return x.Col - y.Col
	})
	if len(p.errs) > maxErrors {
		more := len(p.errs) - maxErrors
		p.errs = append(p.errs[:maxErrors], &SyntaxError{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", more)})
	}
	return errors.Join(p.errs...)
}

func (p *parser) failAt(line, col int, format string, args ...any) {
	p.errs = append(p.errs, &SyntaxError{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	p.failAt(n.Line, n.Column, format, args...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data as one YAML document and returns its root.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.failAt(0, 0, "the spec is empty")
			return nil
		}
		p.yamlError(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.yamlError(data, err)
		return nil
	default:
		p.failAt(extra.Line, 0, "a spec holds one YAML document, but another starts here")
		return nil
	}
	if len(doc.Content) == 0 {
		p.failAt(0, 0, "the spec is empty")
		return nil
	}
	return doc.Content[0]
}

func (p *parser) yamlError(data []byte, err error) {
	msg := err.Error()
	if strings.Contains(msg, "tab") {
		for i, line := range bytes.Split(data, []byte("\n")) {
			indent := line[:len(line)-len(bytes.TrimLeft(line, " \t-"))]
			if col := bytes.IndexByte(indent, '\t'); col >= 0 {
				p.failAt(i+1, col+1, "tab character in indentation (YAML indents with spaces only)")
				return
			}
		}
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.failAt(line, 0, "%s", m[2])
		return
	}
	p.failAt(0, 0, "%s", strings.TrimPrefix(msg, "yaml: "))
}

// node follows aliases and charges the node budget.
func (p *parser) node(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	p.budget--
	if p.budget == 0 {
		p.fail(n, "aliases expand the spec too much (more than %d values)", p.maxBudget)
	}
	return n
}

func (p *parser) exhausted() bool { return p.budget <= 0 }

type field struct{ key, val *yaml.Node }

// fields reads a mapping whose keys must be among allowed, in order.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) ([]string, map[string]field, bool) {
	n = p.node(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s: expected a mapping, got %s", what, describe(n))
		return nil, nil, false
	}
	var order []string
	m := map[string]field{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.node(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, "%s: keys must be plain names", what)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			if hint := didYouMean(k.Value, allowed); hint != "" {
				p.fail(k, "%s: unknown field %q (did you mean %q?)", what, k.Value, hint)
			} else {
				p.fail(k, "%s: unknown field %q (fields: %s)", what, k.Value, strings.Join(allowed, ", "))
			}
			continue
		}
		if prev, dup := m[k.Value]; dup {
			p.fail(k, "%s: field %q is given twice (first at line %d)", what, k.Value, prev.key.Line)
			continue
		}
		m[k.Value] = field{k, v}
		order = append(order, k.Value)
	}
	return order, m, true
}

func didYouMean(got string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(got, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func (p *parser) seq(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	n = p.node(n)
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "%s: expected a list, got %s", what, describe(n))
		return nil, false
	}
	return n.Content, true
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	n = p.node(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.fail(n, "%s: expected a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	n = p.node(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	p.fail(n, "%s: expected true or false, got %s", what, describe(n))
	return false, false
}

// integer reads an int64; names maps words (none, max) to values.
func (p *parser) integer(n *yaml.Node, what string, names map[string]int64) (int64, bool) {
	n = p.node(n)
	if n.Kind == yaml.ScalarNode {
		if v, ok := names[n.Value]; ok && n.ShortTag() == "!!str" {
			return v, true
		}
		if n.ShortTag() == "!!int" {
			if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
				return v, true
			}
		}
	}
	words := ""
	if len(names) > 0 {
		var ws []string
		for w := range names {
			ws = append(ws, w)
		}
		slices.Sort(ws)
		words = " or " + strings.Join(ws, ", ")
	}
	p.fail(n, "%s: expected an integer%s, got %s", what, words, describe(n))
	return 0, false
}

var (
	timestampWords = map[string]int64{"none": api.NoTimestamp}
	watermarkWords = map[string]int64{"max": api.MaxWatermark}
)

// byteEncodings are the ways to write bytes other than as text.
var byteEncodings = []string{"utf8", "hex", "base64", "i64le", "i64be", "json"}

// bytesOf reads bytes: a scalar's text as written, null for none, or a
// mapping with exactly one encoding.
func (p *parser) bytesOf(n *yaml.Node, what string) (bytesValue, bool) {
	n = p.node(n)
	switch {
	case isNull(n):
		return bytesValue{}, true
	case n.Kind == yaml.ScalarNode:
		return bytesValue{b: []byte(n.Value)}, true
	case n.Kind != yaml.MappingNode:
		p.fail(n, "%s: expected text, null or a mapping with one of %s; got %s", what, strings.Join(byteEncodings, ", "), describe(n))
		return bytesValue{}, false
	}
	before := len(p.errs)
	order, fs, ok := p.fields(n, what, byteEncodings...)
	if !ok || len(order) != 1 {
		if ok && len(p.errs) == before {
			p.fail(n, "%s: give exactly one of %s", what, strings.Join(byteEncodings, ", "))
		}
		return bytesValue{}, false
	}
	enc := order[0]
	v := fs[enc].val
	where := what + "." + enc
	switch enc {
	case "json":
		b, err := p.appendJSON(nil, v)
		if err != nil {
			p.fail(v, "%s: %v", where, err)
			return bytesValue{}, false
		}
		return bytesValue{b: b, enc: enc}, true
	case "i64le", "i64be":
		x, ok := p.integer(v, where, nil)
		if !ok {
			return bytesValue{}, false
		}
		b := make([]byte, 8)
		if enc == "i64le" {
			binary.LittleEndian.PutUint64(b, uint64(x))
		} else {
			binary.BigEndian.PutUint64(b, uint64(x))
		}
		return bytesValue{b: b, enc: enc}, true
	}
	s, ok := p.str(v, where)
	if !ok {
		return bytesValue{}, false
	}
	var b []byte
	var err error
	switch enc {
	case "utf8":
		b = []byte(s)
	case "hex":
		b, err = hex.DecodeString(strings.Join(strings.Fields(strings.TrimPrefix(s, "0x")), ""))
	case "base64":
		b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	}
	if err != nil {
		p.fail(v, "%s: %v", where, err)
		return bytesValue{}, false
	}
	if b == nil {
		b = []byte{}
	}
	return bytesValue{b: b, enc: enc}, true
}

// maxDepth bounds the nesting of values written as JSON (an alias inside
// the value it names would nest forever).
const maxDepth = 100

// appendJSON encodes a YAML value as compact JSON, keeping mapping order.
func (p *parser) appendJSON(dst []byte, n *yaml.Node) ([]byte, error) {
	return p.appendJSONAt(dst, n, 0)
}

func (p *parser) appendJSONAt(dst []byte, n *yaml.Node, depth int) ([]byte, error) {
	n = p.node(n)
	switch {
	case p.exhausted():
		return dst, errors.New("too many values")
	case depth > maxDepth:
		return dst, fmt.Errorf("nested more than %d levels deep (an alias inside the value it names?)", maxDepth)
	}
	switch n.Kind {
	case yaml.MappingNode:
		dst = append(dst, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := p.node(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return dst, fmt.Errorf("line %d: JSON object keys must be scalars", k.Line)
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			kb, _ := json.Marshal(k.Value)
			dst = append(append(dst, kb...), ':')
			var err error
			if dst, err = p.appendJSONAt(dst, n.Content[i+1], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, e := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = p.appendJSONAt(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!null":
			return append(dst, "null"...), nil
		case "!!bool", "!!int", "!!float":
			if err := n.Decode(&v); err != nil {
				return dst, fmt.Errorf("line %d: %v", n.Line, err)
			}
		default:
			v = n.Value
		}
		b, err := json.Marshal(v)
		if err != nil {
			return dst, fmt.Errorf("line %d: %q cannot be written as JSON: %v", n.Line, n.Value, err)
		}
		return append(dst, b...), nil
	}
	return dst, fmt.Errorf("line %d: unsupported YAML value", n.Line)
}

// caseDefaults are the fields a case inherits from the top level.
type caseDefaults struct {
	function string
	kind     abi.OperatorKind
	config   []byte
	onError  host.ErrorPolicy
}

var (
	topFields  = []string{"description", "function", "kind", "config", "on-error", "cases"}
	caseFields = []string{"name", "description", "function", "kind", "config", "on-error", "open-error", "steps"}
	stepFields = []string{"description",
		"record", "records", "watermark", "processing-time", "finish", "merge",
		"output", "any-order", "side-outputs", "state", "counters", "timers", "error", "error-kind"}
	actionFields = []string{"record", "records", "watermark", "processing-time", "finish", "merge"}
)

func (p *parser) spec(root *yaml.Node) *Spec {
	s := &Spec{File: p.file}
	_, fs, ok := p.fields(root, "spec", topFields...)
	if !ok {
		return s
	}
	if f, ok := fs["description"]; ok {
		s.Description, _ = p.str(f.val, "description")
	}
	var d caseDefaults
	p.functionFields(fs, "", &d)
	f, ok := fs["cases"]
	if !ok {
		p.fail(root, "spec: field \"cases\" is required (a list of test cases)")
		return s
	}
	items, ok := p.seq(f.val, "cases")
	if !ok {
		return s
	}
	if len(items) == 0 {
		p.fail(f.key, "cases: the list is empty")
	}
	seen := map[string]int{}
	for i, it := range items {
		if p.exhausted() {
			break
		}
		c := p.testCase(p.node(it), fmt.Sprintf("cases[%d]", i), d)
		if c == nil {
			continue
		}
		if line, dup := seen[c.Name]; dup {
			p.failAt(c.Line, it.Column, "cases[%d]: the name %q is used by the case at line %d already", i, c.Name, line)
		}
		seen[c.Name] = c.Line
		s.Cases = append(s.Cases, c)
	}
	return s
}

// functionFields reads function, kind, config and on-error into d.
// A case that names another function than the top level does not inherit
// the top level's kind.
func (p *parser) functionFields(fs map[string]field, path string, d *caseDefaults) {
	if f, ok := fs["function"]; ok {
		name, _ := p.str(f.val, path+"function")
		if name != d.function {
			d.kind = 0
		}
		d.function = name
	}
	if f, ok := fs["kind"]; ok {
		if name, ok := p.str(f.val, path+"kind"); ok {
			k, known := abi.ParseOperatorKind(name)
			switch {
			case !known:
				var names []string
				for _, k := range abi.AllOperatorKinds {
					if k != abi.KindProcessWindow {
						names = append(names, k.String())
					}
				}
				p.fail(f.val, "%skind: %q is not one of %s", path, name, strings.Join(names, ", "))
			case k == abi.KindProcessWindow:
				p.fail(f.val, "%skind: process-window functions cannot be tested with a spec yet", path)
			default:
				d.kind = k
			}
		}
	}
	if f, ok := fs["config"]; ok {
		d.config = p.config(f.val, path+"config")
	}
	if f, ok := fs["on-error"]; ok {
		if name, ok := p.str(f.val, path+"on-error"); ok {
			pol, err := host.ParseErrorPolicy(name)
			if err != nil {
				p.fail(f.val, "%son-error: %v", path, err)
			}
			d.onError = pol
		}
	}
}

// config reads a function's configuration: a mapping (written as JSON) or
// a string holding a JSON object.
func (p *parser) config(n *yaml.Node, what string) []byte {
	n = p.node(n)
	switch {
	case isNull(n):
		return nil
	case n.Kind == yaml.MappingNode:
		b, err := p.appendJSON(nil, n)
		if err != nil {
			p.fail(n, "%s: %v", what, err)
		}
		return b
	case n.Kind == yaml.ScalarNode:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(n.Value), &obj); err != nil || obj == nil {
			p.fail(n, "%s: expected a mapping or a JSON object, got %s", what, describe(n))
			return nil
		}
		return []byte(n.Value)
	}
	p.fail(n, "%s: expected a mapping or a JSON object, got %s", what, describe(n))
	return nil
}

func (p *parser) testCase(n *yaml.Node, path string, d caseDefaults) *Case {
	if n.Kind == yaml.MappingNode {
		// Name the case in every message about it, even those found before
		// its name is read.
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && !isNull(v) {
				path = fmt.Sprintf("case %q", v.Value)
			}
		}
	}
	_, fs, ok := p.fields(n, path, caseFields...)
	if !ok {
		return nil
	}
	c := &Case{Line: n.Line}
	if f, ok := fs["name"]; ok {
		c.Name, _ = p.str(f.val, path+": name")
	} else {
		p.fail(n, "%s: field \"name\" is required", path)
	}
	p.functionFields(fs, path+": ", &d)
	c.Function, c.Kind, c.Config, c.OnError = d.function, d.kind, d.config, d.onError
	if f, ok := fs["open-error"]; ok {
		c.openError = p.errorExpect(f.val, nil, path+": open-error")
		if _, has := fs["steps"]; has {
			p.fail(f.key, "%s: a case with open-error has no steps (the function never opens)", path)
		}
		return c
	}
	f, ok := fs["steps"]
	if !ok {
		p.fail(n, "%s: field \"steps\" is required (or open-error)", path)
		return c
	}
	items, ok := p.seq(f.val, path+": steps")
	if !ok {
		return c
	}
	if len(items) == 0 {
		p.fail(f.key, "%s: steps: the list is empty", path)
	}
	for i, it := range items {
		if p.exhausted() {
			break
		}
		st, ok := p.step(p.node(it), fmt.Sprintf("%s: step %d", path, i+1), c.Kind)
		if ok {
			c.steps = append(c.steps, st)
		}
	}
	return c
}

func (p *parser) step(n *yaml.Node, path string, kind abi.OperatorKind) (step, bool) {
	st := step{line: n.Line}
	order, fs, ok := p.fields(n, path, stepFields...)
	if !ok {
		return st, false
	}
	var actions []string
	for _, name := range order {
		if slices.Contains(actionFields, name) {
			actions = append(actions, name)
		}
	}
	if len(actions) > 1 {
		p.fail(fs[actions[1]].key, "%s: a step does one thing, this one has %s and %s (split it into two steps)", path, actions[0], actions[1])
		return st, false
	}
	if len(actions) == 1 {
		name := actions[0]
		f := fs[name]
		where := path + ": " + name
		st.actName = name
		switch name {
		case "record":
			st.action = actRecords
			if r, ok := p.inputRecord(f.val, where); ok {
				st.records = []api.Record{r}
			}
		case "records":
			st.action = actRecords
			items, ok := p.seq(f.val, where)
			for i, it := range items {
				if r, ok := p.inputRecord(it, fmt.Sprintf("%s[%d]", where, i)); ok {
					st.records = append(st.records, r)
				}
			}
			if ok && len(items) == 0 {
				p.fail(f.val, "%s: the list is empty", where)
			}
		case "watermark":
			st.action = actWatermark
			st.time, _ = p.integer(f.val, where, watermarkWords)
			st.actName = "watermark " + timeString(st.time)
		case "processing-time":
			st.action = actProcessingTime
			st.time, _ = p.integer(f.val, where, nil)
			st.actName = "processing-time " + strconv.FormatInt(st.time, 10)
		case "finish":
			st.action = actFinish
			if b, ok := p.boolean(f.val, where); ok && !b {
				p.fail(f.val, "%s: only true makes sense (leave the field out)", where)
			}
		case "merge":
			st.action = actMerge
			if kind != 0 && kind != abi.KindAggregate {
				p.fail(f.key, "%s: only aggregate functions merge, this case tests a %s function", where, kind)
			}
			if _, mf, ok := p.fields(f.val, where, "from", "into"); ok {
				for _, k := range []string{"from", "into"} {
					v, has := mf[k]
					if !has {
						p.fail(f.val, "%s: field %q is required", where, k)
						continue
					}
					b, _ := p.bytesOf(v.val, where+"."+k)
					if k == "from" {
						st.mergeSrc = b.b
					} else {
						st.mergeDst = b.b
					}
				}
			}
		}
	}
	checks := 0
	if f, ok := fs["output"]; ok {
		checks++
		recs := p.expectedRecords(f.val, path+": output")
		st.output = &recs
	}
	if f, ok := fs["side-outputs"]; ok {
		checks++
		where := path + ": side-outputs"
		if order, sf, ok := p.fields(f.val, where, p.keysOf(f.val)...); ok {
			for _, tag := range order {
				st.sides = append(st.sides, sideExpect{tag: tag,
					recs: p.expectedRecords(sf[tag].val, where+"."+tag)})
			}
		}
	}
	if f, ok := fs["any-order"]; ok {
		st.anyOrder, _ = p.boolean(f.val, path+": any-order")
		if st.output == nil && st.sides == nil {
			p.fail(f.key, "%s: any-order applies to output and side-outputs, and this step checks neither", path)
		}
	}
	if f, ok := fs["state"]; ok {
		checks++
		items, _ := p.seq(f.val, path+": state")
		for i, it := range items {
			if se, ok := p.stateExpect(p.node(it), fmt.Sprintf("%s: state[%d]", path, i)); ok {
				st.state = append(st.state, se)
			}
		}
	}
	if f, ok := fs["counters"]; ok {
		checks++
		where := path + ": counters"
		if order, cf, ok := p.fields(f.val, where, p.keysOf(f.val)...); ok {
			for _, name := range order {
				n, _ := p.integer(cf[name].val, where+"."+name, nil)
				st.counters = append(st.counters, counterExpect{name: name, n: n})
			}
		}
	}
	if f, ok := fs["timers"]; ok {
		checks++
		items, _ := p.seq(f.val, path+": timers")
		ts := []timerMatch{}
		for i, it := range items {
			if tm, ok := p.timerMatch(it, fmt.Sprintf("%s: timers[%d]", path, i)); ok {
				ts = append(ts, tm)
			}
		}
		st.timers = &ts
	}
	_, hasErr := fs["error"]
	_, hasKind := fs["error-kind"]
	if hasErr || hasKind {
		checks++
		var msgNode, kindNode *yaml.Node
		if hasErr {
			msgNode = fs["error"].val
		}
		if hasKind {
			kindNode = fs["error-kind"].val
		}
		st.err = p.errorExpect(msgNode, kindNode, path)
		if st.action == actNone {
			k := fs["error"].key
			if !hasErr {
				k = fs["error-kind"].key
			}
			p.fail(k, "%s: an error is expected from the step's action, and this step has none (add record, records, watermark, ...)", path)
		}
	}
	if st.action == actNone && checks == 0 {
		p.fail(n, "%s: the step does nothing: give an action (%s) or a check (output, side-outputs, state, counters, timers)", path, strings.Join(actionFields, ", "))
		return st, false
	}
	if st.actName == "" {
		st.actName = "check"
	}
	return st, true
}

// keysOf returns the keys of a mapping node, so fields accepts any of them.
func (p *parser) keysOf(n *yaml.Node) []string {
	n = p.node(n)
	var ks []string
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			ks = append(ks, p.node(n.Content[i]).Value)
		}
	}
	return ks
}

func (p *parser) errorExpect(msg, kind *yaml.Node, what string) *errorExpect {
	e := &errorExpect{}
	if msg != nil {
		e.msg, _ = p.str(msg, what)
	}
	if kind != nil {
		if name, ok := p.str(kind, what+": error-kind"); ok {
			for _, k := range errorKinds {
				if k.name == name {
					e.kind, e.kindName = k.err, k.name
				}
			}
			if e.kind == nil {
				var names []string
				for _, k := range errorKinds {
					names = append(names, k.name)
				}
				p.fail(kind, "%s: error-kind %q is not one of %s", what, name, strings.Join(names, ", "))
			}
		}
	}
	return e
}

// inputRecord reads a record to feed: text (its value) or a mapping of
// key, value, timestamp (default none) and headers.
func (p *parser) inputRecord(n *yaml.Node, what string) (api.Record, bool) {
	n = p.node(n)
	r := api.Record{Timestamp: api.NoTimestamp}
	if n.Kind == yaml.ScalarNode {
		v, ok := p.bytesOf(n, what)
		r.Value = v.b
		return r, ok
	}
	_, fs, ok := p.fields(n, what, "key", "value", "timestamp", "headers")
	if !ok {
		return r, false
	}
	if f, has := fs["key"]; has {
		v, good := p.bytesOf(f.val, what+".key")
		r.Key, ok = v.b, ok && good
	}
	if f, has := fs["value"]; has {
		v, good := p.bytesOf(f.val, what+".value")
		r.Value, ok = v.b, ok && good
	}
	if f, has := fs["timestamp"]; has {
		ts, good := p.integer(f.val, what+".timestamp", timestampWords)
		r.Timestamp, ok = ts, ok && good
	}
	if f, has := fs["headers"]; has {
		hs, good := p.headers(f.val, what+".headers")
		for _, h := range hs {
			r.Headers = append(r.Headers, api.Header{Key: h.key, Value: h.value.b})
		}
		ok = ok && good
	}
	return r, ok
}

// headers reads headers: a mapping (in order) or a list of {key, value}
// (for repeated names).
func (p *parser) headers(n *yaml.Node, what string) ([]headerMatch, bool) {
	n = p.node(n)
	hs := []headerMatch{}
	ok := true
	switch n.Kind {
	case yaml.MappingNode:
		order, fs, good := p.fields(n, what, p.keysOf(n)...)
		ok = good
		for _, k := range order {
			v, good := p.bytesOf(fs[k].val, what+"."+k)
			ok = ok && good
			hs = append(hs, headerMatch{key: []byte(k), value: v})
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			w := fmt.Sprintf("%s[%d]", what, i)
			_, fs, good := p.fields(it, w, "key", "value")
			if !good {
				ok = false
				continue
			}
			kf, hasK := fs["key"]
			if !hasK {
				p.fail(it, "%s: field \"key\" is required", w)
				ok = false
				continue
			}
			k, good := p.str(kf.val, w+".key")
			ok = ok && good
			var v bytesValue
			if vf, hasV := fs["value"]; hasV {
				v, good = p.bytesOf(vf.val, w+".value")
				ok = ok && good
			}
			hs = append(hs, headerMatch{key: []byte(k), value: v})
		}
	default:
		p.fail(n, "%s: expected a mapping of header names to values, or a list of {key, value}; got %s", what, describe(n))
		return nil, false
	}
	return hs, ok
}

// expectedRecords reads a list of expected records.
func (p *parser) expectedRecords(n *yaml.Node, what string) []recordMatch {
	items, _ := p.seq(n, what)
	recs := []recordMatch{}
	for i, it := range items {
		if rm, ok := p.recordMatch(p.node(it), fmt.Sprintf("%s[%d]", what, i)); ok {
			recs = append(recs, rm)
		}
	}
	return recs
}

func (p *parser) recordMatch(n *yaml.Node, what string) (recordMatch, bool) {
	var rm recordMatch
	if n.Kind == yaml.ScalarNode {
		v, ok := p.bytesOf(n, what)
		rm.value = &v
		return rm, ok
	}
	_, fs, ok := p.fields(n, what, "key", "value", "timestamp", "headers")
	if !ok {
		return rm, false
	}
	if f, has := fs["key"]; has {
		v, good := p.bytesOf(f.val, what+".key")
		rm.key, ok = &v, ok && good
	}
	if f, has := fs["value"]; has {
		v, good := p.bytesOf(f.val, what+".value")
		rm.value, ok = &v, ok && good
	}
	if f, has := fs["timestamp"]; has {
		ts, good := p.integer(f.val, what+".timestamp", timestampWords)
		rm.ts, ok = &ts, ok && good
	}
	if f, has := fs["headers"]; has {
		hs, good := p.headers(f.val, what+".headers")
		rm.headers, ok = &hs, ok && good
	}
	return rm, ok
}

func (p *parser) stateExpect(n *yaml.Node, what string) (stateExpect, bool) {
	var se stateExpect
	_, fs, ok := p.fields(n, what, "key", "name", "value", "absent", "list", "map")
	if !ok {
		return se, false
	}
	if f, has := fs["key"]; has {
		v, good := p.bytesOf(f.val, what+".key")
		se.key, ok = v.b, ok && good
	} else {
		p.fail(n, "%s: field \"key\" is required (keyed state is per key)", what)
		ok = false
	}
	if f, has := fs["name"]; has {
		name, good := p.str(f.val, what+".name")
		se.name, ok = name, ok && good
	} else {
		p.fail(n, "%s: field \"name\" is required (the state's name)", what)
		ok = false
	}
	var given []string
	for _, k := range []string{"value", "absent", "list", "map"} {
		if _, has := fs[k]; has {
			given = append(given, k)
		}
	}
	if len(given) != 1 {
		p.fail(n, "%s: give exactly one of value, absent, list, map (got %d)", what, len(given))
		return se, false
	}
	f := fs[given[0]]
	where := what + "." + given[0]
	switch given[0] {
	case "value":
		v, good := p.bytesOf(f.val, where)
		se.kind, se.value, ok = api.ValueStateKind, &v, ok && good
	case "absent":
		b, good := p.boolean(f.val, where)
		if good && !b {
			p.fail(f.val, "%s: only true makes sense (give value instead)", where)
			good = false
		}
		se.kind, se.absent, ok = api.ValueStateKind, true, ok && good
	case "list":
		se.kind = api.ListStateKind
		items, good := p.seq(f.val, where)
		ok = ok && good
		se.list = []bytesValue{}
		for i, it := range items {
			v, good := p.bytesOf(it, fmt.Sprintf("%s[%d]", where, i))
			ok = ok && good
			se.list = append(se.list, v)
		}
	case "map":
		se.kind = api.MapStateKind
		order, mf, good := p.fields(f.val, where, p.keysOf(f.val)...)
		ok = ok && good
		se.mapv = []mapEntry{}
		for _, k := range order {
			v, good := p.bytesOf(mf[k].val, where+"."+k)
			ok = ok && good
			se.mapv = append(se.mapv, mapEntry{key: []byte(k), value: v})
		}
	}
	return se, ok
}

func (p *parser) timerMatch(n *yaml.Node, what string) (timerMatch, bool) {
	var tm timerMatch
	_, fs, ok := p.fields(n, what, "key", "timestamp", "domain")
	if !ok {
		return tm, false
	}
	if f, has := fs["key"]; has {
		v, good := p.bytesOf(f.val, what+".key")
		tm.key, ok = &v, ok && good
	}
	if f, has := fs["timestamp"]; has {
		ts, good := p.integer(f.val, what+".timestamp", nil)
		tm.ts, ok = &ts, ok && good
	}
	if f, has := fs["domain"]; has {
		name, good := p.str(f.val, what+".domain")
		var d api.TimeDomain
		switch name {
		case "event-time":
			d = api.EventTime
		case "processing-time":
			d = api.ProcessingTime
		default:
			if good {
				p.fail(f.val, "%s.domain: %q is not one of event-time, processing-time", what, name)
			}
			good = false
		}
		tm.domain, ok = &d, ok && good
	}
	return tm, ok
}

func timeString(t int64) string {
	switch t {
	case api.MaxWatermark:
		return "max"
	case api.NoTimestamp:
		return "none"
	}
	return strconv.FormatInt(t, 10)
}
