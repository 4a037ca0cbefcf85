#!/usr/bin/env bash
# Benchmark: polyarchiv apply against tar|zstd and restic on a generated ~1 GiB tree.
# Prints wall time, peak RSS and ratios; asserts nothing. Usage: scripts/bench.sh [DIR] (default /tmp/polyarchiv-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bench=${1:-/tmp/polyarchiv-bench}
scripts/install-deps.sh build
for tool in restic zstd /usr/bin/time; do
    command -v "$tool" >/dev/null || { apt-get install -y -qq -o DPkg::Lock::Timeout=600 restic zstd time >/dev/null; break; }
done
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)/polyarchiv

data=$bench/data
if [ ! -f "$bench/.generated" ]; then
    echo "generating the data set in $data (deterministic, about 1 GiB)…"
    rm -rf "$bench"
    mkdir -p "$data"
    python3 - "$data" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20261127)
words = ["backup", "restore", "archive", "server", "database", "config", "polyarchiv", "retention", "digest", "stage"]
def text(size):
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + f" {rng.randint(0, 10**9)}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]
# ~20,000 small text files in 200 directories
for d in range(200):
    directory = os.path.join(root, "small", f"d{d:03}")
    os.makedirs(directory)
    for f in range(100):
        with open(os.path.join(directory, f"f{f:03}.txt"), "w") as out:
            out.write(text(rng.randint(200, 12000)))
# ~200 files of 1-10 MiB, half incompressible
os.makedirs(os.path.join(root, "medium"))
for f in range(200):
    size = rng.randint(1, 10) * 1024 * 1024 // 4
    with open(os.path.join(root, "medium", f"m{f:03}.bin"), "wb") as out:
        out.write(rng.randbytes(size) if f % 2 else text(size).encode())
# two 100 MiB files
os.makedirs(os.path.join(root, "large"))
for f in range(2):
    with open(os.path.join(root, "large", f"l{f}.dat"), "wb") as out:
        for _ in range(100):
            out.write(rng.randbytes(1024 * 1024) if f else text(1024 * 1024).encode())
# a 200 MiB SQL-like dump
with open(os.path.join(root, "dump.sql"), "w") as out:
    for chunk in range(200):
        rows = []
        size = 0
        while size < 1024 * 1024:
            row = f"INSERT INTO events VALUES ({chunk * 100000 + len(rows)}, '{rng.choice(words)}', {rng.random():.6f});\n"
            rows.append(row)
            size += len(row)
        out.write("".join(rows))
PY
    touch "$bench/.generated"
fi
du -sh "$data"

measure() {  # label, command...: prints "label seconds peak_kib"
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$bench/time.txt" "$@" >"$bench/$label.log" 2>&1 || { echo "$label failed:"; tail -5 "$bench/$label.log"; exit 1; }
    read -r seconds kib <"$bench/time.txt"
    echo "$label $seconds $kib" >>"$bench/results.txt"
}

rm -rf "$bench/state" "$bench/collect" "$bench/backups" "$bench/restic" "$bench/tar.tar.zst" "$bench/results.txt"
cat >"$bench/bench.yaml" <<YAML
collect_points:
  bench:
    engine: files
    path: $bench/collect
    sources:
      tree: {engine: files, path: $data}
backup_points:
  local:
    engine: archive
    url: "file://$bench/backups/{name}.tar.zst"
    compression_level: 1
YAML
sync
measure tar_zstd tar -I 'zstd -1 -T0' -cf "$bench/tar.tar.zst" -C "$data" .
measure apply_first "$bin" apply -c "$bench/bench.yaml" --state-dir "$bench/state"
backup=$bench/backups/bench.tar.zst
before=$(stat -c %Y.%s "$backup")
measure apply_unchanged "$bin" apply -c "$bench/bench.yaml" --state-dir "$bench/state"
after=$(stat -c %Y.%s "$backup")
[ "$before" = "$after" ] && unchanged_written=0 || unchanged_written=$(stat -c %s "$backup")
# 1% of the files change: 200 small files and 2 medium ones get a line appended.
change_one_percent() {
    python3 - "$data" "$1" <<'PY'
import os, sys
root, line = sys.argv[1], sys.argv[2] + "\n"
for d in range(200):
    with open(os.path.join(root, "small", f"d{d:03}", "f000.txt"), "a") as out:
        out.write(line)
for f in (0, 1):
    with open(os.path.join(root, "medium", f"m{f:03}.bin"), "ab") as out:
        out.write(line.encode())
PY
}
change_one_percent changed
measure apply_1pct "$bin" apply -c "$bench/bench.yaml" --state-dir "$bench/state"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$bench/restic-cache
restic init -q -r "$bench/restic" >/dev/null
measure restic_first restic -q -r "$bench/restic" backup "$data"
measure restic_unchanged restic -q -r "$bench/restic" backup "$data"
change_one_percent "changed again"
measure restic_1pct restic -q -r "$bench/restic" backup "$data"

# plan of a generated 1,000-node pipeline
python3 - "$bench/plan1000.yaml" <<'PY'
import sys
lines = ["collect_points:"]
for c in range(50):
    lines += [f"  cp{c}:", "    engine: files", f"    path: /var/backups/cp{c}", "    sources:"]
    lines += [f"      s{s}: {{engine: files, path: /srv/cp{c}/s{s}}}" for s in range(10)]
lines.append("backup_points:")
for b in range(4):
    lines += [f"  bp{b}:", "    engine: rolling_archive", f"    url: \"sftp://h{b}/b/{{name}}/{{Y}}.tar.zst\"", "    keep: {daily: 7}"]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
measure plan_1000 "$bin" plan -c "$bench/plan1000.yaml" --state-dir "$bench/plan-state"

python3 - "$bench/results.txt" "$unchanged_written" "$bench" <<'PY'
import os, sys
results = {}
for line in open(sys.argv[1]):
    label, seconds, kib = line.split()
    results[label] = (float(seconds), int(kib))
def row(label, reference=None, target=None):
    seconds, kib = results[label]
    ratio = f"{seconds / results[reference][0]:.2f}x {reference}" if reference else ""
    print(f"{label:18} {seconds:8.2f} s {kib / 1024:8.1f} MiB  {ratio:24} {target or ''}")
print(f"{'':18} {'wall':>10} {'peak RSS':>12}  ratio")
row("tar_zstd")
row("apply_first", "tar_zstd", "(target <= 1.2x)")
row("apply_unchanged", "restic_unchanged", "(target <= 0.5x)")
row("apply_1pct", "restic_1pct", "(target <= 1.0x)")
row("restic_first")
row("restic_unchanged")
row("restic_1pct")
row("plan_1000", None, "(target < 0.5 s)")
print(f"bytes written to the backup point by the unchanged apply: {sys.argv[2]}")
print(f"peak RSS of apply: {max(results[k][1] for k in results if k.startswith('apply')) / 1024:.1f} MiB (target < 150 MiB)")
size = lambda p: os.path.getsize(p)
print(f"archive sizes: polyarchiv {size(sys.argv[3] + '/backups/bench.tar.zst') / 2**20:.1f} MiB, tar|zstd -1 {size(sys.argv[3] + '/tar.tar.zst') / 2**20:.1f} MiB")
PY
