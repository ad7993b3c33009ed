package resttest_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/freshet/freshet/engine/rest/resttest"
	"github.com/freshet/freshet/host"
	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/modules"
)

func TestModuleIsAcceptedByTheStore(t *testing.T) {
	ctx := context.Background()
	rt, err := host.NewRuntime(ctx, host.Config{CompilationCacheDir: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	st, err := modules.Open(t.TempDir(), rt)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind    abi.OperatorKind
		variant int
		want    string
	}{
		{abi.KindMap, 1, "map"},
		{abi.KindFilter, 2, "filter"},
		{abi.KindProcess, 300, "process"},
	} {
		info, err := st.Add(ctx, "m@"+tc.want, resttest.Module(tc.kind, tc.variant))
		if err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if len(info.Functions) != 1 || info.Functions[0].Kind != tc.want || info.Functions[0].Name != "f" || info.ABIVersion != abi.Version {
			t.Errorf("%s: info %+v", tc.want, info)
		}
	}
	if bytes.Equal(resttest.Module(abi.KindMap, 1), resttest.Module(abi.KindMap, 2)) {
		t.Error("variants have the same bytes")
	}
}
