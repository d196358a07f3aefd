#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/release.sh builds the asyncmcp release binaries into dist/ and
# writes dist/SHA256SUMS. It publishes nothing.
#
#   scripts/release.sh                 all platforms
#   scripts/release.sh linux/amd64     only the platforms named
#
# Binaries are static (CGO_ENABLED=0) and reproducible: the same commit and
# Go version give byte-identical files wherever they are built (-trimpath,
# no build id, fixed -ldflags). The version printed by `asyncmcp --version`
# is $VERSION if set, else `git describe --tags --always --dirty`, else the
# one Go finds in the build information. Environment:
#
#   VERSION    version to stamp (default: from git, see above)
#   DIST       output directory (default: dist)
#   PARALLEL   builds run at once (default: 2)
#   VERIFY=1   build linux/amd64 a second time in a scratch directory and
#              fail unless the two binaries are identical
#
# Output: dist/asyncmcp-OS-ARCH (asyncmcp-windows-ARCH.exe on Windows).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

platforms=("$@")
if ((${#platforms[@]} == 0)); then
	platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
fi
dist=${DIST:-dist}
parallel=${PARALLEL:-2}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || true)}

ldflags="-s -w -buildid="
if [[ -n "$version" ]]; then
	ldflags+=" -X main.version=$version"
fi
# Static, reproducible, and independent of a GOFLAGS the machine may set.
export CGO_ENABLED=0 GOFLAGS=-buildvcs=auto

# build OS/ARCH OUT compiles the CLI for one platform into OUT.
build() {
	local os=${1%/*} arch=${1#*/} out=$2
	GOOS=$os GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/asyncmcp
}

name() {
	local os=${1%/*} arch=${1#*/}
	local n="asyncmcp-$os-$arch"
	[[ $os == windows ]] && n+=.exe
	echo "$n"
}

rm -rf "$dist"
mkdir -p "$dist"
echo "release: version '${version:-<from build info>}', ${#platforms[@]} platform(s) into $dist/" >&2
pids=()
failed=0
for p in "${platforms[@]}"; do
	if ((${#pids[@]} >= parallel)); then
		wait "${pids[0]}" || failed=1
		pids=("${pids[@]:1}")
	fi
	build "$p" "$dist/$(name "$p")" &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || failed=1
done
if ((failed)); then
	echo "release: a build failed" >&2
	exit 1
fi

(cd "$dist" && sha256sum -- asyncmcp-* >SHA256SUMS)
cat "$dist/SHA256SUMS" >&2

if [[ "${VERIFY:-}" == 1 ]]; then
	scratch=$(mktemp -d)
	trap 'rm -rf "$scratch"' EXIT
	build linux/amd64 "$scratch/again"
	if ! cmp -s "$scratch/again" "$dist/$(name linux/amd64)"; then
		echo "release: linux/amd64 is not reproducible: a second build differs" >&2
		exit 1
	fi
	echo "release: linux/amd64 rebuilt byte for byte" >&2
fi
