#!/usr/bin/env bash
# The demo: from a fresh Debian 12 machine with the Swift toolchain to a finished backup.
# It installs the packages it needs, builds polyarchiv in release mode, creates sample data
# (files and an SQLite database) under /tmp/polyarchiv-demo, then plans and applies
# pipelines/demo.yaml twice (the second run is all cache hits), and checks the archive.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
swift build -c release
bin=$(swift build -c release --show-bin-path)/polyarchiv

demo=/tmp/polyarchiv-demo
state=$demo/state
rm -rf "$demo/collect" "$demo/backups" "$demo/data" "$state"
mkdir -p "$demo/data/documents/reports" "$demo/data/documents/cache"
echo "Quarterly report" > "$demo/data/documents/reports/q1.txt"
echo "Meeting notes" > "$demo/data/documents/notes.txt"
echo "scratch" > "$demo/data/documents/draft.tmp"
echo "cached" > "$demo/data/documents/cache/page.html"
rm -f "$demo/data/app.sqlite3"
sqlite3 "$demo/data/app.sqlite3" \
    "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) VALUES ('Ada'), ('Grace');"

echo "== polyarchiv plan -c pipelines/demo.yaml --state-dir $state"
"$bin" plan -c pipelines/demo.yaml --state-dir "$state"
echo
echo "== polyarchiv apply -c pipelines/demo.yaml --state-dir $state"
"$bin" apply -c pipelines/demo.yaml --state-dir "$state"
echo
echo "== the same again: unchanged dumps, so everything downstream is a cache hit"
"$bin" apply -c pipelines/demo.yaml --state-dir "$state" | tail -9
echo
echo "== what the backup point holds"
archive=$(ls "$demo"/backups/notes/*.tar.zst)
ls -l "$archive"
tar -tvf "$archive"
echo
echo "== the collect point, verified by sha256sum"
(cd "$demo/collect/notes" && sha256sum -c SHA256SUMS)
echo
echo "== polyarchiv check"
"$bin" check -c pipelines/demo.yaml --state-dir "$state"
