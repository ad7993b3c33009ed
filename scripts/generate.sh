#!/usr/bin/env bash
# Regenerates Freshet's generated code; `make generate` and `make check` run it.
#
#   protobuf  every proto/**/*.proto, with protoc and the pinned protoc-gen-go
#             and protoc-gen-go-grpc from .cache/bin (scripts/deps.sh). Output
#             goes where each file's `option go_package` puts it inside this
#             module, so every .proto must set go_package to a path under
#             github.com/freshet/freshet.
#   go generate  ./... in the main module and in sdk-go when it exists: the
#             hook for the ABI constants and anything else generated from Go.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$ROOT/.cache/bin:$PATH
GO=${GO:-go}

module=$(awk '$1 == "module" { print $2; exit }' go.mod)
mapfile -t protos < <(find proto -type f -name '*.proto' 2>/dev/null | LC_ALL=C sort)
if ((${#protos[@]} > 0)); then
	for t in protoc protoc-gen-go protoc-gen-go-grpc; do
		command -v "$t" >/dev/null 2>&1 || { echo "generate.sh: $t not found: run 'make deps'" >&2; exit 1; }
	done
	echo "protoc: ${protos[*]}"
	protoc -I proto \
		--go_out=. --go_opt=module="$module" \
		--go-grpc_out=. --go-grpc_opt=module="$module" \
		"${protos[@]}"
fi

echo "$GO generate ./..."
"$GO" generate ./...
if [[ -f sdk-go/go.mod ]]; then
	echo "(cd sdk-go && $GO generate ./...)"
	(cd sdk-go && "$GO" generate ./...)
fi
