#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/wine-tests.sh runs the child process tests of package stdio as a
# Windows (amd64) binary under Wine, so the Windows code (job objects, the
# stop sequence, exit detection) is executed, not only compiled. It needs
# wine (Debian: wine64) and the MinGW C compiler (gcc-mingw-w64-x86-64-win32)
# for a small DLL that Wine 8 lacks; without them it prints why and exits 3.
#
# Wine is not Windows: a pass here is evidence, not proof, that the code
# works on Windows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

wine=$(command -v wine || command -v wine64 || true)
if [[ -z "$wine" ]] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
	echo "wine-tests: skipped: needs wine and x86_64-w64-mingw32-gcc (apt-get install wine64 gcc-mingw-w64-x86-64-win32)" >&2
	exit 3
fi

work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
	wineserver -k >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$work/badserver.exe" ./internal/testenv/badserver
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "$work/stdio.test.exe" ./stdio
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
	scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -ladvapi32

timeout 300 "$wine" wineboot -i >"$work/wineboot.log" 2>&1 || {
	cat "$work/wineboot.log" >&2
	echo "wine-tests: wineboot failed" >&2
	exit 1
}
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

# Wine maps / to drive Z:.
export ASYNCMCP_BADSERVER="Z:${work//\//\\}\\badserver.exe"
tests='^(TestCloseWhileWriteBlocked|TestExitWhileHelperHoldsStdout|TestReadAfterExit)$'
echo "wine-tests: $("$wine" --version) running $tests" >&2
timeout 600 "$wine" "$work/stdio.test.exe" -test.v -test.count=1 -test.run "$tests" 2>&1 | tr -d '\r'
exit "${PIPESTATUS[0]}"
