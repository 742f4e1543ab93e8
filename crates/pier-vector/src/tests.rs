use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Clustered data: real embeddings cluster, and uniform random data is an unrealistically
/// hard case for HNSW. Returns `n` base vectors and `nq` queries drawn from the same clusters.
fn clustered_pair(
    n: usize,
    nq: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let centers: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut draw = |count: usize| -> Vec<Vec<f32>> {
        (0..count)
            .map(|_| {
                let c = &centers[rng.random_range(0..clusters)];
                c.iter()
                    .map(|x| x + rng.random_range(-0.25f32..0.25))
                    .collect()
            })
            .collect()
    };
    let base = draw(n);
    let queries = draw(nq);
    (base, queries)
}

fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    clustered_pair(n, 0, dim, clusters, seed).0
}

/// Unit-normalised copies: embeddings used with inner product are normalised, and inner
/// product on unnormalised data is not a metric (HNSW recall drops for reasons unrelated to
/// this crate).
fn unit(mut v: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    for x in &mut v {
        let n = distance::dot(x, x).sqrt();
        x.iter_mut().for_each(|y| *y /= n);
    }
    v
}

/// Exact (f32) storage and no brute-force regime, so that tests can compare scores exactly
/// and exercise the graph; other storages are tested on their own.
fn params(dim: usize, metric: Metric) -> VectorParams {
    VectorParams {
        linear_build_threshold: 0,
        storage: Storage::F32,
        ..VectorParams::new(dim, metric)
    }
}

fn build(p: VectorParams, data: &[Vec<f32>]) -> VectorIndex {
    let idx = VectorIndex::new(p).unwrap();
    let refs: Vec<[&[f32]; 1]> = data.iter().map(|v| [v.as_slice()]).collect();
    let docs: Vec<(u64, &[&[f32]])> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u64, r.as_slice()))
        .collect();
    idx.upsert_batch(&docs, 2).unwrap();
    idx
}

fn exact(metric: Metric, data: &[Vec<f32>], q: &[f32], k: usize) -> Vec<(u64, f32)> {
    let pq = distance::PreparedQuery::new(metric, q);
    let mut all: Vec<(u64, f32)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, pq.score(v)))
        .collect();
    all.sort_by(|a, b| {
        if metric.higher_is_better() {
            b.1.total_cmp(&a.1)
        } else {
            a.1.total_cmp(&b.1)
        }
    });
    all.truncate(k);
    all
}

fn recall_at_k(idx: &VectorIndex, data: &[Vec<f32>], queries: &[Vec<f32>], ef: usize) -> f64 {
    let k = 10;
    let mut hit = 0;
    for q in queries {
        let truth: HashSet<u64> = exact(idx.params().metric, data, q, k)
            .into_iter()
            .map(|x| x.0)
            .collect();
        let got = idx.search(q, k, Some(ef), None).unwrap();
        assert_eq!(got.len(), k);
        hit += got.iter().filter(|(key, _)| truth.contains(key)).count();
    }
    hit as f64 / (queries.len() * k) as f64
}

#[test]
fn recall_against_brute_force_all_metrics() {
    let (data, queries) = clustered_pair(5_000, 100, 64, 50, 1);
    let (data, queries) = (unit(data), unit(queries));
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let idx = build(params(64, metric), &data);
        assert_eq!(idx.len(), 5_000);
        let r = recall_at_k(&idx, &data, &queries, 64);
        assert!(r >= 0.95, "{metric:?} recall@10 = {r}");
    }
}

#[test]
fn scores_match_exact_and_are_ordered() {
    let data = clustered(2_000, 32, 20, 3);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let idx = build(params(32, metric), &data);
        let q = &data[7];
        let got = idx.search(q, 5, Some(128), None).unwrap();
        for w in got.windows(2) {
            assert!(!metric.better(w[1].1, w[0].1), "{metric:?} not best-first");
        }
        // The graph's score for a document equals the exact score of its vector.
        let pq = distance::PreparedQuery::new(metric, q);
        for (key, s) in &got {
            let e = pq.score(&data[*key as usize]);
            assert!(
                (e - s).abs() <= 1e-3 * e.abs().max(1.0),
                "{metric:?} {e} vs {s}"
            );
        }
        // The exact scan path gives the same scores.
        let cands: Vec<u64> = got.iter().map(|x| x.0).collect();
        let res = idx
            .search_with(
                q,
                &SearchOptions {
                    k: 5,
                    candidates: Some(&cands),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(res.strategy, Strategy::Candidates);
        for ((k1, s1), (k2, s2)) in res.hits.iter().zip(&got) {
            assert_eq!(k1, k2);
            assert!((s1 - s2).abs() <= 1e-3 * s1.abs().max(1.0));
        }
    }
}

#[test]
fn f16_and_i8_storage_keep_recall() {
    let (data, queries) = clustered_pair(3_000, 50, 64, 30, 4);
    let (data, queries) = (unit(data), unit(queries));
    let mut p = params(64, Metric::Cosine);
    p.storage = Storage::F16;
    assert!(recall_at_k(&build(p.clone(), &data), &data, &queries, 64) >= 0.95);
    p.storage = Storage::I8;
    // Quantisation to 8 bits costs a little ranking precision.
    assert!(recall_at_k(&build(p, &data), &data, &queries, 64) >= 0.85);
}

#[test]
fn multi_vector_documents_dedup_by_key_with_best_score() {
    let dim = 8;
    let idx = VectorIndex::new(params(dim, Metric::L2)).unwrap();
    let far = vec![100.0f32; dim];
    // Document 1 has three vectors all close to the query; document 2 one slightly farther.
    let a = vec![0.0f32; dim];
    let mut b = vec![0.0f32; dim];
    b[0] = 0.1;
    let mut c = vec![0.0f32; dim];
    c[0] = 0.2;
    let mut d = vec![0.0f32; dim];
    d[1] = 0.5;
    idx.upsert(1, &[&b, &a, &c]).unwrap();
    idx.upsert(2, &[&d]).unwrap();
    for i in 0..50u64 {
        let mut v = far.clone();
        v[0] += i as f32;
        idx.upsert(100 + i, &[&v]).unwrap();
    }
    assert_eq!(idx.len(), 52);
    assert_eq!(idx.vector_count(), 54);
    let got = idx.search(&a, 2, None, None).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (1, 0.0), "best vector of document 1 is exact");
    assert_eq!(got[1].0, 2);
    assert!((got[1].1 - 0.25).abs() < 1e-6);
    // Through the exact path too, and asking for many.
    let keys: Vec<u64> = idx
        .search(&a, 52, None, None)
        .unwrap()
        .iter()
        .map(|x| x.0)
        .collect();
    let unique: HashSet<u64> = keys.iter().copied().collect();
    assert_eq!(keys.len(), 52);
    assert_eq!(unique.len(), 52);
    assert_eq!(idx.get(1).unwrap().unwrap().len(), 3);
}

#[test]
fn upsert_replaces_previous_vectors() {
    let dim = 4;
    let idx = VectorIndex::new(params(dim, Metric::L2)).unwrap();
    for i in 0..20u64 {
        idx.upsert(i, &[&[i as f32, 0.0, 0.0, 0.0]]).unwrap();
    }
    // Move key 3 far away, with two vectors.
    idx.upsert(3, &[&[50.0, 0.0, 0.0, 0.0], &[60.0, 0.0, 0.0, 0.0]])
        .unwrap();
    assert_eq!(idx.len(), 20);
    assert_eq!(idx.vector_count(), 21);
    let got = idx.search(&[3.0, 0.0, 0.0, 0.0], 3, None, None).unwrap();
    assert!(got.iter().all(|(k, _)| *k != 3), "{got:?}");
    let got = idx.search(&[55.0, 0.0, 0.0, 0.0], 1, None, None).unwrap();
    assert_eq!(got, vec![(3, 25.0)]);
    // And back to one vector: the old generation's two are gone.
    idx.upsert(3, &[&[3.0, 0.0, 0.0, 0.0]]).unwrap();
    assert_eq!(idx.vector_count(), 20);
    assert_eq!(idx.get(3).unwrap().unwrap(), vec![vec![3.0, 0.0, 0.0, 0.0]]);
    let got = idx.search(&[55.0, 0.0, 0.0, 0.0], 1, None, None).unwrap();
    assert_eq!(got[0].0, 19);
}

#[test]
fn remove_hides_documents() {
    let data = clustered(3_000, 16, 10, 6);
    let idx = build(params(16, Metric::L2), &data);
    for key in (0..3_000u64).step_by(2) {
        assert!(idx.remove(key).unwrap());
    }
    assert!(!idx.remove(0).unwrap(), "second remove is a no-op");
    assert_eq!(idx.len(), 1_500);
    for q in data.iter().take(50) {
        let got = idx.search(q, 10, None, None).unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|(k, _)| k % 2 == 1), "{got:?}");
    }
    // Removed slots are reused by later inserts.
    idx.upsert(0, &[&data[0]]).unwrap();
    assert_eq!(idx.search(&data[0], 1, None, None).unwrap()[0].0, 0);
}

#[test]
fn selective_filters_scan_and_the_limit_grows_slower_than_the_index() {
    // 3 % of a large index; more than that of a small one, where scanning stays cheap.
    assert_eq!(exact_scan_limit(1_000_000, 64, 0), 30_000);
    assert_eq!(exact_scan_limit(100_000, 32, 0), 3_577);
    assert_eq!(exact_scan_limit(12_285, 64, 0), 1_773);
    assert_eq!(exact_scan_limit(500, 64, 1_000), 1_000);
}

#[test]
fn filter_is_respected_on_every_path() {
    let (data, queries) = clustered_pair(4_000, 30, 16, 20, 7);
    let idx = build(params(16, Metric::L2), &data);
    type Case = (Box<dyn Fn(u64) -> bool>, Strategy);
    let cases: Vec<Case> = vec![
        (Box::new(|k| k.is_multiple_of(2)), Strategy::Graph), // 50% pass: graph
        (Box::new(|k| k % 1000 == 3), Strategy::Exact),       // 0.1%: scan
        (Box::new(|k| k % 10 == 3), Strategy::Exact), // 10% of a small index: scan (cheaper)
        (Box::new(|k| k == 17 || k == 3_999), Strategy::Exact),
        (Box::new(|_| false), Strategy::Exact),
    ];
    for (f, strategy) in &cases {
        for q in &queries {
            let opts = SearchOptions {
                k: 10,
                filter: Some(f.as_ref()),
                ..Default::default()
            };
            let res = idx.search_with(q, &opts).unwrap();
            assert_eq!(res.strategy, *strategy);
            assert!(res.hits.iter().all(|(k, _)| f(*k)), "{:?}", res.hits);
            // Compare with the exact filtered answer.
            let truth: Vec<u64> = {
                let mut all: Vec<(u64, f32)> = data
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| f(*i as u64))
                    .map(|(i, v)| (i as u64, distance::l2sq(q, v)))
                    .collect();
                all.sort_by(|a, b| a.1.total_cmp(&b.1));
                all.into_iter().take(10).map(|x| x.0).collect()
            };
            assert_eq!(res.hits.len(), truth.len());
            if *strategy == Strategy::Exact {
                let got: Vec<u64> = res.hits.iter().map(|x| x.0).collect();
                assert_eq!(got, truth);
            }
        }
    }
    // A hint overrides sampling.
    let even = |k: u64| k.is_multiple_of(2);
    let res = idx
        .search_with(
            &queries[0],
            &SearchOptions {
                k: 10,
                filter: Some(&even),
                filter_matches_hint: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(res.strategy, Strategy::Exact);
    assert!(res.hits.iter().all(|(k, _)| k.is_multiple_of(2)));
}

#[test]
fn brute_force_below_linear_threshold() {
    let data = clustered(500, 16, 5, 9);
    let mut p = params(16, Metric::InnerProduct);
    p.linear_build_threshold = 1_000;
    let idx = build(p, &data);
    for q in data.iter().take(20) {
        let res = idx
            .search_with(
                q,
                &SearchOptions {
                    k: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(res.strategy, Strategy::Exact);
        let truth: Vec<u64> = exact(Metric::InnerProduct, &data, q, 10)
            .iter()
            .map(|x| x.0)
            .collect();
        let got: Vec<u64> = res.hits.iter().map(|x| x.0).collect();
        assert_eq!(got, truth);
        let odd = |k: u64| k % 2 == 1;
        let res = idx
            .search_with(
                q,
                &SearchOptions {
                    k: 10,
                    filter: Some(&odd),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(res.strategy, Strategy::Exact);
        assert!(res.hits.iter().all(|(k, _)| k % 2 == 1));
    }
}

#[test]
fn save_load_roundtrip_gives_identical_results() {
    let data = clustered(3_000, 32, 20, 10);
    let mut p = params(32, Metric::Cosine);
    p.storage = Storage::F16;
    p.ef_search = 50;
    let idx = build(p.clone(), &data);
    idx.upsert(5, &[&data[1], &data[2]]).unwrap(); // a multi-vector doc
    idx.remove(6).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("field.vec");
    idx.save(&path).unwrap();
    idx.save(&path).unwrap(); // overwriting an existing checkpoint works
    let loaded = VectorIndex::load(&path).unwrap();
    assert_eq!(loaded.params(), &p);
    assert_eq!(loaded.len(), idx.len());
    assert_eq!(loaded.vector_count(), idx.vector_count());
    for q in data.iter().take(50) {
        assert_eq!(
            idx.search(q, 10, None, None).unwrap(),
            loaded.search(q, 10, None, None).unwrap()
        );
    }
    // The loaded index stays writable.
    loaded.upsert(6, &[&data[6]]).unwrap();
    assert_eq!(loaded.search(&data[6], 1, None, None).unwrap()[0].0, 6);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The scratch files of a save cut short by a crash are removed; nothing else is.
    for leftover in ["field.vec.tmp-4242", "field.vec.graph-tmp-17"] {
        std::fs::write(dir.path().join(leftover), b"partial").unwrap();
    }
    std::fs::write(dir.path().join("notes.tmp-x"), b"keep").unwrap();
    assert_eq!(crate::remove_interrupted_saves(dir.path()).unwrap(), 2);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["field.vec", "notes.tmp-x"]);
    std::fs::remove_file(dir.path().join("notes.tmp-x")).unwrap();

    // Damage is detected, not loaded.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        VectorIndex::load(&path),
        Err(VectorError::Corrupt { .. })
    ));
    std::fs::write(&path, b"nope").unwrap();
    assert!(matches!(
        VectorIndex::load(&path),
        Err(VectorError::Corrupt { .. })
    ));
    assert!(matches!(
        VectorIndex::load(dir.path().join("missing")),
        Err(VectorError::Io { .. })
    ));
}

#[test]
fn input_errors_are_typed_and_change_nothing() {
    let idx = VectorIndex::new(params(4, Metric::L2)).unwrap();
    idx.upsert(1, &[&[1.0, 2.0, 3.0, 4.0]]).unwrap();
    let e = idx.upsert(2, &[&[1.0, 2.0, 3.0]]).unwrap_err();
    assert!(matches!(
        e,
        VectorError::DimensionMismatch {
            expected: 4,
            got: 3
        }
    ));
    assert_eq!(
        e.to_string(),
        "vector has 3 values but the index dimension is 4"
    );
    // A batch with one bad document is rejected whole.
    let good: &[&[f32]] = &[&[0.0; 4]];
    let bad: &[&[f32]] = &[&[0.0, f32::NAN, 0.0, 0.0]];
    let e = idx.upsert_batch(&[(7, good), (8, bad)], 1).unwrap_err();
    assert!(matches!(e, VectorError::NonFinite { position: 1 }));
    assert_eq!(idx.len(), 1);
    assert!(!idx.contains(7));
    assert!(matches!(
        idx.search(&[1.0; 5], 3, None, None),
        Err(VectorError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        idx.upsert(MAX_KEY + 1, good),
        Err(VectorError::KeyOutOfRange { .. })
    ));
    assert!(matches!(
        idx.upsert(3, &[]),
        Err(VectorError::NoVectors { .. })
    ));
    let zero = [0.0f32; 4];
    let many: Vec<&[f32]> = vec![&zero[..]; MAX_VECTORS_PER_KEY + 1];
    assert!(matches!(
        idx.upsert(3, &many),
        Err(VectorError::TooManyVectors { .. })
    ));
    assert!(matches!(
        idx.search(&[0.0; 4], MAX_K + 1, None, None),
        Err(VectorError::InvalidSearch(_))
    ));
    assert!(matches!(
        idx.search(&[0.0; 4], 1, Some(MAX_EF + 1), None),
        Err(VectorError::InvalidSearch(_))
    ));
    assert!(idx.search(&[0.0; 4], 0, None, None).unwrap().is_empty());
    let mut p = params(4, Metric::L2);
    p.storage = Storage::F16;
    let f16 = VectorIndex::new(p.clone()).unwrap();
    assert!(matches!(
        f16.upsert(1, &[&[1e6, 0.0, 0.0, 0.0]]),
        Err(VectorError::OutOfRange { position: 0, .. })
    ));
    p.storage = Storage::I8;
    assert!(matches!(
        VectorIndex::new(p),
        Err(VectorError::InvalidParams(_))
    ));
    assert!(matches!(
        VectorIndex::new(params(0, Metric::L2)),
        Err(VectorError::InvalidParams(_))
    ));
    assert_eq!(
        idx.search(&[1.0, 2.0, 3.0, 4.0], 5, None, None).unwrap(),
        vec![(1, 0.0)]
    );
}

#[test]
fn concurrent_searches_during_upserts() {
    let dim = 32;
    let data = clustered(6_000, dim, 20, 11);
    let idx = std::sync::Arc::new(build(params(dim, Metric::L2), &data[..2_000]));
    std::thread::scope(|s| {
        let writer = idx.clone();
        let data_w = &data;
        s.spawn(move || {
            for (i, v) in data_w.iter().enumerate().skip(2_000) {
                writer.upsert(i as u64, &[v]).unwrap();
                if i % 7 == 0 {
                    writer.remove(i as u64 - 1_000).unwrap();
                }
            }
        });
        for t in 0..3 {
            let reader = idx.clone();
            let data_r = &data;
            s.spawn(move || {
                for (j, q) in data_r.iter().enumerate().take(400) {
                    // Alternate ef to exercise the exclusive ef switch.
                    let ef = if (j + t) % 3 == 0 { 32 } else { 64 };
                    let got = reader.search(q, 10, Some(ef), None).unwrap();
                    assert!(!got.is_empty());
                    let keys: HashSet<u64> = got.iter().map(|x| x.0).collect();
                    assert_eq!(keys.len(), got.len());
                }
            });
        }
    });
    let removed = (2_000..6_000).filter(|i| i % 7 == 0).count();
    assert_eq!(idx.len(), 6_000 - removed);
    let mem = idx.memory_usage();
    assert!(mem.total_bytes >= mem.vector_bytes && mem.vector_bytes >= 6_000 * dim * 4);
}

#[test]
fn save_while_searching_and_upserting() {
    let dim = 16;
    let (data, queries) = clustered_pair(4_000, 50, dim, 10, 12);
    let idx = std::sync::Arc::new(build(params(dim, Metric::L2), &data[..3_000]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.idx");
    std::thread::scope(|s| {
        let w = idx.clone();
        let d = &data;
        s.spawn(move || {
            for (i, v) in d.iter().enumerate().skip(3_000) {
                w.upsert(i as u64, &[v]).unwrap();
            }
        });
        let r = idx.clone();
        let q = &queries;
        s.spawn(move || {
            for (j, v) in q.iter().cycle().take(500).enumerate() {
                let ef = if j % 2 == 0 { 40 } else { 80 };
                assert_eq!(r.search(v, 5, Some(ef), None).unwrap().len(), 5);
            }
        });
        for _ in 0..3 {
            idx.save(&path).unwrap();
        }
    });
    idx.save(&path).unwrap();
    let loaded = VectorIndex::load(&path).unwrap();
    assert_eq!(loaded.len(), 4_000);
    for q in &queries {
        assert_eq!(
            loaded.search(q, 10, None, None).unwrap(),
            idx.search(q, 10, None, None).unwrap()
        );
    }
}

#[test]
fn exact_scans_score_with_the_requested_metric() {
    // Not normalised, so the three metrics rank differently.
    let data = clustered(300, 8, 5, 11);
    let idx = build(params(8, Metric::L2), &data);
    let q: Vec<f32> = data[3].iter().map(|x| x * 3.0).collect();
    let even = |key: u64| key.is_multiple_of(2);
    let mut orders = Vec::new();
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let res = idx
            .search_with(
                &q,
                &SearchOptions {
                    k: 7,
                    exact: Some(metric),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(res.strategy, Strategy::Exact);
        let want = exact(metric, &data, &q, 7);
        assert_eq!(
            res.hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            want.iter().map(|h| h.0).collect::<Vec<_>>(),
            "{metric:?}"
        );
        for ((_, got), (_, w)) in res.hits.iter().zip(&want) {
            assert!((got - w).abs() <= 1e-4 * w.abs().max(1.0), "{metric:?}");
        }
        orders.push(want.iter().map(|h| h.0).collect::<Vec<_>>());
        // With a filter, only passing keys, still by the requested metric.
        let filtered = idx
            .search_with(
                &q,
                &SearchOptions {
                    k: 4,
                    filter: Some(&even),
                    exact: Some(metric),
                    ..Default::default()
                },
            )
            .unwrap();
        let data_even: Vec<(u64, f32)> = exact(metric, &data, &q, data.len())
            .into_iter()
            .filter(|(k, _)| even(*k))
            .take(4)
            .collect();
        assert_eq!(
            filtered.hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            data_even.iter().map(|h| h.0).collect::<Vec<_>>()
        );
    }
    assert!(
        orders[0] != orders[1] || orders[1] != orders[2],
        "the data should rank differently by metric: {orders:?}"
    );
}
