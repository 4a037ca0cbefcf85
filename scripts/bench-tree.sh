#!/usr/bin/env bash
# Benchmark of the tree at many files (issue 22): Maildir-like trees of small mails (0.3-3 KB, 250-400 per
# directory), generated deterministically, backed up by polyarchiv (files source -> files collect point ->
# archive backup point), restic and tar side by side in one run. Prints wall time and peak RSS of each step
# and the ratios against the issue's targets; asserts nothing.
# Usage: scripts/bench-tree.sh [DIR] [COUNT...]   (default /tmp/polyarchiv-bench-tree, 100000 400000;
# add 1200000 for the largest row: about 4 GB of disk and half an hour)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:-/tmp/polyarchiv-bench-tree}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100000 400000)
scripts/install-deps.sh build
need=()
for tool in restic zstd /usr/bin/time; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then apt-get install -y -qq -o DPkg::Lock::Timeout=600 restic zstd time >/dev/null; fi
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)/polyarchiv
export RESTIC_PASSWORD=bench

generate() {  # directory, count
    python3 - "$1" "$2" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261207)
words = ["Received:", "from", "mail", "server", "by", "backup", "Subject:", "report", "the", "night", "restore"]
made = 0
box = 0
while made < count:
    directory = os.path.join(root, f"user{box // 20:04}", "Maildir", f"cur{box % 20:02}")
    os.makedirs(directory)
    for _ in range(min(rng.randint(250, 400), count - made)):
        size = rng.randint(300, 3000)
        body = " ".join(rng.choice(words) for _ in range(size // 5))[:size]
        with open(os.path.join(directory, f"{1700000000 + made}.M{made}P{box}.host:2,S"), "w") as out:
            out.write(body)
        made += 1
    box += 1
PY
}

measure() {  # label, command...: prints "label seconds peak_MiB"
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/$label.log" 2>&1 || { echo "$label failed:"; tail -5 "$work/$label.log"; exit 1; }
    read -r seconds kib <"$work/time.txt"
    printf '%s %s %s\n' "$label" "$seconds" "$((kib / 1024))" | tee -a "$work/results.txt"
}
value() { awk -v l="$1" -v f="$2" '$1 == l { print $f }' "$work/results.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

for count in "${counts[@]}"; do
    data=$bench/data-$count
    if [ ! -f "$data/.generated" ]; then
        echo "generating $count files in $data…"
        rm -rf "$data"
        mkdir -p "$data"
        generate "$data" "$count"
        touch "$data/.generated"
    fi
    work=$bench/work-$count
    if [ -d "$work" ]; then
        rm -rf "$work"
        # ext4 scans the inodes it freed in the last 30 s before it reuses them: creating many files right
        # after deleting as many costs seconds that have nothing to do with what is measured.
        sync
        echo "letting the file system settle after deleting the last run's output (35 s)…"
        sleep 35
    fi
    mkdir -p "$work"
    sync
    echo "== $count files ($(du -sh "$data" | cut -f1))"
    cat >"$work/config.yaml" <<YAML
collect_points:
  mail:
    engine: files
    path: $work/collect
    sources:
      maildir: {engine: files, path: $data}
backup_points:
  local:
    engine: archive
    url: "file://$work/backups/{name}-{Y}{m}{d}{H}{M}{S}.tar.zst"
    compression_level: 1
    verify: false  # like with like: neither tar nor restic reads its output back here
YAML
    cat >"$work/archive-cp.yaml" <<YAML
collect_points:
  mail:
    engine: archive
    path: $work/archive-cp
    archive_name: "{name}.tar.zst"
    sources:
      maildir: {engine: files, path: $data}
YAML
    measure tar_create tar -I 'zstd -1 -T0' -cf "$work/tar.tar.zst" -C "$data" .
    measure restic_first sh -c "restic init -r '$work/repo' && restic backup -q -r '$work/repo' '$data'"
    measure restic_unchanged restic backup -q -r "$work/repo" "$data"
    measure pa_first "$bin" apply -c "$work/config.yaml" --state-dir "$work/state"
    measure pa_unchanged "$bin" apply --force -c "$work/config.yaml" --state-dir "$work/state"
    measure pa_archive_cp "$bin" apply -c "$work/archive-cp.yaml" --state-dir "$work/state-archive"
    mkdir -p "$work/tar-x"
    measure tar_extract tar -I zstd -xf "$work/tar.tar.zst" -C "$work/tar-x"
    measure pa_restore "$bin" restore -c "$work/config.yaml" --state-dir "$work/state" --target "$work/restored"
    measure tar_list tar -I zstd -tvf "$work/tar.tar.zst"
    measure pa_ls "$bin" ls -c "$work/config.yaml"
    measure pa_find "$bin" find -c "$work/config.yaml" '**/cur00/*'
    # A second backup (one mail more) for diff.
    echo "one more mail" >"$data/user0000/Maildir/cur00/new-mail:2,S"
    sleep 1.1
    "$bin" apply --force -c "$work/config.yaml" --state-dir "$work/state" >/dev/null
    rm "$data/user0000/Maildir/cur00/new-mail:2,S"
    older=$("$bin" list -c "$work/config.yaml" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(sorted(b['created'] for l in d for b in l['backups'])[0])" 2>/dev/null || true)
    if [ -n "$older" ]; then measure pa_diff "$bin" diff -c "$work/config.yaml" "$older"; fi
    echo "-- $count files: ratios (target)"
    echo "peak RSS: polyarchiv first $(value pa_first 3) MiB, unchanged $(value pa_unchanged 3) MiB, restore $(value pa_restore 3) MiB; restic $(value restic_first 3) MiB (target <= 150 MiB at every size)"
    echo "first apply / restic backup:        $(ratio "$(value pa_first 2)" "$(value restic_first 2)") (<= 1.0)"
    echo "archive collect point / tar+zstd:   $(ratio "$(value pa_archive_cp 2)" "$(value tar_create 2)") (<= 2.0)"
    echo "unchanged apply / restic unchanged: $(ratio "$(value pa_unchanged 2)" "$(value restic_unchanged 2)") (<= 0.3 at 400k)"
    echo "restore / tar -x:                   $(ratio "$(value pa_restore 2)" "$(value tar_extract 2)") (<= 1.3)"
    echo "ls / tar -tv:                       $(ratio "$(value pa_ls 2)" "$(value tar_list 2)") (<= 0.5)"
    echo "find / tar -tv:                     $(ratio "$(value pa_find 2)" "$(value tar_list 2)") (<= 0.5)"
    [ -n "$(value pa_diff 2)" ] && echo "diff / tar -tv:                     $(ratio "$(value pa_diff 2)" "$(value tar_list 2)") (<= 0.5)"
done
