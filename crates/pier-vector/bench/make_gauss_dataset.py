#!/usr/bin/env python3
"""The kind of data `pier bench vectors` pushes, as .npy files for `vector_bench` and
`compare_hnswlib_faiss.py`, so the index alone and the libraries can be measured on the same
distribution as the API benchmark.

`pier bench vectors` (crates/pier-cli/src/bench_vector.rs, `synthetic`) draws 1,000 centres
from N(0, 1) in 384 dimensions, adds N(0, 0.35²) noise per dimension and normalises each
vector. The noise spans all 384 dimensions, so the data has a high intrinsic dimension and is
much harder for HNSW than `vector_bench --synthetic` (a 32-dimensional latent space projected
to 384): more of the graph is visited per insert and per query. Same distribution, not the
same numbers (numpy's generator, not Rust's).

Usage (numpy from PyPI):
    python3 crates/pier-vector/bench/make_gauss_dataset.py --out /work/cache/vectors \
        --vectors 100000 --queries 1000
writes gauss_100k.npy and gauss_queries.npy there.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory for the .npy files")
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=1_000)
    args = ap.parse_args()

    centres = np.random.default_rng(0xC3E7).standard_normal(
        (args.clusters, args.dim), dtype=np.float32
    )

    def make(n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        x = centres[rng.integers(0, args.clusters, n)]
        x = x + np.float32(0.35) * rng.standard_normal((n, args.dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)

    os.makedirs(args.out, exist_ok=True)
    name = f"gauss_{args.vectors // 1000}k.npy" if args.vectors % 1000 == 0 else f"gauss_{args.vectors}.npy"
    np.save(os.path.join(args.out, name), make(args.vectors, 1))
    np.save(os.path.join(args.out, "gauss_queries.npy"), make(args.queries, 2))
    print(f"wrote {name} and gauss_queries.npy in {args.out}")


if __name__ == "__main__":
    main()
