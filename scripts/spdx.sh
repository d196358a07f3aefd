#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/spdx.sh puts "// SPDX-License-Identifier: Apache-2.0" as the first
# line of every tracked or new .go file that lacks it (generated files, those
# with a "Code generated ... DO NOT EDIT." line, are left alone). With
# --check it changes nothing, lists the files that lack the line and exits 1
# if there are any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

line='// SPDX-License-Identifier: Apache-2.0'
check=false
[[ "${1:-}" == "--check" ]] && check=true

missing=0
while IFS= read -r -d '' f; do
	[[ -f "$f" ]] || continue
	if grep -q '^// Code generated .* DO NOT EDIT\.$' "$f"; then
		continue
	fi
	if [[ "$(head -n 1 "$f")" == "$line" ]]; then
		continue
	fi
	if $check; then
		echo "missing SPDX line: $f" >&2
		missing=$((missing + 1))
		continue
	fi
	{ printf '%s\n\n' "$line"; cat "$f"; } >"$f.spdx.tmp"
	mv "$f.spdx.tmp" "$f"
done < <(git ls-files -z --cached --others --exclude-standard -- '*.go')

if $check && ((missing > 0)); then
	echo "$missing .go file(s) lack '$line'; run scripts/spdx.sh" >&2
	exit 1
fi
