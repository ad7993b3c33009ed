package smoke

import (
	"context"
	"fmt"
	"testing"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/harness/spec"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"go", "rust"} {
		for _, name := range []string{"tokenizer", "fraud", "nexmark", "window-stats", "json-extract"} {
			rep, err := spec.Run(ctx, rt, "/work/main/plugins/build/"+lang+"/"+name+".wasm", "/work/main/plugins/tests/"+name+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			fmt.Println("==", lang, name)
			fmt.Print(rep)
		}
	}
}
