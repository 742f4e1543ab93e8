//! Benchmark of `pier-vector`: build rate, memory, and the recall/QPS/latency trade-off of
//! HNSW search against exact ground truth. The numbers go to `BENCH_RESULTS.md`; the same
//! parameters run through hnswlib and faiss with `bench/compare_hnswlib_faiss.py`.
//!
//! ```text
//! cargo run --release -p pier-vector --example vector_bench -- --help
//! ```

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pier_vector::{Metric, SearchOptions, Storage, VectorIndex, VectorParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HELP: &str = "\
vector_bench: build a pier-vector index and sweep ef against exact ground truth.

Data (one of):
  --data PATH          base vectors: float32 .npy [N, D], or raw little-endian f32 (needs --dim)
  --queries PATH       query vectors, same formats (default: --nq vectors held out of --data)
  --synthetic N        generate N clustered vectors (queries drawn from the same clusters)
  --dim D              dimension (required for raw files and --synthetic)
  --clusters C         clusters for --synthetic (default 1000)
  --limit N            use only the first N base vectors

Index:
  --metric l2|ip|cos   (default l2)
  --storage f32|f16|i8 (default f32)
  --m M                HNSW M (default 16)
  --ef-construction E  (default 128)
  --threads T          insert threads (default 2)

Search:
  --nq Q               queries (default 1000)
  --k K                top k (default 10)
  --ef LIST            comma-separated ef sweep (default 10,16,24,32,48,64,96,128,256)
  --filtered LIST      also measure filtered search passing these fractions, e.g. 0.5,0.1,0.01
  --repeat R           run each ef R times and keep the fastest run (default 3; the
                       machine is shared, and the best run is the least disturbed one)
  --skip-gt            no ground truth (recall not reported; for memory/build runs)
  --gt-cache PATH      reuse the unfiltered ground truth from PATH (written there if missing;
                       delete it when data, queries, --nq, --k or --metric change)
";

struct Args {
    data: Option<PathBuf>,
    queries: Option<PathBuf>,
    synthetic: Option<usize>,
    dim: Option<usize>,
    clusters: usize,
    limit: Option<usize>,
    metric: Metric,
    storage: Storage,
    m: usize,
    ef_construction: usize,
    threads: usize,
    nq: usize,
    k: usize,
    ef: Vec<usize>,
    filtered: Vec<f64>,
    repeat: usize,
    skip_gt: bool,
    gt_cache: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        data: None,
        queries: None,
        synthetic: None,
        dim: None,
        clusters: 1000,
        limit: None,
        metric: Metric::L2,
        storage: Storage::F32,
        m: 16,
        ef_construction: 128,
        threads: 2,
        nq: 1000,
        k: 10,
        ef: vec![10, 16, 24, 32, 48, 64, 96, 128, 256],
        filtered: Vec::new(),
        repeat: 3,
        skip_gt: false,
        gt_cache: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            print!("{HELP}");
            std::process::exit(0);
        }
        if flag == "--skip-gt" {
            a.skip_gt = true;
            continue;
        }
        let val = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--data" => a.data = Some(val.into()),
            "--queries" => a.queries = Some(val.into()),
            "--synthetic" => a.synthetic = Some(num(&val)?),
            "--dim" => a.dim = Some(num(&val)?),
            "--clusters" => a.clusters = num(&val)?,
            "--limit" => a.limit = Some(num(&val)?),
            "--metric" => {
                a.metric = match val.as_str() {
                    "l2" => Metric::L2,
                    "ip" => Metric::InnerProduct,
                    "cos" | "cosine" => Metric::Cosine,
                    _ => return Err(format!("unknown metric {val}")),
                }
            }
            "--storage" => {
                a.storage = match val.as_str() {
                    "f32" => Storage::F32,
                    "f16" => Storage::F16,
                    "i8" => Storage::I8,
                    _ => return Err(format!("unknown storage {val}")),
                }
            }
            "--m" => a.m = num(&val)?,
            "--ef-construction" => a.ef_construction = num(&val)?,
            "--threads" => a.threads = num(&val)?,
            "--nq" => a.nq = num(&val)?,
            "--gt-cache" => a.gt_cache = Some(val.into()),
            "--repeat" => a.repeat = num(&val)?.max(1),
            "--k" => a.k = num(&val)?,
            "--ef" => a.ef = val.split(',').map(num).collect::<Result<Vec<_>, _>>()?,
            "--filtered" => {
                a.filtered = val
                    .split(',')
                    .map(|v| v.parse::<f64>().map_err(|e| format!("--filtered: {e}")))
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err(format!("unknown flag {flag} (see --help)")),
        }
    }
    if a.data.is_none() && a.synthetic.is_none() {
        return Err("give --data PATH or --synthetic N (see --help)".into());
    }
    Ok(a)
}

/// Loads a float32 .npy (C order, 2-D) or a raw f32 file.
fn load_vectors(path: &PathBuf, dim: Option<usize>) -> Result<(Vec<f32>, usize), String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (body, dim) = if bytes.starts_with(b"\x93NUMPY") {
        let (hlen, hstart) = if bytes[6] == 1 {
            (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
        } else {
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        };
        let header = String::from_utf8_lossy(&bytes[hstart..hstart + hlen]).to_string();
        if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
            return Err(format!(
                "{}: need a C-order float32 .npy, header {header}",
                path.display()
            ));
        }
        let shape = header
            .split("'shape': (")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .ok_or("npy header without shape")?;
        let dims: Vec<usize> = shape
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse().map_err(|e| format!("npy shape: {e}")))
            .collect::<Result<_, String>>()?;
        if dims.len() != 2 {
            return Err(format!("need a 2-D array, shape {dims:?}"));
        }
        (&bytes[hstart + hlen..], dims[1])
    } else {
        (&bytes[..], dim.ok_or("raw f32 files need --dim")?)
    };
    let v: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if !v.len().is_multiple_of(dim) {
        return Err(format!("{} values is not a multiple of dim {dim}", v.len()));
    }
    Ok((v, dim))
}

/// Embedding-like synthetic vectors. Real embeddings have a low intrinsic dimension: they lie
/// near a low-dimensional, clustered manifold inside the 384-d space. So: cluster centres in a
/// 32-d latent space, members = centre + latent noise, mapped to `dim` dimensions by a fixed
/// random linear map, plus a little isotropic noise. (Uniform or isotropic-Gaussian clusters in
/// 384-d make every point almost equidistant, which is much harder than real data for HNSW and
/// for any ANN index.) Queries come from the same distribution with another seed.
fn synthetic(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    const LATENT: usize = 32;
    let mut rng = StdRng::seed_from_u64(7);
    let centers: Vec<f32> = (0..clusters * LATENT)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let scale = 1.0 / (LATENT as f32).sqrt();
    let proj: Vec<f32> = (0..LATENT * dim)
        .map(|_| rng.random_range(-1.0f32..1.0) * scale)
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * dim);
    let mut z = [0f32; LATENT];
    for _ in 0..n {
        let c = rng.random_range(0..clusters);
        for (j, zj) in z.iter_mut().enumerate() {
            *zj = centers[c * LATENT + j] + rng.random_range(-0.3f32..0.3);
        }
        let start = out.len();
        out.extend((0..dim).map(|_| rng.random_range(-0.02f32..0.02)));
        let row = &mut out[start..];
        // Row-wise accumulation: contiguous inner loop, which the compiler vectorises.
        for (j, zj) in z.iter().enumerate() {
            for (x, p) in row.iter_mut().zip(&proj[j * dim..(j + 1) * dim]) {
                *x += zj * p;
            }
        }
    }
    out
}

fn normalize(v: &mut [f32], dim: usize) {
    for row in v.chunks_exact_mut(dim) {
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
        }
    }
}

/// Sum of `f(a[i], b[i])` with 8 independent accumulators, so the compiler vectorises it
/// (ground truth over 1M vectors is otherwise the slowest part of the run).
fn sum8(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] += f(x[i], y[i]);
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f(*x, *y))
        .sum();
    acc.iter().sum::<f32>() + tail
}

fn score(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 => sum8(a, b, |x, y| (x - y) * (x - y)),
        Metric::InnerProduct => sum8(a, b, |x, y| x * y),
        Metric::Cosine => {
            let d = sum8(a, b, |x, y| x * y);
            let na = sum8(a, a, |x, y| x * y).sqrt();
            let nb = sum8(b, b, |x, y| x * y).sqrt();
            d / (na * nb).max(f32::MIN_POSITIVE)
        }
    }
}

/// Exact top-k per query (multi-threaded brute force), optionally restricted by a filter.
fn ground_truth(
    metric: Metric,
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    filter: &(dyn Fn(u64) -> bool + Sync),
) -> Vec<Vec<u64>> {
    let nq = queries.len() / dim;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = vec![Vec::new(); nq];
    std::thread::scope(|s| {
        for (t, chunk) in out.chunks_mut(nq.div_ceil(threads)).enumerate() {
            let start = t * nq.div_ceil(threads);
            s.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    let q = &queries[(start + i) * dim..(start + i + 1) * dim];
                    let mut all: Vec<(f32, u64)> = base
                        .chunks_exact(dim)
                        .enumerate()
                        .filter(|(j, _)| filter(*j as u64))
                        .map(|(j, v)| {
                            let s = score(metric, q, v);
                            (if metric.higher_is_better() { -s } else { s }, j as u64)
                        })
                        .collect();
                    let kk = k.min(all.len());
                    if kk > 0 {
                        all.select_nth_unstable_by(kk - 1, |a, b| a.0.total_cmp(&b.0));
                        all.truncate(kk);
                        all.sort_by(|a, b| a.0.total_cmp(&b.0));
                    }
                    *slot = all.into_iter().map(|x| x.1).collect();
                }
            });
        }
    });
    out
}

fn proc_status(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// CPU time of the calling thread in seconds (`/proc/thread-self/schedstat`, ns resolution).
/// The machine is shared: wall-clock rates fall when other jobs run, while CPU time spent by
/// our own thread barely changes, so both are reported.
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// CPU time of the whole process (all threads) in seconds, from `/proc/self/stat`.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit(") ").next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb / 1024 / 1024);
    format!(
        "nproc {nproc}, CPU \"{cpu}\", {mem} GiB RAM, loadavg {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

struct Row {
    ef: usize,
    recall: Option<f64>,
    qps: f64,
    cpu_qps: f64,
    p50: f64,
    p99: f64,
    strategies: String,
}

#[allow(clippy::too_many_arguments)]
fn sweep(
    idx: &VectorIndex,
    queries: &[f32],
    dim: usize,
    k: usize,
    efs: &[usize],
    repeat: usize,
    gt: Option<&[Vec<u64>]>,
    filter: Option<&dyn Fn(u64) -> bool>,
) -> Vec<Row> {
    let nq = queries.len() / dim;
    // Warm-up pass (page faults, caches) at the first ef.
    for q in queries.chunks_exact(dim).take(nq.min(200)) {
        let _ = idx.search(q, k, Some(efs[0]), filter);
    }
    let mut rows = Vec::new();
    for &ef in efs {
        let mut best: Option<Row> = None;
        for _ in 0..repeat {
            let mut lat = Vec::with_capacity(nq);
            let mut hits = 0usize;
            let mut wanted = 0usize;
            let mut strategies = std::collections::BTreeMap::new();
            let t0 = Instant::now();
            let c0 = thread_cpu();
            for (i, q) in queries.chunks_exact(dim).enumerate() {
                let t = Instant::now();
                let opts = SearchOptions {
                    k,
                    ef: Some(ef),
                    filter,
                    ..Default::default()
                };
                let res = idx.search_with(q, &opts).expect("search");
                lat.push(t.elapsed());
                *strategies
                    .entry(format!("{:?}", res.strategy))
                    .or_insert(0usize) += 1;
                if let Some(gt) = gt {
                    let truth: HashSet<u64> = gt[i].iter().copied().collect();
                    hits += res
                        .hits
                        .iter()
                        .filter(|(key, _)| truth.contains(key))
                        .count();
                    wanted += gt[i].len();
                }
            }
            let total = t0.elapsed().as_secs_f64();
            let cpu = thread_cpu() - c0;
            lat.sort();
            let row = Row {
                ef,
                recall: gt.map(|_| hits as f64 / wanted.max(1) as f64),
                qps: nq as f64 / total,
                cpu_qps: nq as f64 / cpu.max(1e-9),
                p50: percentile(&lat, 0.5),
                p99: percentile(&lat, 0.99),
                strategies: strategies
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            if best.as_ref().is_none_or(|b| row.qps > b.qps) {
                best = Some(row);
            }
        }
        rows.extend(best);
    }
    rows
}

fn print_rows(rows: &[Row], show_strategy: bool) {
    if show_strategy {
        println!(
            "| ef | recall@10 | QPS (1 thread, wall) | QPS per CPU-second | p50 ms | p99 ms | strategy (queries) |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---|");
    } else {
        println!(
            "| ef | recall@10 | QPS (1 thread, wall) | QPS per CPU-second | p50 ms | p99 ms |"
        );
        println!("|---:|---:|---:|---:|---:|---:|");
    }
    for r in rows {
        let recall = r.recall.map_or("-".into(), |x| format!("{x:.4}"));
        let extra = if show_strategy {
            format!(" {} |", r.strategies)
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.3} | {:.3} |{extra}",
            r.ef, recall, r.qps, r.cpu_qps, r.p50, r.p99
        );
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!("machine: {}", machine());
    let t = Instant::now();
    let rss0 = proc_status("VmRSS:");
    let (mut base, mut queries, dim, source) = if let Some(n) = args.synthetic {
        let dim = args.dim.unwrap_or(384);
        let base = synthetic(n, dim, args.clusters, 1);
        let queries = synthetic(args.nq, dim, args.clusters, 2);
        (
            base,
            queries,
            dim,
            format!("synthetic clustered, {} clusters", args.clusters),
        )
    } else {
        let path = args.data.clone().expect("checked");
        let (mut base, dim) = load_vectors(&path, args.dim).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
        let queries = match &args.queries {
            Some(q) => load_vectors(q, Some(dim)).map(|x| x.0).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(2)
            }),
            None => {
                let keep = base.len() - args.nq * dim;
                base.split_off(keep)
            }
        };
        (base, queries, dim, path.display().to_string())
    };
    if let Some(limit) = args.limit {
        base.truncate(limit * dim);
    }
    queries.truncate(args.nq * dim);
    if args.metric == Metric::Cosine || args.storage == Storage::I8 {
        normalize(&mut base, dim);
        normalize(&mut queries, dim);
    }
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    println!(
        "data: {source}: {n} x {dim} base, {nq} queries (loaded in {:.1}s)",
        t.elapsed().as_secs_f64()
    );
    let data_bytes = proc_status("VmRSS:").saturating_sub(rss0);

    let params = VectorParams {
        dimension: dim,
        metric: args.metric,
        storage: args.storage,
        m: args.m,
        ef_construction: args.ef_construction,
        ef_search: 64,
        linear_build_threshold: 0,
    };
    println!(
        "index: metric {:?}, storage {:?}, M {}, ef_construction {}, insert threads {}",
        args.metric, args.storage, args.m, args.ef_construction, args.threads
    );
    let idx = VectorIndex::new(params).expect("params");
    println!("backend SIMD: {}", idx.hardware_acceleration());
    let rss_before = proc_status("VmRSS:");
    let cpu0 = process_cpu();
    let t = Instant::now();
    // Insert in batches so progress is visible on long runs.
    let batch = 50_000;
    let rows: Vec<[&[f32]; 1]> = base.chunks_exact(dim).map(|v| [v]).collect();
    for (b, chunk) in rows.chunks(batch).enumerate() {
        let docs: Vec<(u64, &[&[f32]])> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| ((b * batch + i) as u64, r.as_slice()))
            .collect();
        idx.upsert_batch(&docs, args.threads).expect("insert");
        if n > 2 * batch {
            let done = ((b + 1) * batch).min(n);
            eprintln!(
                "  inserted {done} / {n} ({:.0} vectors/s, {:.0} per CPU-second; index {:.1} MiB, RSS {:.1} MiB)",
                done as f64 / t.elapsed().as_secs_f64(),
                done as f64 / (process_cpu() - cpu0).max(1e-9),
                mib(idx.memory_usage().total_bytes),
                mib(proc_status("VmRSS:"))
            );
        }
    }
    let build = t.elapsed().as_secs_f64();
    let build_cpu = process_cpu() - cpu0;
    drop(rows);
    let rss_after = proc_status("VmRSS:");
    let mem = idx.memory_usage();
    println!(
        "build: {n} vectors in {build:.1}s = {:.0} vectors/s ({} threads); \
         {build_cpu:.1} CPU-s = {:.0} vectors per CPU-second",
        n as f64 / build,
        args.threads,
        n as f64 / build_cpu.max(1e-9)
    );
    println!(
        "memory: index reports {:.1} MiB (graph {:.1}, vectors {:.1}, key registry {:.1}); \
         process RSS grew {:.1} MiB during build (dataset itself {:.1} MiB); peak RSS {:.1} MiB",
        mib(mem.total_bytes),
        mib(mem.graph_bytes),
        mib(mem.vector_bytes),
        mib(mem.registry_bytes),
        mib(rss_after.saturating_sub(rss_before)),
        mib(data_bytes),
        mib(proc_status("VmHWM:"))
    );

    let gt = if args.skip_gt {
        None
    } else {
        let t = Instant::now();
        let cached = args
            .gt_cache
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| {
                (b.len() == nq * args.k * 8).then(|| {
                    b.chunks_exact(args.k * 8)
                        .map(|row| {
                            row.chunks_exact(8)
                                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                                .collect::<Vec<u64>>()
                        })
                        .collect::<Vec<_>>()
                })
            });
        let gt = match cached {
            Some(gt) => {
                println!("ground truth: read from the cache");
                gt
            }
            None => {
                let gt = ground_truth(args.metric, &base, &queries, dim, args.k, &|_| true);
                println!(
                    "ground truth: exact top-{} for {nq} queries in {:.1}s",
                    args.k,
                    t.elapsed().as_secs_f64()
                );
                if let Some(p) = &args.gt_cache
                    && gt.iter().all(|r| r.len() == args.k)
                {
                    let bytes: Vec<u8> =
                        gt.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
                    let _ = std::fs::write(p, bytes);
                }
                gt
            }
        };
        Some(gt)
    };
    println!(
        "\nsearch, k={}, single thread, unfiltered, best of {} runs per ef:",
        args.k, args.repeat
    );
    let rows = sweep(
        &idx,
        &queries,
        dim,
        args.k,
        &args.ef,
        args.repeat,
        gt.as_deref(),
        None,
    );
    print_rows(&rows, false);

    for &frac in &args.filtered {
        // A key-hash filter: passes `frac` of the documents, uncorrelated with the vectors.
        let cut = (frac * 1_000_000.0) as u64;
        let f = move |key: u64| (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 1_000_000 < cut;
        let gt = if args.skip_gt {
            None
        } else {
            Some(ground_truth(args.metric, &base, &queries, dim, args.k, &f))
        };
        println!(
            "\nsearch, k={}, single thread, filter passing {:.1}% of documents:",
            args.k,
            frac * 100.0
        );
        let efs: Vec<usize> = args
            .ef
            .iter()
            .copied()
            .filter(|e| *e >= 32)
            .take(3)
            .collect();
        let rows = sweep(
            &idx,
            &queries,
            dim,
            args.k,
            &efs,
            args.repeat,
            gt.as_deref(),
            Some(&f),
        );
        print_rows(&rows, true);
    }
    println!(
        "\nloadavg at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
