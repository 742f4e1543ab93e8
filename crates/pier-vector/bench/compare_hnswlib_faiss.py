#!/usr/bin/env python3
"""hnswlib and faiss-cpu on the same files and parameters as `vector_bench`, same numbers.

Reports, per library: build time and vectors/s (with --threads insert threads), RSS growth
during the build, and for each ef: recall@k against exact ground truth, single-thread QPS,
p50/p99 latency.

QPS is measured the way the Rust bench measures it: one query per call, single thread,
timed around each call. That adds Python call overhead (a few microseconds) to every query,
so the script also prints the "batch" QPS (one call with all queries, still one thread),
which is the library's own loop. Compare pier-vector against the batch figure to be fair
to the C++ libraries.

Setup (outside the repository):
    python3 -m venv /work/venv-vecbench
    /work/venv-vecbench/bin/pip install numpy hnswlib faiss-cpu packaging

Example:
    /work/venv-vecbench/bin/python crates/pier-vector/bench/compare_hnswlib_faiss.py \
        --data /work/cache/vectors/minilm_100k.npy --queries /work/cache/vectors/minilm_queries.npy \
        --m 16 --ef-construction 128 --threads 2 --ef 10,16,24,32,48,64,96,128,256
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def machine() -> str:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    return f"nproc {os.cpu_count()}, CPU \"{cpu}\", python {platform.python_version()}, loadavg {load}"


def rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def load(path: str, dim: int | None) -> np.ndarray:
    if path.endswith(".npy"):
        a = np.load(path)
    else:
        a = np.fromfile(path, dtype="<f4").reshape(-1, dim)
    return np.ascontiguousarray(a, dtype=np.float32)


def ground_truth(base: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    out = np.zeros((len(queries), k), dtype=np.int64)
    if metric == "l2":
        norms = (base.astype(np.float64) ** 2).sum(1)
    for s in range(0, len(queries), 100):
        q = queries[s : s + 100]
        if metric == "l2":
            d = norms[None, :] - 2.0 * (q.astype(np.float64) @ base.T.astype(np.float64))
        else:  # ip / cos (inputs already normalised for cos): larger is better
            d = -(q.astype(np.float64) @ base.T.astype(np.float64))
        idx = np.argpartition(d, k, axis=1)[:, :k]
        order = np.take_along_axis(d, idx, 1).argsort(1)
        out[s : s + 100] = np.take_along_axis(idx, order, 1)
    return out


def recall(found: np.ndarray, gt: np.ndarray) -> float:
    k = gt.shape[1]
    return float(np.mean([len(set(f[:k]) & set(g)) / k for f, g in zip(found, gt)]))


def sweep(name, set_ef, search_one, search_batch, queries, gt, k, efs, repeat):
    for q in queries[: min(200, len(queries))]:  # warm-up
        search_one(q)
    print(f"\n{name}: search, k={k}, single thread, best of {repeat} runs per ef")
    print(
        "| ef | recall@10 | QPS (1 thread, per-call, wall) | QPS (1 thread, batch call, wall) "
        "| batch QPS per CPU-second | p50 ms | p99 ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for ef in efs:
        set_ef(ef)
        best = None
        for _ in range(repeat):
            lat = np.zeros(len(queries))
            found = np.zeros((len(queries), k), dtype=np.int64)
            t0 = time.perf_counter()
            for i, q in enumerate(queries):
                t = time.perf_counter()
                found[i] = search_one(q)
                lat[i] = time.perf_counter() - t
            total = time.perf_counter() - t0
            t = time.perf_counter()
            c = time.thread_time()
            search_batch(queries)
            cpu = time.thread_time() - c
            batch = time.perf_counter() - t
            row = (len(queries) / total, len(queries) / batch, lat, recall(found, gt), len(queries) / max(cpu, 1e-9))
            if best is None or row[1] > best[1]:
                best = row
        qps, bqps, lat, rec, cqps = best
        print(
            f"| {ef} | {rec:.4f} | {qps:.0f} | {bqps:.0f} | {cqps:.0f} "
            f"| {np.percentile(lat, 50) * 1e3:.3f} | {np.percentile(lat, 99) * 1e3:.3f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", help="default: the last --nq vectors of --data are held out")
    ap.add_argument("--dim", type=int)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--metric", choices=["l2", "ip", "cos"], default="l2")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,256")
    ap.add_argument("--libs", default="hnswlib,faiss")
    ap.add_argument("--repeat", type=int, default=3, help="runs per ef; the fastest is kept (shared machine)")
    args = ap.parse_args()
    efs = [int(x) for x in args.ef.split(",")]

    print("machine:", machine())
    base = load(args.data, args.dim)
    if args.queries:
        queries = load(args.queries, base.shape[1])
    else:
        base, queries = base[: -args.nq], base[-args.nq :]
    if args.limit:
        base = base[: args.limit]
    queries = queries[: args.nq]
    if args.metric == "cos":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    n, dim = base.shape
    print(f"data: {args.data}: {n} x {dim} base, {len(queries)} queries")
    t = time.perf_counter()
    gt = ground_truth(base, queries, args.k, args.metric)
    print(f"ground truth: exact top-{args.k} in {time.perf_counter() - t:.1f}s")
    ids = np.arange(n, dtype=np.int64)

    if "hnswlib" in args.libs:
        import hnswlib

        space = {"l2": "l2", "ip": "ip", "cos": "cosine"}[args.metric]
        r0 = rss()
        index = hnswlib.Index(space=space, dim=dim)
        index.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=1)
        t = time.perf_counter()
        c = time.process_time()
        index.add_items(base, ids, num_threads=args.threads)
        build = time.perf_counter() - t
        build_cpu = time.process_time() - c
        print(
            f"\nhnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''}: build {n} vectors in "
            f"{build:.1f}s = {n / build:.0f} vectors/s ({args.threads} threads); "
            f"{build_cpu:.1f} CPU-s = {n / build_cpu:.0f} vectors per CPU-second; "
            f"RSS grew {(rss() - r0) / 2**20:.1f} MiB"
        )
        index.set_num_threads(1)
        sweep(
            "hnswlib",
            index.set_ef,
            lambda q: index.knn_query(q, k=args.k, num_threads=1)[0][0],
            lambda qs: index.knn_query(qs, k=args.k, num_threads=1),
            queries,
            gt,
            args.k,
            efs,
            args.repeat,
        )
        del index

    if "faiss" in args.libs:
        import faiss

        metric = faiss.METRIC_L2 if args.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        r0 = rss()
        index = faiss.IndexHNSWFlat(dim, args.m, metric)
        index.hnsw.efConstruction = args.ef_construction
        faiss.omp_set_num_threads(args.threads)
        t = time.perf_counter()
        c = time.process_time()
        index.add(base)
        build = time.perf_counter() - t
        build_cpu = time.process_time() - c
        print(
            f"\nfaiss {faiss.__version__}: build {n} vectors in {build:.1f}s = {n / build:.0f} vectors/s "
            f"({args.threads} threads); {build_cpu:.1f} CPU-s = {n / build_cpu:.0f} vectors per CPU-second; "
            f"RSS grew {(rss() - r0) / 2**20:.1f} MiB"
        )
        faiss.omp_set_num_threads(1)

        def set_ef(ef):
            index.hnsw.efSearch = ef

        sweep(
            "faiss",
            set_ef,
            lambda q: index.search(q[None, :], args.k)[1][0],
            lambda qs: index.search(qs, args.k),
            queries,
            gt,
            args.k,
            efs,
            args.repeat,
        )
    print("\nloadavg at end:", " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
