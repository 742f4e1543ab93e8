#!/usr/bin/env bash
# Runs the pier-vector benchmarks whose results are in ../BENCH_RESULTS.md, one after the
# other (never in parallel: each measures single-thread search). Logs go to $OUT.
#
# Needs: the MiniLM dataset (bench/make_minilm_dataset.py) and the venv with hnswlib and
# faiss-cpu (see bench/compare_hnswlib_faiss.py). About 20 minutes on the 2-core machine.
#
#   crates/pier-vector/bench/run_benchmarks.sh [base.npy] [queries.npy]
set -euo pipefail
cd "$(dirname "$0")/../../.."

DATA=${1:-/work/cache/vectors/minilm_100k.npy}
QUERIES=${2:-/work/cache/vectors/minilm_queries.npy}
OUT=${OUT:-/work/cache/vectors/results}
VENV=${VENV:-/work/venv-vecbench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-vector}
EF=10,16,24,32,48,64,96,128,256
mkdir -p "$OUT"

cargo build --release -p pier-vector --example vector_bench
BENCH=$CARGO_TARGET_DIR/release/examples/vector_bench
rm -f "$OUT/gt_l2_k10.bin"  # ground truth shared by the L2 runs below, computed once
COMMON=(--data "$DATA" --queries "$QUERIES" --nq 1000 --m 16 --ef-construction 128 --threads 2 --ef $EF
        --gt-cache "$OUT/gt_l2_k10.bin")

# pier-vector, f16 (the default storage), with filtered search.
"$BENCH" "${COMMON[@]}" --storage f16 --filtered 0.5,0.1,0.01 2>&1 | tee "$OUT/pier_f16.log"
# pier-vector, f32.
"$BENCH" "${COMMON[@]}" --storage f32 2>&1 | tee "$OUT/pier_f32.log"
# The same with usearch's built-in distance kernels, to show what the tuning changed.
PIER_VECTOR_BUILTIN_KERNELS=1 "$BENCH" "${COMMON[@]}" --storage f16 --ef 16,32,64,128 2>&1 | tee "$OUT/pier_f16_builtin.log"
PIER_VECTOR_BUILTIN_KERNELS=1 "$BENCH" "${COMMON[@]}" --storage f32 --ef 16,32,64,128 2>&1 | tee "$OUT/pier_f32_builtin.log"
# hnswlib and faiss on the same files and parameters.
"$VENV/bin/python" crates/pier-vector/bench/compare_hnswlib_faiss.py \
    --data "$DATA" --queries "$QUERIES" --nq 1000 --m 16 --ef-construction 128 --threads 2 --ef $EF \
    2>&1 | tee "$OUT/hnswlib_faiss.log"
# 1M synthetic 384-d vectors, f16: build rate and memory at scale.
"$BENCH" --synthetic 1000000 --dim 384 --storage f16 --nq 200 --ef 16,32,64,128 --repeat 1 \
    2>&1 | tee "$OUT/pier_1m_f16.log"
