#!/usr/bin/env bash
# Regenerates the configuration reference in README.md from `polyarchiv engines --format markdown`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build >/dev/null
reference=$(mktemp)
"$(swift build --show-bin-path)/polyarchiv" engines --format markdown > "$reference"
python3 - "$reference" <<'PY'
import sys
begin = "<!-- BEGIN ENGINE REFERENCE (polyarchiv engines --format markdown) -->\n"
end = "<!-- END ENGINE REFERENCE -->"
readme = open("README.md").read()
head, rest = readme.split(begin, 1)
_, tail = rest.split(end, 1)
open("README.md", "w").write(head + begin + open(sys.argv[1]).read() + end + tail)
PY
rm -f "$reference"
