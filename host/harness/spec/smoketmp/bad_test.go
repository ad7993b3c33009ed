package smoke

import (
	"context"
	"fmt"
	"testing"

	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/harness/spec"
)

func TestBad(t *testing.T) {
	ctx := context.Background()
	rt, _ := host.NewRuntime(ctx, host.Config{})
	rep, err := spec.Run(ctx, rt, "/work/main/plugins/build/go/fraud.wasm", "/tmp/bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Print(rep)
}
