#!/usr/bin/env bash
# Benchmark of the data path (issue 13): polyarchiv against tar|zstd, restic, pg_dump|zstd and git on the same
# data, side by side in one run. Prints wall time, peak RSS, local disk and the ratios against each target;
# asserts nothing. Usage: scripts/bench.sh [DIR] (default /tmp/polyarchiv-bench). Run it as root (PostgreSQL
# runs as the postgres user); it takes about five minutes, plus the first generation of the data.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:-/tmp/polyarchiv-bench}
scripts/install-deps.sh build
need=()
for tool in restic zstd git /usr/bin/time; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then apt-get install -y -qq -o DPkg::Lock::Timeout=600 restic zstd git time >/dev/null; fi
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)/polyarchiv
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

data=$bench/data
if [ ! -f "$bench/.generated-2" ]; then
    echo "generating the data set in $data (deterministic, about 1.1 GiB)…"
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
# 20,000 small text files in 200 directories
for d in range(200):
    directory = os.path.join(root, "small", f"d{d:03}")
    os.makedirs(directory)
    for f in range(100):
        with open(os.path.join(directory, f"f{f:03}.txt"), "w") as out:
            out.write(text(rng.randint(200, 12000)))
# 200 files of 1-5 MiB, half incompressible
os.makedirs(os.path.join(root, "medium"))
for f in range(200):
    size = rng.randint(1, 5) * 1024 * 1024
    with open(os.path.join(root, "medium", f"m{f:03}.bin"), "wb") as out:
        out.write(rng.randbytes(size) if f % 2 else text(size).encode())
# three large files: 100 MiB of text, 100 MiB random, a 200 MiB SQL-like dump
os.makedirs(os.path.join(root, "large"))
for f in range(2):
    with open(os.path.join(root, "large", f"l{f}.dat"), "wb") as out:
        for _ in range(100):
            out.write(rng.randbytes(1024 * 1024) if f else text(1024 * 1024).encode())
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
    touch "$bench/.generated-2"
fi
input_kib=$(du -sk "$data" | cut -f1)
echo "data: $(du -sh "$data" | cut -f1) in $(find "$data" -type f | wc -l) files"

results=$bench/results.txt
measure() {  # label, command...: appends "label seconds peak_kib"
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$bench/time.txt" "$@" >"$bench/$label.log" 2>&1 || { echo "$label failed:"; tail -5 "$bench/$label.log"; exit 1; }
    read -r seconds kib <"$bench/time.txt"
    echo "$label $seconds $kib" >>"$results"
}
note() { echo "$1 $2" >>"$results"; }  # label, value
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
    sleep 2.1  # past the stat cache's racy window, as a change between two nightly runs is
}
# Files (with size and mtime) under the directories, but the journal: what a run wrote.
snapshot() { find "$@" -path '*/journal.sqlite*' -prune -o -type f -printf '%p %s %T@\n' 2>/dev/null | sort; }

out=$bench/out
pg_stop() { [ -d "$out/pg/data" ] && su postgres -c "$pgbin/pg_ctl -D $out/pg/data -m fast stop" >/dev/null 2>&1 || true; }
trap pg_stop EXIT
pg_stop
if [ -d "$out" ]; then
    rm -rf "$out"
    # ext4 scans the inodes it freed in the last 30 s before it reuses them: creating 20,000 files right
    # after deleting as many costs seconds that have nothing to do with what is measured.
    sync
    echo "letting the file system settle after deleting the last run's output (35 s)…"
    sleep 35
fi
mkdir -p "$out"
: >"$results"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$out/restic-cache

cat >"$out/archive.yaml" <<YAML
collect_points:
  bench:
    engine: files
    path: $out/collect
    sources:
      tree: {engine: files, path: $data}
backup_points:
  local:
    engine: archive
    url: "file://$out/backups/{name}.tar.zst"
    compression_level: 1
    verify: false  # like with like: tar does not read its archive back
YAML
sync
echo "tar, polyarchiv (files → files → archive), restic…"
measure tar_zstd tar -I 'zstd -1 -T0' -cf "$out/tar.tar.zst" -C "$data" .
measure apply_first "$bin" apply -c "$out/archive.yaml" --state-dir "$out/state"
before=$(snapshot "$out/state" "$out/collect" "$out/backups")
measure apply_unchanged "$bin" apply -c "$out/archive.yaml" --state-dir "$out/state"
after=$(snapshot "$out/state" "$out/collect" "$out/backups")
note unchanged_files_written "$(diff <(echo "$before") <(echo "$after") | grep -c '^>' || true)"
change_one_percent changed
measure apply_1pct "$bin" apply -c "$out/archive.yaml" --state-dir "$out/state"
change_one_percent "changed again"
measure apply_1pct_again "$bin" apply -c "$out/archive.yaml" --state-dir "$out/state"
note disk_separate_kib "$(du -sk "$out/state" "$out/collect" | awk '{s += $1} END {print s}')"
# Blocks the state directory shares with the backup point (its archive is the upload's hard link) are the backup's.
note disk_beside_output_kib "$(( $(du -sk "$out/backups" "$out/state" "$out/collect" | awk '{s += $1} END {print s}') - $(du -sk "$out/backups" | cut -f1) ))"
note input_kib "$input_kib"
restic init -q -r "$out/restic" >/dev/null
measure restic_first restic -q -r "$out/restic" backup "$data"
measure restic_unchanged restic -q -r "$out/restic" backup "$data"
change_one_percent "restic"
measure restic_1pct restic -q -r "$out/restic" backup "$data"

echo "polyarchiv with a restic backup point…"
cat >"$out/restic.yaml" <<YAML
collect_points:
  bench:
    engine: files
    path: $out/restic-collect
    sources:
      tree: {engine: files, path: $data}
backup_points:
  repo:
    engine: restic
    repository: $out/restic-bp
    password: bench
    check: false
    verify: false
YAML
restic init -q -r "$out/restic-bp" >/dev/null
restic init -q -r "$out/restic-alone" >/dev/null
measure restic_alone_first restic -q -r "$out/restic-alone" backup "$data"
measure apply_restic_first "$bin" apply -c "$out/restic.yaml" --state-dir "$out/restic-state"

echo "polyarchiv with a git collect point, and git itself…"
cat >"$out/git.yaml" <<YAML
collect_points:
  bench:
    engine: git
    path: $out/git-collect
    sources:
      tree: {engine: files, path: $data}
YAML
git_commit() { git -c gc.auto=0 --git-dir="$out/git-alone" --work-tree="$data" add -A && git -c gc.auto=0 --git-dir="$out/git-alone" --work-tree="$data" -c user.name=bench -c user.email=bench@localhost commit -q -m "$1"; }
git init -q --bare "$out/git-alone"
measure git_first bash -c "$(declare -f git_commit); out='$out' data='$data' git_commit first"
measure apply_git_first "$bin" apply -c "$out/git.yaml" --state-dir "$out/git-state"
change_one_percent "git"
measure git_1pct bash -c "$(declare -f git_commit); out='$out' data='$data' git_commit second"
measure apply_git_1pct "$bin" apply -c "$out/git.yaml" --state-dir "$out/git-state"

if [ -n "$pgbin" ] && id postgres >/dev/null 2>&1; then
    echo "PostgreSQL: pg_dump | zstd against the postgresql source…"
    mkdir -p "$out/pg" && chown postgres "$out/pg"
    su postgres -c "$pgbin/initdb -D $out/pg/data -U postgres -A trust --no-sync -E UTF8" >/dev/null
    su postgres -c "$pgbin/pg_ctl -D $out/pg/data -l $out/pg/log -o '-p 15499 -k $out/pg -c listen_addresses=127.0.0.1 -c fsync=off' -w start" >/dev/null
    "$pgbin/pgbench" -i -q -s 17 -h 127.0.0.1 -p 15499 -U postgres postgres >/dev/null 2>&1
    note pg_database_kib "$(( $("$pgbin/psql" -h 127.0.0.1 -p 15499 -U postgres -Atc "select pg_database_size('postgres')") / 1024 ))"
    cat >"$out/pg.yaml" <<YAML
collect_points:
  db:
    engine: files
    path: $out/pg-collect
    sources:
      pg: {engine: postgresql, database: postgres, host: 127.0.0.1, port: 15499, user: postgres}
backup_points:
  local:
    engine: archive
    url: "file://$out/pg-backups/{name}.tar.zst"
    compression_level: 1
    verify: false
YAML
    measure pg_dump_zstd bash -c "'$pgbin/pg_dump' -h 127.0.0.1 -p 15499 -U postgres postgres | zstd -1 -T0 -q > '$out/pg.sql.zst'"
    measure apply_pg "$bin" apply -c "$out/pg.yaml" --state-dir "$out/pg-state"
    pg_stop
fi

python3 - "$out/plan1000.yaml" <<'PY'
import sys
lines = ["collect_points:"]
for c in range(50):
    lines += [f"  cp{c}:", "    engine: files", f"    path: /var/backups/cp{c}", "    sources:"]
    lines += [f"      s{s}: {{engine: files, path: /srv/cp{c}/s{s}}}" for s in range(10)]
lines.append("backup_points:")
for b in range(4):
    lines += [f"  bp{b}:", "    engine: rolling_archive", f"    url: \"sftp://h{b}/b/{{name}}/{{Y}}.tar.zst\"", "    keep: {daily: 7}", "    verify: false"]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
measure plan_1000 "$bin" plan -c "$out/plan1000.yaml" --state-dir "$out/plan-state"

python3 - "$results" "$out" <<'PY'
import os, sys
results = {}
for line in open(sys.argv[1]):
    fields = line.split()
    results[fields[0]] = [float(f) for f in fields[1:]]
out = sys.argv[2]
def seconds(label): return results[label][0]
rows = []
def row(what, ours, theirs, target, better="lower"):
    if ours not in results or theirs not in results:
        return
    ratio = seconds(ours) / seconds(theirs)
    met = ratio <= target if better == "lower" else ratio >= target
    rows.append((what, f"{seconds(theirs):.2f} s", f"{seconds(ours):.2f} s", f"{ratio:.2f}x", f"{'<=' if better == 'lower' else '>='} {target}x",
                 "met" if met else "MISSED"))
row("first apply / tar -I 'zstd -1 -T0'", "apply_first", "tar_zstd", 1.5)
row("unchanged apply / restic unchanged", "apply_unchanged", "restic_unchanged", 0.3)
row("1% changed / restic 1%", "apply_1pct", "restic_1pct", 1.0)
row("1% changed again / restic 1%", "apply_1pct_again", "restic_1pct", 1.0)
row("restic backup point / restic alone", "apply_restic_first", "restic_alone_first", 1.2)
row("git collect point first / git add+commit", "apply_git_first", "git_first", 1.0)
row("git collect point 1% / git add+commit", "apply_git_1pct", "git_1pct", 1.0)
if "apply_pg" in results:
    # Throughput ratio: their time over ours.
    ratio = seconds("pg_dump_zstd") / seconds("apply_pg")
    rows.append(("postgresql throughput / pg_dump|zstd", f"{seconds('pg_dump_zstd'):.2f} s", f"{seconds('apply_pg'):.2f} s", f"{ratio:.2f}x", ">= 0.9x",
                 "met" if ratio >= 0.9 else "MISSED"))
width = max(len(r[0]) for r in rows)
print(f"\n{'':{width}}  {'reference':>10}  {'polyarchiv':>10}  {'ratio':>7}  {'target':>8}")
for r in rows:
    print(f"{r[0]:{width}}  {r[1]:>10}  {r[2]:>10}  {r[3]:>7}  {r[4]:>8}  {r[5]}")
written = int(results["unchanged_files_written"][0])
print(f"files written outside the journal by the unchanged apply: {written} (target 0) {'met' if written == 0 else 'MISSED'}")
input_kib = results["input_kib"][0]
beside = results["disk_beside_output_kib"][0] / input_kib
separate = results["disk_separate_kib"][0] / input_kib
print(f"local disk, state + files collect point: {beside:.2f}x the input counting the archive the store shares with the "
      f"backup point (a hard link) as the backup's, {separate:.2f}x counting it twice (target <= 1.2x) {'met' if beside <= 1.2 else 'MISSED'}")
peak = max(v[1] for k, v in results.items() if k.startswith("apply") and len(v) > 1) / 1024
print(f"peak RSS of apply: {peak:.1f} MiB (target < 150 MiB) {'met' if peak < 150 else 'MISSED'}")
print(f"plan of 1,000 stages: {seconds('plan_1000'):.2f} s (target < 0.5 s) {'met' if seconds('plan_1000') < 0.5 else 'MISSED'}")
if "pg_database_kib" in results:
    print(f"PostgreSQL database: {results['pg_database_kib'][0] / 1024:.0f} MiB")
size = lambda p: os.path.getsize(p) / 2**20
print(f"archive sizes: polyarchiv {size(out + '/backups/bench.tar.zst'):.1f} MiB, tar|zstd -1 {size(out + '/tar.tar.zst'):.1f} MiB")
print("\nevery figure:")
for label, values in results.items():
    print(f"  {label:24} {' '.join(f'{v:g}' for v in values)}")
PY
