package jobspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadGood(t *testing.T, name string) *Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "good", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOverridesApply(t *testing.T) {
	tests := []struct {
		name  string
		o     Overrides
		check func(t *testing.T, s *Spec)
	}{
		{"job parallelism", Overrides{Set: []string{"parallelism=4"}}, func(t *testing.T, s *Spec) {
			if s.Parallelism != 4 || s.ParallelismOf(s.Node("words")) != 4 || s.ParallelismOf(s.Node("lines")) != 1 {
				t.Errorf("parallelism: job %d, words %d, lines %d; want 4, 4, 1 (lines sets its own)",
					s.Parallelism, s.ParallelismOf(s.Node("words")), s.ParallelismOf(s.Node("lines")))
			}
		}},
		{"--parallelism", Overrides{Parallelism: 3}, func(t *testing.T, s *Spec) {
			if s.Parallelism != 3 {
				t.Errorf("parallelism %d, want 3", s.Parallelism)
			}
		}},
		{"node param", Overrides{Set: []string{"sources.lines.path=/tmp/x"}}, func(t *testing.T, s *Spec) {
			p := s.Node("lines").NewParams()
			if got := p.String("path", ""); got != "/tmp/x" {
				t.Errorf("path %q, want /tmp/x", got)
			}
			if v, _ := p.Raw("path"); v.Pos.String() != "--set sources.lines.path" {
				t.Errorf("path position %q, want the override", v.Pos)
			}
		}},
		{"new nested param", Overrides{Set: []string{"sources.lines.format.delimiter=;"}}, func(t *testing.T, s *Spec) {
			sub := s.Node("lines").NewParams().Sub("format")
			if got := sub.String("delimiter", ""); got != ";" {
				t.Errorf("format.delimiter %q, want ;", got)
			}
		}},
		{"config", Overrides{Set: []string{"config.checkpoint.interval=1m", "config.x=y"}}, func(t *testing.T, s *Spec) {
			if got := s.Config.Sub("checkpoint").String("interval", ""); got != "1m" {
				t.Errorf("config.checkpoint.interval %q", got)
			}
			if got := s.Config.String("x", ""); got != "y" {
				t.Errorf("config.x %q", got)
			}
			if got := s.Config.String("buffer-memory", ""); got != "64MiB" {
				t.Errorf("config.buffer-memory %q: untouched fields must stay", got)
			}
		}},
		{"structural fields", Overrides{Set: []string{"operators.counts.key-by={field: user.id}", "operators.words.parallelism=2", "on-error=skip", "name=renamed"}}, func(t *testing.T, s *Spec) {
			if k := s.Node("counts").KeyBy; k == nil || k.Kind != KeyByField || k.Field != "user.id" {
				t.Errorf("key-by %v", k)
			}
			if s.OnErrorOf(s.Node("words")) != OnErrorSkip || s.Name != "renamed" {
				t.Errorf("on-error %s, name %s", s.OnErrorOf(s.Node("words")), s.Name)
			}
			if got := s.Node("words").NewParams().String("on-error", ""); got != OnErrorSkip {
				t.Errorf("params on-error %q, want the job's new default", got)
			}
		}},
		{"value types", Overrides{Set: []string{"sinks.out.n=4", "sinks.out.b=true", "sinks.out.l=[a, b]", "sinks.out.s=a: b: c", "sinks.out.e="}}, func(t *testing.T, s *Spec) {
			p := s.Node("out").NewParams()
			if p.Int("n", 0) != 4 || !p.Bool("b", false) || strings.Join(p.StringList("l"), ",") != "a,b" || p.String("s", "") != "a: b: c" || p.String("e", "x") != "" {
				t.Errorf("values: %d %v %v %q %q", p.Int("n", 0), p.Bool("b", false), p.StringList("l"), p.String("s", ""), p.String("e", "x"))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := loadGood(t, "wordcount.yaml")
			s, err := tt.o.Apply(orig)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			tt.check(t, s)
			if orig.Parallelism != 2 || orig.Node("lines").NewParams().String("path", "") != "examples/data/words.txt" || orig.Config.Has("x") {
				t.Errorf("Apply changed the original spec")
			}
		})
	}
}

func TestOverridesErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Overrides
		want string
	}{
		{"no equals", Overrides{Set: []string{"parallelism"}}, "--set parallelism: expected key=value"},
		{"unknown top", Overrides{Set: []string{"paralelism=2"}}, `--set paralelism: unknown field "paralelism" (did you mean "parallelism"?)`},
		{"unknown node", Overrides{Set: []string{"sources.line.path=/x"}}, `--set sources.line.path: there is no source named "line" (did you mean "lines"?)`},
		{"short node path", Overrides{Set: []string{"sources.lines=/x"}}, "--set sources.lines: write sources.<node name>.<field>=value"},
		{"apiVersion", Overrides{Set: []string{"apiVersion=freshet/v2"}}, "--set apiVersion: apiVersion cannot be overridden"},
		{"rename", Overrides{Set: []string{"sinks.out.name=x"}}, "--set sinks.out.name: a node's name cannot be overridden (inputs refer to it)"},
		{"bad value", Overrides{Set: []string{"parallelism=two"}}, `--set parallelism: parallelism: expected an integer, got "two"`},
		{"too high", Overrides{Parallelism: 1000}, "--parallelism: parallelism: 1000 is out of range [1, 128]"},
		{"negative", Overrides{Parallelism: -1}, "--parallelism: -1 is not a positive number"},
		{"not a mapping", Overrides{Set: []string{"operators.counts.key-by.field=x"}}, `--set operators.counts.key-by.field: key-by is "value", not a mapping with fields`},
		{"bad structural", Overrides{Set: []string{"operators.counts.partition=hash"}}, "--set operators.counts.partition: operators[1].partition: to partition by key, write key-by"},
		{"all reported", Overrides{Set: []string{"x=1", "y=2"}}, "--set x: unknown field \"x\"\n--set y: unknown field \"y\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.o.Apply(loadGood(t, "wordcount.yaml"))
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%s\ndoes not contain\n%s", err, tt.want)
			}
		})
	}
}

func TestOverridesThroughAlias(t *testing.T) {
	s := loadGood(t, "anchors.yaml")
	s2, err := Overrides{Set: []string{"sinks.out.settings.flush=5s"}}.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	p := s2.Node("out").NewParams()
	if got := p.Sub("settings").String("flush", ""); got != "5s" {
		t.Errorf("settings.flush %q, want 5s", got)
	}
	if got := p.Sub("again").String("flush", ""); got != "1s" {
		t.Errorf("again.flush %q, want 1s: an override must not leak through an alias", got)
	}

	// b merges a (<<: *src): overriding a must not change b, and overriding
	// a merged-in field of b keeps b's other merged fields.
	s3, err := Overrides{Set: []string{"sources.b.fields.id=string", "sources.a.rate=5"}}.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	a, b := s3.Node("a").NewParams(), s3.Node("b").NewParams()
	if a.Int("rate", 0) != 5 || b.Int("rate", 0) != 10 {
		t.Errorf("rate a=%d b=%d, want 5 and 10", a.Int("rate", 0), b.Int("rate", 0))
	}
	af, bf := a.Sub("fields"), b.Sub("fields")
	if af.String("id", "") != "int" || bf.String("id", "") != "string" || bf.String("name", "") != "string" {
		t.Errorf("fields a.id=%q b.id=%q b.name=%q, want int, string, string", af.String("id", ""), bf.String("id", ""), bf.String("name", ""))
	}
}

func TestSpecOverride(t *testing.T) {
	s := loadGood(t, "wordcount.yaml")
	if err := s.Override([]string{"sources.lines.path=/y"}, 2); err != nil {
		t.Fatal(err)
	}
	if s.Node("lines").NewParams().String("path", "") != "/y" || s.Parallelism != 2 {
		t.Errorf("Override did not change the spec in place")
	}
	if err := s.Override([]string{"nope=1"}, 0); err == nil {
		t.Error("Override accepted an unknown field")
	}
	if s.Node("lines").NewParams().String("path", "") != "/y" {
		t.Errorf("a failed Override changed the spec")
	}
	// Overrides stack: a second one sees the first.
	if err := s.Override([]string{"operators.counts.parallelism=1"}, 0); err != nil {
		t.Fatal(err)
	}
	if s.ParallelismOf(s.Node("counts")) != 1 || s.Node("lines").NewParams().String("path", "") != "/y" {
		t.Errorf("a second Override lost the first")
	}
	if v, _ := s.Node("lines").NewParams().Raw("path"); v.Pos.String() != "--set sources.lines.path" {
		t.Errorf("position of an earlier override: %q", v.Pos)
	}
}
