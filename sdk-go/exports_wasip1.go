//go:build wasip1

package freshet

import "github.com/freshet/freshet/sdk-go/internal/abi"

// The guest exports of ABI v1. Names must match host/abi/abi.json (the
// host's load-time validation rejects a module whose exports differ).

//go:wasmexport freshet_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport freshet_init
func exportInit(inputCap, outputCap int32) int32 { return doInit(inputCap, outputCap) }

//go:wasmexport freshet_describe
func exportDescribe() int32 { return doDescribe() }

//go:wasmexport freshet_open
func exportOpen(function, configLen int32) int32 { return doOpen(function, configLen) }

//go:wasmexport freshet_process
func exportProcess(function, inputLen, entries int32) int32 {
	return doProcess(function, inputLen, entries)
}

//go:wasmexport freshet_agg_create
func exportAggCreate(function int32) int32 { return doAgg(aggCreate, function, 0, 0) }

//go:wasmexport freshet_agg_add
func exportAggAdd(function, accLen, inLen int32) int32 { return doAgg(aggAdd, function, accLen, inLen) }

//go:wasmexport freshet_agg_merge
func exportAggMerge(function, aLen, bLen int32) int32 { return doAgg(aggMerge, function, aLen, bLen) }

//go:wasmexport freshet_agg_result
func exportAggResult(function, accLen int32) int32 { return doAgg(aggResult, function, accLen, 0) }
