#!/usr/bin/env bash
# Runs `pier bench ARGS...` with the `pier serve` it starts inside a cgroup-v1 memory group
# limited to $LIMIT (default 1G, page cache included); prints the group's peak, failcnt and OOM
# kills. Needs root and /sys/fs/cgroup/memory. Example (BENCHMARKS.md, push pipeline):
#   LIMIT=1G scripts/bench-memory-limit.sh push --seconds 600 --latency-seconds 60
set -euo pipefail
LIMIT=${LIMIT:-1G}
PIER=${PIER:-target/release/pier}
CG=/sys/fs/cgroup/memory/pier-bench-$$
mkdir -p "$CG"
echo "$LIMIT" > "$CG/memory.limit_in_bytes"
"$PIER" bench "$@" &
bench=$!
for _ in $(seq 1 600); do
  pid=$(pgrep -P "$bench" -f "pier serve" || true)
  [ -n "$pid" ] && break
  sleep 0.05
done
echo "$pid" > "$CG/cgroup.procs"
echo "server $pid in $CG (limit $LIMIT)"
( while kill -0 "$bench" 2>/dev/null; do
    echo "$(date +%T) usage $(( $(cat $CG/memory.usage_in_bytes) >> 20 )) MiB, $(grep -E '^(total_)?(rss|cache|mapped_file) ' $CG/memory.stat | tr '\n' ' ')"
    sleep 30; done ) &
wait "$bench"; rc=$?
echo "peak usage: $(( $(cat $CG/memory.max_usage_in_bytes) >> 20 )) MiB; failcnt $(cat $CG/memory.failcnt)"
cat "$CG/memory.oom_control"
rmdir "$CG" 2>/dev/null || true
exit $rc
