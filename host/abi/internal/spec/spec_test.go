package spec

import (
	"os"
	"strings"
	"testing"
)

func TestParseRejectsBadSpecs(t *testing.T) {
	good, err := os.ReadFile("../../abi.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(good); err != nil {
		t.Fatalf("the real spec: %v", err)
	}
	tests := []struct{ name, from, to, want string }{
		{"duplicate status value", `"value": -1,`, `"value": 0,`, "duplicate enum"},
		{"unknown param type", `{"name": "kind", "type": "i32"}`, `{"name": "kind", "type": "f32"}`, "unknown type"},
		{"unknown field", `"version": 1,`, `"version": 1, "colour": "red",`, "unknown field"},
		{"bad versions", `"min_supported_version": 1,`, `"min_supported_version": 2,`, "bad versions"},
	}
	for _, tc := range tests {
		bad := strings.Replace(string(good), tc.from, tc.to, 1)
		if bad == string(good) {
			t.Fatalf("%s: replacement did not apply", tc.name)
		}
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
