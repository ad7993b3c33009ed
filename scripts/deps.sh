#!/usr/bin/env bash
# Installs what building and testing Freshet needs, idempotently and quietly.
#
#   scripts/deps.sh          Debian packages + Go code generators
#   scripts/deps.sh bench    ... and benchstat
#
# Debian packages are checked with dpkg first; apt-get (update + install) runs
# only when one is missing, so the common case is a no-op that prints nothing.
# Go tools are installed with `go install` into .cache/bin (project-local,
# put on PATH by the Makefile), pinned: protoc-gen-go at the version of
# google.golang.org/protobuf in go.mod (generated code and runtime then match),
# the others at the versions below.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GOBIN_DIR=$ROOT/.cache/bin

# Debian packages, and why.
APT_PACKAGES=(
	build-essential          # cgo (grocksdb) needs gcc, g++ and libstdc++
	librocksdb-dev           # RocksDB 7.8.3 headers and library: grocksdb v1.7.14 matches it
	protobuf-compiler        # protoc, for proto/*.proto
	libprotobuf-dev          # protoc's well-known types (google/protobuf/*.proto)
	rustc                    # Debian's Rust (/usr/bin/rustc) for sdk-rust and WASM plugins
	cargo                    # ... and its cargo (/usr/bin/cargo)
	libstd-rust-dev-wasm32   # Rust's std for wasm32 targets
	openjdk-17-jre-headless  # Java 17 for the Kafka 4.x test broker (scripts/kafka.sh)
	maven                    # fetches the broker's jars
	shellcheck               # make check lints scripts/ and .ci/run
)
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da # golang.org/x/perf

log() { printf 'deps.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install_apt() {
	local missing=() pkg
	for pkg in "${APT_PACKAGES[@]}"; do
		[[ $pkg == \#* ]] && continue
		if [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) != installed ]]; then
			missing+=("$pkg")
		fi
	done
	((${#missing[@]} == 0)) && return 0

	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "missing Debian packages (${missing[*]}) and not root: install them as root"
		sudo=(sudo -n)
	fi
	log "installing Debian packages: ${missing[*]}"
	local out
	out=$(mktemp)
	if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$out" 2>&1; then
		tail -n 40 "$out" >&2
		rm -f "$out"
		die "apt-get could not install: ${missing[*]}"
	fi
	rm -f "$out"
}

# go_install PKG VERSION installs PKG@VERSION into .cache/bin unless that exact
# version is already there (recorded in a stamp file beside the binary).
go_install() {
	local pkg=$1 version=$2 name stamp
	name=${pkg##*/}
	stamp=$GOBIN_DIR/.$name.version
	if [[ -x $GOBIN_DIR/$name && -f $stamp && $(<"$stamp") == "$version" ]]; then
		return 0
	fi
	log "installing $name $version"
	mkdir -p "$GOBIN_DIR"
	GOBIN=$GOBIN_DIR go install "$pkg@$version" || die "go install $pkg@$version failed"
	echo "$version" >"$stamp"
}

# gomod_version prints the version go.mod requires of a module.
gomod_version() {
	awk -v m="$1" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$ROOT/go.mod"
}

main() {
	install_apt
	if ! command -v go >/dev/null 2>&1; then
		[[ -x /usr/local/go/bin/go ]] || die "no Go toolchain: install Go 1.26 in /usr/local/go"
		export PATH=/usr/local/go/bin:$PATH
	fi
	local pbv
	pbv=$(gomod_version google.golang.org/protobuf)
	[[ -n $pbv ]] || die "go.mod does not require google.golang.org/protobuf; cannot pin protoc-gen-go"
	go_install google.golang.org/protobuf/cmd/protoc-gen-go "$pbv"
	go_install google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
	case ${1:-} in
	"") ;;
	bench) go_install golang.org/x/perf/cmd/benchstat "$BENCHSTAT_VERSION" ;;
	*) die "unknown group ${1}; usage: scripts/deps.sh [bench]" ;;
	esac
}

main "$@"
