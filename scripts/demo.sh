#!/usr/bin/env bash
# The demo: from a fresh Debian 12 machine with the Swift toolchain to a planned backup.
# It installs the packages it needs, builds polyarchiv in release mode, creates sample data
# (files and an SQLite database) under /tmp/polyarchiv-demo, then validates and plans
# pipelines/demo.yaml. Backups land under /tmp/polyarchiv-demo/backups once `apply` exists.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
swift build -c release
bin=$(swift build -c release --show-bin-path)/polyarchiv

demo=/tmp/polyarchiv-demo
mkdir -p "$demo/data/documents/reports" "$demo/data/documents/cache"
echo "Quarterly report" > "$demo/data/documents/reports/q1.txt"
echo "Meeting notes" > "$demo/data/documents/notes.txt"
echo "scratch" > "$demo/data/documents/draft.tmp"
echo "cached" > "$demo/data/documents/cache/page.html"
rm -f "$demo/data/app.sqlite3"
sqlite3 "$demo/data/app.sqlite3" \
    "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) VALUES ('Ada'), ('Grace');"

echo "== polyarchiv validate -c pipelines/demo.yaml"
"$bin" validate -c pipelines/demo.yaml
echo
echo "== polyarchiv plan -c pipelines/demo.yaml"
"$bin" plan -c pipelines/demo.yaml
echo
echo "The executor (polyarchiv apply) is not built yet: this demo stops after the plan."
