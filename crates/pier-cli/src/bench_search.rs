//! `pier bench search`: the V3 search API at a million documents of real text.
//!
//! It starts `pier serve` (this binary) on a private loopback port and a data dir (temporary, or
//! one given with `--data-dir`, so the load can be done once and reused with `--skip-load`),
//! loads the corpus built by `scripts/build-search-corpus.sh` through the real push API, then:
//!
//! 1. **freshness**: while a background pusher keeps pushing new documents, probes push one
//!    document with a unique word and poll the search API until it is returned (ack → found);
//! 2. **HTTP**: for each query class and each client count, `N` concurrent clients send signed
//!    `GET /v3/openapi/apps/{app}/search` requests over loopback for a fixed time;
//! 3. **in-process**, on the same index files once the server is stopped: the same query strings
//!    through pier's executor (`pier_index::TableIndex::search`), and equivalent queries built
//!    directly with tantivy (top 10 + count + the 10 stored documents), at the same
//!    concurrencies; the ratio tantivy/pier is pier's overhead;
//! 4. a single-threaded **breakdown** of where a query's time goes.
//!
//! Query terms are picked from the loaded index by document frequency (rare, medium, common
//! bands); pairs and phrases come from documents of the corpus, so every query matches.

use crate::bench_server::{
    cpu_seconds, load_average, machine, proc_status_bytes, spinner, start_server,
};
use crate::client::Client;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use pier_index::TableIndex;
use pier_index::search::Page;
use pier_model::Schema;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tantivy::aggregation::AggregationCollector;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;
use tantivy::{DocAddress, Index, Searcher, TantivyDocument, Term};

const APP: &str = "searchbench";
const TABLE: &str = "main";
const DEFAULT_CORPUS: &str = "/work/cache/corpus/search-corpus-1000000.jsonl";
/// The V3 limit is 1000 documents per push.
const MAX_DOCS_PER_PUSH: usize = 1000;
const SEARCH_PATH: &str = "/v3/openapi/apps/searchbench/search";

const SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "body": {"type": "TEXT"},
    "cat": {"type": "INT"}, "price": {"type": "INT"}, "brand": {"type": "LITERAL"}, "ts": {"type": "TIMESTAMP"}}}},
    "indexes": {"searchFields": {"default": {"fields": ["title", "body"], "analyzer": "chn_standard"}},
      "filterFields": ["cat", "price", "brand"]}}"#;

/// Settings of the search benchmark.
#[derive(Args, Debug, Clone)]
pub struct SearchBench {
    /// The corpus: JSON Lines of V3 push operations, from scripts/build-search-corpus.sh.
    #[arg(long, env = "PIER_BENCH_CORPUS", default_value = DEFAULT_CORPUS)]
    corpus: PathBuf,
    /// Load at most this many documents of the corpus (default: all of it).
    #[arg(long)]
    docs: Option<u64>,
    /// The server's data dir; kept after the run so a later run can reuse the loaded index with
    /// --skip-load (default: a temporary dir, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Reuse the app already loaded in --data-dir instead of loading the corpus.
    #[arg(long, requires = "data_dir")]
    skip_load: bool,
    /// If the app already exists in --data-dir (and --skip-load is not given), delete it and load
    /// again instead of failing.
    #[arg(long)]
    reload: bool,
    /// Concurrent clients loading the corpus.
    #[arg(long, default_value_t = 4)]
    load_clients: usize,
    /// Most bytes in one push body while loading (the V3 limit is 2 MB).
    #[arg(long, default_value_t = 1_900_000)]
    batch_bytes: usize,
    /// Concurrent search clients; each measurement runs once per value (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [2, 4])]
    clients: Vec<usize>,
    /// Seconds each query class is measured, per client count and per mode.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of warm-up before each measurement (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Distinct queries per class (cycled through by the clients).
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Query classes to measure (comma-separated; default all).
    #[arg(long, value_delimiter = ',', value_enum)]
    classes: Vec<Class>,
    /// Seconds of the freshness check (0 skips it).
    #[arg(long, default_value_t = 20)]
    freshness_seconds: u64,
    /// Documents per second the background pusher sends during the freshness check.
    #[arg(long, default_value_t = 1000)]
    background_docs_per_sec: u64,
    /// Milliseconds between freshness probes.
    #[arg(long, default_value_t = 200)]
    probe_interval_ms: u64,
    /// Skip the in-process measurements (pier's executor and tantivy directly).
    #[arg(long)]
    skip_in_process: bool,
    /// Seconds per stage and class of the single-threaded time breakdown (0 skips it).
    #[arg(long, default_value_t = 1.0)]
    breakdown_seconds: f64,
    /// Most seconds to wait for the server to go idle (background merges) before measuring.
    #[arg(long, default_value_t = 600)]
    settle_max_seconds: u64,
    /// The server's commit interval, ms (how often pushes become searchable).
    #[arg(long, default_value_t = 200)]
    commit_interval_ms: u64,
    /// Seed for picking queries.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write every number as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A class of queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Class {
    /// One term of document frequency 0.001–0.01% of the documents.
    TermRare,
    /// One term of document frequency 0.1–1%.
    TermMedium,
    /// One term of document frequency 3–30%.
    TermCommon,
    /// Two terms (0.1–30% each, from one document), both required.
    And,
    /// The same kind of pairs, either one.
    Or,
    /// Two adjacent words of a document as a phrase.
    Phrase,
    /// A common term, `filter=cat=3&&sort=-price`.
    FilterSort,
    /// A common term, `aggregate=group_key:brand,agg_fun:count()`.
    Aggregate,
}

const ALL_CLASSES: [Class; 8] = [
    Class::TermRare,
    Class::TermMedium,
    Class::TermCommon,
    Class::And,
    Class::Or,
    Class::Phrase,
    Class::FilterSort,
    Class::Aggregate,
];

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::TermRare => "term, rare",
            Class::TermMedium => "term, medium",
            Class::TermCommon => "term, common",
            Class::And => "2-term AND",
            Class::Or => "2-term OR",
            Class::Phrase => "phrase",
            Class::FilterSort => "filter + sort",
            Class::Aggregate => "aggregate",
        }
    }
}

/// One benchmark query: the V3 string and what tantivy runs for it.
#[derive(Debug, Clone)]
struct BenchQuery {
    /// The `query` URL parameter.
    v3: String,
    spec: Spec,
}

#[derive(Debug, Clone)]
enum Spec {
    Term(String),
    And(String, String),
    Or(String, String),
    Phrase(String),
    FilterSort(String),
    Aggregate(String),
}

impl Spec {
    fn v3(&self) -> String {
        let t = |s: &str| format!("default:'{s}'");
        let q = match self {
            Spec::Term(a) => format!("query={}", t(a)),
            Spec::And(a, b) => format!("query={} AND {}", t(a), t(b)),
            Spec::Or(a, b) => format!("query={} OR {}", t(a), t(b)),
            Spec::Phrase(p) => format!("query=default:\"{p}\""),
            Spec::FilterSort(a) => format!("query={}&&filter=cat=3&&sort=-price", t(a)),
            Spec::Aggregate(a) => {
                format!("query={}&&aggregate=group_key:brand,agg_fun:count()", t(a))
            }
        };
        format!("{q}&&config=start:0,hit:10,format:json")
    }
}

// ------------------------------------------------------------------------------------------
// Measurements

/// Latencies of one measurement.
#[derive(Debug, Clone, serde::Serialize)]
struct Measured {
    requests: u64,
    errors: u64,
    seconds: f64,
    qps: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    load_avg_1m: f64,
}

impl Measured {
    fn from(mut micros: Vec<u32>, errors: u64, seconds: f64, load: f64) -> Measured {
        micros.sort_unstable();
        let pct = |p: f64| {
            if micros.is_empty() {
                f64::NAN
            } else {
                micros[((micros.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
            }
        };
        let mean = micros.iter().map(|&m| m as f64).sum::<f64>() / micros.len().max(1) as f64;
        Measured {
            requests: micros.len() as u64,
            errors,
            seconds,
            qps: micros.len() as f64 / seconds,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            mean_ms: mean / 1000.0,
            load_avg_1m: load,
        }
    }
}

fn load_avg_text() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
        ))
        .expect("progress template"),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

// ------------------------------------------------------------------------------------------
// The server

/// Waits until the server uses under 5% of a core over 2 s (background merges done); returns
/// the seconds waited.
async fn settle(pid: u32, max: Duration) -> f64 {
    let started = Instant::now();
    let pb = spinner("waiting for the server to go idle (segment merges)".into());
    let mut last = cpu_seconds(pid).unwrap_or(0.0);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = cpu_seconds(pid).unwrap_or(0.0);
        let busy = (now - last) / 2.0;
        last = now;
        pb.set_message(format!(
            "waiting for the server to go idle (segment merges): {:.0}% of a core",
            busy * 100.0
        ));
        if busy < 0.05 || started.elapsed() > max {
            break;
        }
    }
    pb.finish_and_clear();
    started.elapsed().as_secs_f64()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The index directory of the bench app's table: the one under `apps/` with this schema.
fn find_index_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for app in std::fs::read_dir(data_dir.join("apps"))?.flatten() {
        for table in std::fs::read_dir(app.path())?.flatten() {
            let meta = table.path().join("index").join("meta.json");
            if let Ok(text) = std::fs::read_to_string(&meta)
                && text.contains("\"idx_default\"")
                && text.contains("\"attr_brand\"")
                && text.contains("\"attr_cat\"")
            {
                found.push(table.path().join("index"));
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "no index of the bench app under {}/apps",
            data_dir.display()
        ),
        _ => bail!(
            "several apps in {} have the bench schema: use a data dir of its own for the benchmark",
            data_dir.display()
        ),
    }
}

// ------------------------------------------------------------------------------------------
// Loading

/// Reads the corpus and sends push bodies (JSON arrays of its lines) of at most `max_bytes` and
/// 1000 documents.
fn batches(
    path: &Path,
    limit: u64,
    max_bytes: usize,
    tx: tokio::sync::mpsc::Sender<(Vec<u8>, u64)>,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut body = Vec::with_capacity(max_bytes);
    let mut n = 0u64;
    let mut total = 0u64;
    for line in reader.lines() {
        if total >= limit {
            break;
        }
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() + 2 > max_bytes {
            bail!("a corpus line is larger than --batch-bytes");
        }
        if n > 0 && (body.len() + line.len() + 2 > max_bytes || n as usize >= MAX_DOCS_PER_PUSH) {
            body.push(b']');
            if tx.blocking_send((std::mem::take(&mut body), n)).is_err() {
                return Ok(());
            }
            n = 0;
        }
        body.push(if n == 0 { b'[' } else { b',' });
        body.extend_from_slice(line.as_bytes());
        n += 1;
        total += 1;
    }
    if n > 0 {
        body.push(b']');
        let _ = tx.blocking_send((body, n));
    }
    Ok(())
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let mut file = std::fs::File::open(path).with_context(|| {
        format!(
            "cannot open the corpus {}: build it with scripts/build-search-corpus.sh",
            path.display()
        )
    })?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let read = file.read(&mut buf)?;
        if read == 0 {
            return Ok(n);
        }
        n += buf[..read].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

async fn table_docs(client: &Client) -> anyhow::Result<u64> {
    let info = client
        .call(Method::GET, &format!("/api/v1/apps/{APP}"), None)
        .await?;
    Ok(info["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["documents"].as_u64())
        .sum())
}

#[derive(Debug, Clone, serde::Serialize)]
struct LoadResult {
    docs: u64,
    bytes: u64,
    pushes: u64,
    refused_429: u64,
    ack_seconds: f64,
    visible_seconds: f64,
    ack_docs_per_sec: f64,
    indexed_docs_per_sec: f64,
}

async fn load(b: &SearchBench, client: &Arc<Client>) -> anyhow::Result<LoadResult> {
    let lines = count_lines(&b.corpus)?;
    let limit = b.docs.unwrap_or(lines).min(lines);
    eprintln!(
        "loading {limit} documents from {} with {} clients",
        b.corpus.display(),
        b.load_clients
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<(Vec<u8>, u64)>(b.load_clients * 2);
    let reader = {
        let (path, max) = (b.corpus.clone(), b.batch_bytes);
        std::thread::spawn(move || batches(&path, limit, max, tx))
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let (docs, bytes, pushes, refused) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let pb = bar(limit, "pushed");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..b.load_clients {
        let (rx, client, docs, bytes, pushes, refused, pb) = (
            rx.clone(),
            client.clone(),
            docs.clone(),
            bytes.clone(),
            pushes.clone(),
            refused.clone(),
            pb.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((body, n)) = next else {
                    return anyhow::Ok(());
                };
                let len = body.len() as u64;
                loop {
                    match client.push(APP, TABLE, body.clone(), false).await {
                        Ok(_) => break,
                        Err(e) if e.status == 429 => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => bail!("push failed: {e}"),
                    }
                }
                docs.fetch_add(n, Ordering::Relaxed);
                bytes.fetch_add(len, Ordering::Relaxed);
                pushes.fetch_add(1, Ordering::Relaxed);
                pb.inc(n);
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the corpus reader panicked"))??;
    let ack_seconds = started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let loaded = docs.load(Ordering::Relaxed);
    eprintln!(
        "  acknowledged {loaded} docs in {ack_seconds:.1} s; waiting until they are searchable"
    );
    let pb = bar(loaded, "visible");
    loop {
        let n = table_docs(client).await?;
        pb.set_position(n.min(loaded));
        if n >= loaded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pb.finish_and_clear();
    let visible_seconds = started.elapsed().as_secs_f64();
    Ok(LoadResult {
        docs: loaded,
        bytes: bytes.load(Ordering::Relaxed),
        pushes: pushes.load(Ordering::Relaxed),
        refused_429: refused.load(Ordering::Relaxed),
        ack_seconds,
        visible_seconds,
        ack_docs_per_sec: loaded as f64 / ack_seconds,
        indexed_docs_per_sec: loaded as f64 / visible_seconds,
    })
}

// ------------------------------------------------------------------------------------------
// Picking queries

/// The index opened read-only with tantivy, with pier's analyzers.
struct Direct {
    index: Index,
    searcher: Searcher,
    text: Field,
    cat: Field,
}

impl Direct {
    fn open(dir: &Path) -> anyhow::Result<Direct> {
        let index = Index::open_in_dir(dir)?;
        pier_index::analyzer::register_all(index.tokenizers());
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()?;
        let schema = index.schema();
        Ok(Direct {
            text: schema.get_field("idx_default")?,
            cat: schema.get_field("attr_cat")?,
            searcher: tantivy::IndexReader::searcher(&reader),
            index,
        })
    }

    /// The terms the search index's analyzer makes of `text`, with byte offsets.
    fn tokens(&self, text: &str) -> Vec<(String, usize, usize)> {
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.text)
            .expect("the search field has an analyzer");
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.offset_from, t.offset_to));
        }
        out
    }

    fn doc_freq(&self, term: &str) -> u64 {
        self.searcher
            .doc_freq(&Term::from_field_text(self.text, term))
            .unwrap_or(0)
    }

    /// The query pier builds for `index:'text'` (or `"text"`): the analysed terms, one term
    /// query, a phrase, or the terms ANDed.
    fn text_query(&self, text: &str, phrase: bool) -> Box<dyn Query> {
        let terms: Vec<Term> = self
            .tokens(text)
            .into_iter()
            .map(|(t, _, _)| Term::from_field_text(self.text, &t))
            .collect();
        let term_query =
            |t: Term| Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>;
        match terms.len() {
            1 => term_query(terms.into_iter().next().expect("one term")),
            _ if phrase => Box::new(PhraseQuery::new(terms)),
            _ => Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|t| (Occur::Must, term_query(t)))
                    .collect(),
            )),
        }
    }

    fn query(&self, spec: &Spec) -> Box<dyn Query> {
        match spec {
            Spec::Term(a) | Spec::Aggregate(a) => self.text_query(a, false),
            Spec::And(a, b) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, self.text_query(a, false)),
                (Occur::Must, self.text_query(b, false)),
            ])),
            Spec::Or(a, b) => Box::new(BooleanQuery::new(vec![
                (Occur::Should, self.text_query(a, false)),
                (Occur::Should, self.text_query(b, false)),
            ])),
            Spec::Phrase(p) => self.text_query(p, true),
            Spec::FilterSort(a) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, self.text_query(a, false)),
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_i64(self.cat, 3),
                        IndexRecordOption::Basic,
                    )),
                ),
            ])),
        }
    }

    /// Runs `spec` the way an application on tantivy would: top 10 (by score, or by price for
    /// filter + sort) with the total count in one pass, plus the brand counts for aggregate,
    /// then reads the 10 stored documents. Returns the total.
    fn run(&self, spec: &Spec, fetch: bool) -> anyhow::Result<u64> {
        let query = self.query(spec);
        let s = &self.searcher;
        let (total, addresses): (usize, Vec<DocAddress>) = match spec {
            Spec::FilterSort(_) => {
                let top = TopDocs::with_limit(10)
                    .order_by_fast_field::<i64>("attr_price", tantivy::Order::Desc);
                let (top, n) = s.search(&query, &(top, Count))?;
                (n, top.into_iter().map(|(_, a)| a).collect())
            }
            Spec::Aggregate(_) => {
                let aggs: Aggregations = serde_json::from_value(
                    json!({"brand": {"terms": {"field": "attr_brand", "size": 1000}}}),
                )?;
                let collector = AggregationCollector::from_aggs(aggs, Default::default());
                let (top, n, _groups) = s.search(
                    &query,
                    &(TopDocs::with_limit(10).order_by_score(), Count, collector),
                )?;
                (n, top.into_iter().map(|(_, a)| a).collect())
            }
            _ => {
                let (top, n) =
                    s.search(&query, &(TopDocs::with_limit(10).order_by_score(), Count))?;
                (n, top.into_iter().map(|(_, a)| a).collect())
            }
        };
        if fetch {
            for a in addresses {
                let doc: TantivyDocument = s.doc(a)?;
                std::hint::black_box(doc);
            }
        }
        Ok(total as u64)
    }
}

fn is_word(t: &str) -> bool {
    !t.is_empty() && t.chars().all(char::is_alphanumeric) && !t.chars().all(|c| c.is_ascii_digit())
}

fn is_cjk(t: &str) -> bool {
    t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Sampled corpus documents (title + body), about `want` of them, spread over the file.
fn sample_corpus(
    path: &Path,
    lines: u64,
    want: usize,
    rng: &mut impl Rng,
) -> anyhow::Result<Vec<Value>> {
    let p = (want as f64 / lines.max(1) as f64).min(1.0);
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut out = Vec::with_capacity(want);
    for line in reader.lines() {
        let line = line?;
        if rng.random_bool(p)
            && let Ok(v) = serde_json::from_str::<Value>(&line)
        {
            out.push(v["fields"].clone());
        }
    }
    Ok(out)
}

struct Picked {
    queries: HashMap<Class, Vec<BenchQuery>>,
    /// Document-frequency range of each term band, for the report.
    bands: Vec<(Class, u64, u64, usize)>,
}

/// Picks `n` queries per class: terms by document frequency from the index's largest segment,
/// pairs and phrases from sampled corpus documents; drops any that match nothing.
fn pick_queries(
    direct: &Direct,
    samples: &[Value],
    classes: &[Class],
    n: usize,
    rng: &mut impl Rng,
) -> anyhow::Result<Picked> {
    let total = direct.searcher.num_docs().max(1);
    let frac = |f: f64| (f * total as f64).round() as u64;
    let bands = [
        (Class::TermRare, frac(0.00001).max(2), frac(0.0001).max(5)),
        (Class::TermMedium, frac(0.001), frac(0.01)),
        (Class::TermCommon, frac(0.03), frac(0.3)),
    ];
    // Candidates by the largest segment's (scaled) document frequency, reservoir-sampled.
    let largest = direct
        .searcher
        .segment_readers()
        .iter()
        .max_by_key(|s| s.num_docs())
        .context("the index has no segment")?;
    let scale = total as f64 / largest.max_doc().max(1) as f64;
    let inverted = largest.inverted_index(direct.text)?;
    let mut stream = inverted.terms().stream()?;
    let cap = n * 30;
    let mut reservoirs: Vec<(Vec<String>, u64)> = vec![(Vec::new(), 0); bands.len()];
    while stream.advance() {
        let estimate = (stream.value().doc_freq as f64 * scale) as u64;
        for (i, (_, lo, hi)) in bands.iter().enumerate() {
            if (lo / 2..=hi * 2).contains(&estimate) {
                let Ok(term) = std::str::from_utf8(stream.key()) else {
                    continue;
                };
                if !is_word(term) {
                    continue;
                }
                let (res, seen) = &mut reservoirs[i];
                *seen += 1;
                if res.len() < cap {
                    res.push(term.to_string());
                } else {
                    let j = rng.random_range(0..*seen);
                    if (j as usize) < cap {
                        res[j as usize] = term.to_string();
                    }
                }
            }
        }
    }
    let mut queries: HashMap<Class, Vec<BenchQuery>> = HashMap::new();
    let mut band_terms: HashMap<Class, Vec<String>> = HashMap::new();
    let mut band_report = Vec::new();
    for ((class, lo, hi), (mut candidates, _)) in bands.iter().copied().zip(reservoirs) {
        candidates.shuffle(rng);
        let terms: Vec<String> = candidates
            .into_iter()
            .filter(|t| {
                let df = direct.doc_freq(t);
                // The analyzer must keep the term whole (jieba splits some long CJK words).
                (lo..=hi).contains(&df) && direct.tokens(t).len() == 1
            })
            .take(n)
            .collect();
        let cjk = terms.iter().filter(|t| is_cjk(t)).count();
        band_report.push((class, lo, hi, cjk));
        band_terms.insert(class, terms);
    }
    let term_list = |c: Class| band_terms.get(&c).cloned().unwrap_or_default();
    for c in [Class::TermRare, Class::TermMedium, Class::TermCommon] {
        queries.insert(
            c,
            term_list(c).into_iter().map(Spec::Term).map(bq).collect(),
        );
    }
    let mut common = term_list(Class::TermCommon);
    common.shuffle(rng);
    queries.insert(
        Class::FilterSort,
        common
            .iter()
            .cloned()
            .map(Spec::FilterSort)
            .map(bq)
            .collect(),
    );
    common.shuffle(rng);
    queries.insert(
        Class::Aggregate,
        common
            .iter()
            .cloned()
            .map(Spec::Aggregate)
            .map(bq)
            .collect(),
    );

    // Pairs and phrases from documents.
    let (pair_lo, pair_hi) = (frac(0.001), frac(0.3));
    let phrase_lo = frac(0.0001).max(2);
    let mut ands = Vec::new();
    let mut ors = Vec::new();
    let mut phrases = Vec::new();
    for doc in samples {
        if ands.len() >= n && ors.len() >= n && phrases.len() >= n {
            break;
        }
        let text = doc["body"].as_str().unwrap_or("");
        let tokens = direct.tokens(text);
        let ok_pair: Vec<&String> = tokens
            .iter()
            .map(|(t, _, _)| t)
            .filter(|t| is_word(t))
            .filter(|t| {
                let df = direct.doc_freq(t);
                (pair_lo..=pair_hi).contains(&df)
            })
            .collect();
        let mut uniq = ok_pair.clone();
        uniq.sort();
        uniq.dedup();
        if uniq.len() >= 2 {
            let two: Vec<&&String> = uniq.choose_multiple(rng, 2).collect();
            let (a, b) = ((*two[0]).clone(), (*two[1]).clone());
            if direct.tokens(&a).len() == 1 && direct.tokens(&b).len() == 1 {
                if ands.len() <= ors.len() {
                    ands.push(Spec::And(a, b));
                } else {
                    ors.push(Spec::Or(a, b));
                }
            }
        }
        // Adjacent, non-overlapping words, separated by spaces only (or nothing, for CJK).
        let adjacent: Vec<(usize, usize)> = tokens
            .windows(2)
            .filter(|w| {
                let ((a, _, a_to), (b, b_from, _)) = (&w[0], &w[1]);
                a_to <= b_from
                    && is_word(a)
                    && is_word(b)
                    && text[*a_to..*b_from].chars().all(|c| c == ' ')
                    && direct.doc_freq(a) >= phrase_lo
                    && direct.doc_freq(b) >= phrase_lo
            })
            .map(|w| (w[0].1, w[1].2))
            .collect();
        if let Some(&(from, to)) = adjacent.choose(rng) {
            phrases.push(Spec::Phrase(text[from..to].to_string()));
        }
    }
    queries.insert(Class::And, ands.into_iter().map(bq).collect());
    queries.insert(Class::Or, ors.into_iter().map(bq).collect());
    queries.insert(Class::Phrase, phrases.into_iter().map(bq).collect());

    // Keep only queries that match something, at most n per class.
    for (class, list) in queries.iter_mut() {
        list.retain(|q| direct.run(&q.spec, false).map(|t| t > 0).unwrap_or(false));
        list.truncate(n);
        if classes.contains(class) && list.is_empty() {
            bail!(
                "found no queries for class {:?}: is the corpus loaded? (index has {total} docs)",
                class
            );
        }
    }
    Ok(Picked {
        queries,
        bands: band_report,
    })
}

fn bq(spec: Spec) -> BenchQuery {
    BenchQuery {
        v3: spec.v3(),
        spec,
    }
}

// ------------------------------------------------------------------------------------------
// HTTP searches

struct SearchClient {
    http: reqwest::Client,
    endpoint: String,
    key_id: String,
    secret: String,
}

impl SearchClient {
    /// One signed search; its body when the answer is HTTP 200 with `"status":"OK"`.
    async fn send(&self, query: &str) -> anyhow::Result<reqwest::Response> {
        let pairs = [("query".to_string(), query.to_string())];
        let headers = pier_auth::sign_request(
            &self.key_id,
            &self.secret,
            "GET",
            SEARCH_PATH,
            &pairs,
            b"",
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self
            .http
            .get(format!("{}{SEARCH_PATH}", self.endpoint))
            .query(&[("query", query)]);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        Ok(req.send().await?)
    }

    /// One signed search, checked for HTTP 200 and `"status":"OK"`.
    async fn search(&self, query: &str) -> anyhow::Result<()> {
        let resp = self.send(query).await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() || !contains(&body, b"\"status\":\"OK\"") {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    }

    /// One signed search; the total it reports.
    async fn total(&self, query: &str) -> anyhow::Result<u64> {
        Ok(self.total_and_searchtime(query).await?.0)
    }

    /// One signed search; the total and the `searchtime` (seconds) the server reports.
    async fn total_and_searchtime(&self, query: &str) -> anyhow::Result<(u64, f64)> {
        let resp = self.send(query).await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        let v: Value = serde_json::from_slice(&body)?;
        let total = v["result"]["total"]
            .as_u64()
            .context("no result.total in the answer")?;
        Ok((
            total,
            v["result"]["searchtime"].as_f64().unwrap_or(f64::NAN),
        ))
    }
}

/// The HTTP floor: `clients` concurrent clients sending `GET /health` (no signature, no search)
/// on the same connection pool for `seconds`.
async fn measure_health(
    client: &Arc<SearchClient>,
    clients: usize,
    warmup: f64,
    seconds: f64,
) -> Measured {
    let load = load_average();
    let measure_from = Instant::now() + Duration::from_secs_f64(warmup);
    let end = measure_from + Duration::from_secs_f64(seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, errors) = (client.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let url = format!("{}/health", client.endpoint);
            let mut micros = Vec::new();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let ok = match client.http.get(&url).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                } else if t0 >= measure_from {
                    micros.push(t0.elapsed().as_micros() as u32);
                }
            }
            micros
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    Measured::from(all, errors.load(Ordering::Relaxed), seconds, load)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `clients` concurrent clients cycle through `queries` for `warmup` then `seconds`.
async fn measure_http(
    client: &Arc<SearchClient>,
    queries: &Arc<Vec<BenchQuery>>,
    clients: usize,
    warmup: f64,
    seconds: f64,
    first_error: &Arc<Mutex<Option<String>>>,
) -> Measured {
    let load = load_average();
    let started = Instant::now();
    let measure_from = started + Duration::from_secs_f64(warmup);
    let end = measure_from + Duration::from_secs_f64(seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, queries, errors, first_error) = (
            client.clone(),
            queries.clone(),
            errors.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut micros = Vec::new();
            let mut i = c * queries.len() / clients.max(1);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let q = &queries[i % queries.len()];
                i += 1;
                match client.search(&q.v3).await {
                    Ok(_) if t0 >= measure_from => micros.push(t0.elapsed().as_micros() as u32),
                    Ok(_) => {}
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .expect("error slot")
                            .get_or_insert_with(|| format!("{}: {e}", q.v3));
                    }
                }
            }
            micros
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    Measured::from(all, errors.load(Ordering::Relaxed), seconds, load)
}

/// The same in threads, for in-process runs.
fn measure_threads(
    queries: &[BenchQuery],
    clients: usize,
    warmup: f64,
    seconds: f64,
    run: &(dyn Fn(&BenchQuery) -> anyhow::Result<u64> + Sync),
) -> Measured {
    let load = load_average();
    let started = Instant::now();
    let measure_from = started + Duration::from_secs_f64(warmup);
    let end = measure_from + Duration::from_secs_f64(seconds);
    let errors = AtomicU64::new(0);
    let all = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let errors = &errors;
                scope.spawn(move || {
                    let mut micros = Vec::new();
                    let mut i = c * queries.len() / clients.max(1);
                    loop {
                        let t0 = Instant::now();
                        if t0 >= end {
                            break;
                        }
                        let q = &queries[i % queries.len()];
                        i += 1;
                        match run(q) {
                            Ok(_) if t0 >= measure_from => {
                                micros.push(t0.elapsed().as_micros() as u32)
                            }
                            Ok(_) => {}
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    micros
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect::<Vec<_>>()
    });
    Measured::from(all, errors.load(Ordering::Relaxed), seconds, load)
}

// ------------------------------------------------------------------------------------------
// Freshness

#[derive(Debug, Clone, serde::Serialize)]
struct Freshness {
    probes: usize,
    timeouts: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    background_docs: u64,
    background_docs_per_sec: f64,
    seconds: f64,
}

async fn freshness(
    b: &SearchBench,
    push: &Arc<Client>,
    search: &Arc<SearchClient>,
    samples: &[Value],
) -> anyhow::Result<Freshness> {
    let run_id: u32 = rand::random::<u32>() & 0xffffff;
    let stop = Arc::new(AtomicBool::new(false));
    let background_docs = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(samples.to_vec());
    let pb = spinner(format!(
        "freshness: {} s, background pushes of {} docs/s, a probe every {} ms",
        b.freshness_seconds, b.background_docs_per_sec, b.probe_interval_ms
    ));
    // Background pusher: 10 batches a second.
    let background = {
        let (push, stop, count, samples) = (
            push.clone(),
            stop.clone(),
            background_docs.clone(),
            samples.clone(),
        );
        let per_batch = (b.background_docs_per_sec / 10).clamp(1, MAX_DOCS_PER_PUSH as u64);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let docs: Vec<Value> = (0..per_batch)
                    .map(|_| {
                        let mut f = samples[(n as usize) % samples.len()].clone();
                        f["id"] = json!(format!("bg{run_id:x}-{n}"));
                        n += 1;
                        json!({"cmd": "add", "fields": f})
                    })
                    .collect();
                let body = serde_json::to_vec(&docs).expect("JSON");
                match push.push(APP, TABLE, body, false).await {
                    Ok(_) => {
                        count.fetch_add(per_batch, Ordering::Relaxed);
                    }
                    Err(e) if e.status == 429 => {}
                    Err(e) => bail!("background push failed: {e}"),
                }
            }
            anyhow::Ok(())
        })
    };
    let started = Instant::now();
    let end = started + Duration::from_secs(b.freshness_seconds);
    let mut probes = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(b.probe_interval_ms.max(10)));
    let mut i = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        let (push, search, samples) = (push.clone(), search.clone(), samples.clone());
        let word = format!("zqprobe{run_id:x}x{i}");
        let mut fields = samples[(i as usize * 7919) % samples.len()].clone();
        fields["id"] = json!(format!("probe{run_id:x}-{i}"));
        fields["body"] = json!(format!(
            "{} {word}",
            fields["body"].as_str().unwrap_or_default()
        ));
        i += 1;
        probes.push(tokio::spawn(async move {
            let body = serde_json::to_vec(&json!([{"cmd": "add", "fields": fields}]))?;
            push.push(APP, TABLE, body, false)
                .await
                .map_err(|e| anyhow::anyhow!("probe push failed: {e}"))?;
            let acked = Instant::now();
            let query = format!("query=default:'{word}'&&config=hit:1");
            while acked.elapsed() < Duration::from_secs(30) {
                if search.total(&query).await? >= 1 {
                    return anyhow::Ok(Some(acked.elapsed().as_secs_f64() * 1000.0));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(None)
        }));
    }
    let mut lat = Vec::new();
    let mut timeouts = 0;
    for p in probes {
        match p.await?? {
            Some(ms) => lat.push(ms),
            None => timeouts += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    background.await??;
    pb.finish_and_clear();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if lat.is_empty() {
            f64::NAN
        } else {
            lat[((lat.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    let bg = background_docs.load(Ordering::Relaxed);
    Ok(Freshness {
        probes: lat.len() + timeouts,
        timeouts,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        background_docs: bg,
        background_docs_per_sec: bg as f64 / seconds,
        seconds,
    })
}

// ------------------------------------------------------------------------------------------
// The run

#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    class: String,
    clients: usize,
    queries: usize,
    http: Option<Measured>,
    executor: Option<Measured>,
    tantivy: Option<Measured>,
}

#[derive(Debug, Clone, serde::Serialize, Default)]
struct Breakdown {
    class: String,
    mean_matches: f64,
    parse_us: f64,
    executor_us: f64,
    tantivy_count_us: f64,
    tantivy_top10_us: f64,
    tantivy_top10_and_count_us: f64,
    fetch10_us: f64,
    tantivy_total_us: f64,
}

/// Microseconds of `f` per query: each query's median over its runs (at least 3, cycling
/// through the queries for about `seconds`), averaged over the queries. Medians keep the
/// figures steady when other processes preempt the benchmark.
fn mean_us(queries: &[BenchQuery], seconds: f64, f: &dyn Fn(&BenchQuery)) -> f64 {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    let mut n = 0usize;
    while Instant::now() < end || n < 3 * queries.len() {
        let i = n % queries.len();
        let t0 = Instant::now();
        f(&queries[i]);
        runs[i].push(t0.elapsed().as_secs_f64() * 1e6);
        n += 1;
    }
    let medians: f64 = runs
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .sum();
    medians / queries.len() as f64
}

/// Runs the search benchmark.
pub async fn search(b: SearchBench) -> anyhow::Result<()> {
    let classes: Vec<Class> = if b.classes.is_empty() {
        ALL_CLASSES.to_vec()
    } else {
        b.classes.clone()
    };
    if b.clients.is_empty() || b.clients.contains(&0) {
        bail!("--clients needs positive numbers, e.g. --clients 2,4");
    }
    let lines = count_lines(&b.corpus)?;
    let manifest: Value = std::fs::read_to_string(b.corpus.with_extension("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let load_at_start = load_avg_text();
    eprintln!(
        "pier bench search on {}; load average {load_at_start}",
        machine()
    );

    let (mut server, client) = start_server(
        b.data_dir.as_deref(),
        &[
            "--commit-interval-ms".into(),
            b.commit_interval_ms.to_string(),
        ],
    )
    .await?;
    let pid = server.child.id();
    let client = Arc::new(client);
    let peak_rss = Arc::new(AtomicU64::new(0));
    let peak_anon = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (rss, anon) = (peak_rss.clone(), peak_anon.clone());
        tokio::spawn(async move {
            loop {
                if let Some(r) = proc_status_bytes(pid, "VmRSS") {
                    rss.fetch_max(r, Ordering::Relaxed);
                }
                if let Some(r) = proc_status_bytes(pid, "RssAnon") {
                    anon.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // The app: create and load, or reuse.
    let exists = client
        .call(Method::GET, &format!("/api/v1/apps/{APP}"), None)
        .await
        .is_ok();
    let load_result = if b.skip_load {
        if !exists {
            bail!(
                "--skip-load: no app '{APP}' in {}: run once without --skip-load to load it",
                server.data_dir.display()
            );
        }
        None
    } else {
        if exists {
            if !b.reload {
                bail!(
                    "app '{APP}' already exists in {}: pass --skip-load to reuse it, or --reload to load it again",
                    server.data_dir.display()
                );
            }
            client
                .call(Method::DELETE, &format!("/api/v1/apps/{APP}"), None)
                .await?;
        }
        let schema: Value = serde_json::from_str(SCHEMA)?;
        client
            .call(
                Method::POST,
                "/api/v1/apps",
                Some(&json!({"name": APP, "type": "advanced", "schema": schema})),
            )
            .await?;
        let r = load(&b, &client).await?;
        eprintln!(
            "  loaded {} docs: {:.0} docs/s acknowledged, {:.0} docs/s searchable",
            r.docs, r.ack_docs_per_sec, r.indexed_docs_per_sec
        );
        Some(r)
    };
    let docs_in_app = table_docs(&client).await?;
    let settle_after_load = settle(pid, Duration::from_secs(b.settle_max_seconds)).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(b.seed);
    let pb = spinner("sampling the corpus".into());
    let samples = sample_corpus(&b.corpus, lines, b.queries * 40, &mut rng)?;
    pb.finish_and_clear();
    if samples.is_empty() {
        bail!("the corpus {} has no documents", b.corpus.display());
    }

    let search_client = Arc::new(SearchClient {
        http: reqwest::Client::new(),
        endpoint: client.endpoint.clone(),
        key_id: client.key_id.clone(),
        secret: client.secret.clone(),
    });

    // Freshness, before the query measurements so its segments are merged away by then.
    let fresh = if b.freshness_seconds > 0 {
        let f = freshness(&b, &client, &search_client, &samples).await?;
        eprintln!(
            "  freshness: p50 {:.0} ms, p99 {:.0} ms over {} probes",
            f.p50_ms, f.p99_ms, f.probes
        );
        Some(f)
    } else {
        None
    };
    let settle_before_queries = settle(pid, Duration::from_secs(b.settle_max_seconds)).await;
    let docs_searched = table_docs(&client).await?;

    // Queries, from the index as it now is.
    let index_dir = find_index_dir(&server.data_dir)?;
    let index_bytes = dir_bytes(&index_dir);
    let pb = spinner("picking queries".into());
    let (picked, segments) = {
        let direct = Direct::open(&index_dir)?;
        let segments = direct.searcher.segment_readers().len();
        (
            pick_queries(&direct, &samples, &classes, b.queries, &mut rng)?,
            segments,
        )
    };
    pb.finish_and_clear();
    let queries: HashMap<Class, Arc<Vec<BenchQuery>>> = picked
        .queries
        .iter()
        .map(|(c, q)| (*c, Arc::new(q.clone())))
        .collect();

    // HTTP: totals once (checked against tantivy later), then the measurements.
    // One client, one request at a time: the client's latency against the server's own
    // `searchtime` (auth + parse + search, before rendering), second pass of each query.
    let mut http_totals: HashMap<Class, Vec<u64>> = HashMap::new();
    let mut sequential: Vec<(Class, f64, f64)> = Vec::new();
    let pb = spinner("checking every query over HTTP".into());
    for class in &classes {
        let mut totals = Vec::new();
        let (mut client_ms, mut server_ms) = (0.0, 0.0);
        for q in queries[class].iter() {
            let (total, _) = search_client
                .total_and_searchtime(&q.v3)
                .await
                .with_context(|| format!("search {}", q.v3))?;
            let t0 = Instant::now();
            let (_, searchtime) = search_client.total_and_searchtime(&q.v3).await?;
            client_ms += t0.elapsed().as_secs_f64() * 1000.0;
            server_ms += searchtime * 1000.0;
            totals.push(total);
        }
        let n = queries[class].len().max(1) as f64;
        sequential.push((*class, client_ms / n, server_ms / n));
        http_totals.insert(*class, totals);
    }
    pb.finish_and_clear();
    let sign_us = {
        let pairs = [("query".to_string(), queries[&classes[0]][0].v3.clone())];
        let n = 20_000;
        let t0 = Instant::now();
        for _ in 0..n {
            std::hint::black_box(pier_auth::sign_request(
                &search_client.key_id,
                &search_client.secret,
                "GET",
                SEARCH_PATH,
                &pairs,
                b"",
                time::OffsetDateTime::now_utc(),
            ));
        }
        t0.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let mut rows: Vec<Row> = Vec::new();
    let first_error = Arc::new(Mutex::new(None));
    let load_http = load_avg_text();
    let mut floors = Vec::new();
    for &clients in &b.clients {
        let pb = spinner(format!("HTTP floor (GET /health) with {clients} clients"));
        let m = measure_health(&search_client, clients, b.warmup_seconds, b.seconds).await;
        pb.finish_and_clear();
        eprintln!(
            "  HTTP GET /health    c={clients}: {:>7.0} QPS, p50 {:.2} ms, p99 {:.2} ms",
            m.qps, m.p50_ms, m.p99_ms
        );
        floors.push((clients, m));
        for class in &classes {
            let pb = spinner(format!("HTTP {} with {clients} clients", class.name()));
            let m = measure_http(
                &search_client,
                &queries[class],
                clients,
                b.warmup_seconds,
                b.seconds,
                &first_error,
            )
            .await;
            pb.finish_and_clear();
            eprintln!(
                "  HTTP {:<14} c={clients}: {:>7.0} QPS, p50 {:.2} ms, p99 {:.2} ms{}",
                class.name(),
                m.qps,
                m.p50_ms,
                m.p99_ms,
                if m.errors > 0 {
                    format!(", {} errors", m.errors)
                } else {
                    String::new()
                }
            );
            rows.push(Row {
                class: class.name().into(),
                clients,
                queries: queries[class].len(),
                http: Some(m),
                executor: None,
                tantivy: None,
            });
        }
    }
    if let Some(e) = first_error.lock().expect("error slot").as_ref() {
        eprintln!("  first search error: {e}");
    }
    sampler.abort();
    server.stop();

    // In-process, on the same files.
    let mut breakdown = Vec::new();
    let mut variants: Vec<(String, f64, f64)> = Vec::new();
    let mut mismatches = Vec::new();
    let mut load_in_process = String::new();
    if !b.skip_in_process {
        let app_schema = Schema::from_json(&serde_json::from_str(SCHEMA)?)?;
        let (search_indexes, filters) = pier_model::schema::table_indexes(&app_schema, TABLE);
        let table = TableIndex::open(&index_dir, &search_indexes, &filters)
            .map_err(|e| anyhow::anyhow!("opening the index in-process: {e}"))?;
        let direct = Direct::open(&index_dir)?;
        let executor = |q: &BenchQuery| -> anyhow::Result<u64> {
            let request = Arc::new(
                pier_query::parse_search(&q.v3, Some(&app_schema))
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?,
            );
            let out = table
                .search(
                    &table.searcher(),
                    &request,
                    Page::Ranked { start: 0, hit: 10 },
                    &[],
                )
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            Ok(out.total)
        };
        let tantivy_run = |q: &BenchQuery| direct.run(&q.spec, true);
        // Totals must agree: HTTP, executor, tantivy.
        for class in &classes {
            for (q, http_total) in queries[class].iter().zip(&http_totals[class]) {
                let e = executor(q)?;
                let t = tantivy_run(q)?;
                if e != t || *http_total != t {
                    mismatches.push(format!(
                        "{}: HTTP {http_total}, executor {e}, tantivy {t}",
                        q.v3
                    ));
                }
            }
        }
        load_in_process = load_avg_text();
        for &clients in &b.clients {
            for class in &classes {
                let qs = &queries[class];
                let pb = spinner(format!(
                    "in-process {} with {clients} threads",
                    class.name()
                ));
                let ex = measure_threads(qs, clients, b.warmup_seconds, b.seconds, &executor);
                let tv = measure_threads(qs, clients, b.warmup_seconds, b.seconds, &tantivy_run);
                pb.finish_and_clear();
                eprintln!(
                    "  in-process {:<14} c={clients}: executor {:>7.0} QPS p50 {:.2} ms; tantivy {:>7.0} QPS p50 {:.2} ms",
                    class.name(),
                    ex.qps,
                    ex.p50_ms,
                    tv.qps,
                    tv.p50_ms
                );
                if let Some(row) = rows
                    .iter_mut()
                    .find(|r| r.clients == clients && r.class == class.name())
                {
                    row.executor = Some(ex);
                    row.tantivy = Some(tv);
                }
            }
        }
        if b.breakdown_seconds > 0.0 {
            let s = b.breakdown_seconds;
            let pb = spinner("single-threaded time breakdown".into());
            for class in &classes {
                let qs = &queries[class];
                let searcher = &direct.searcher;
                let totals = &http_totals[class];
                let bd = Breakdown {
                    class: class.name().into(),
                    mean_matches: totals.iter().sum::<u64>() as f64 / totals.len().max(1) as f64,
                    parse_us: mean_us(qs, s, &|q| {
                        std::hint::black_box(
                            pier_query::parse_search(&q.v3, Some(&app_schema)).ok(),
                        );
                    }),
                    executor_us: mean_us(qs, s, &|q| {
                        std::hint::black_box(executor(q).ok());
                    }),
                    tantivy_count_us: mean_us(qs, s, &|q| {
                        std::hint::black_box(direct.query(&q.spec).count(searcher).ok());
                    }),
                    tantivy_top10_us: mean_us(qs, s, &|q| {
                        let query = direct.query(&q.spec);
                        let top = match q.spec {
                            Spec::FilterSort(_) => searcher
                                .search(
                                    &query,
                                    &TopDocs::with_limit(10).order_by_fast_field::<i64>(
                                        "attr_price",
                                        tantivy::Order::Desc,
                                    ),
                                )
                                .map(|v| v.len())
                                .ok(),
                            _ => searcher
                                .search(&query, &TopDocs::with_limit(10).order_by_score())
                                .map(|v| v.len())
                                .ok(),
                        };
                        std::hint::black_box(top);
                    }),
                    tantivy_top10_and_count_us: mean_us(qs, s, &|q| {
                        std::hint::black_box(direct.run(&q.spec, false).ok());
                    }),
                    fetch10_us: {
                        let addresses: Vec<Vec<DocAddress>> = qs
                            .iter()
                            .map(|q| {
                                searcher
                                    .search(
                                        &direct.query(&q.spec),
                                        &TopDocs::with_limit(10).order_by_score(),
                                    )
                                    .map(|v| v.into_iter().map(|(_, a)| a).collect())
                                    .unwrap_or_default()
                            })
                            .collect();
                        let idx = AtomicU64::new(0);
                        mean_us(qs, s, &|_| {
                            let i = idx.fetch_add(1, Ordering::Relaxed) as usize;
                            for a in &addresses[i % addresses.len()] {
                                std::hint::black_box(searcher.doc::<TantivyDocument>(*a).ok());
                            }
                        })
                    },
                    tantivy_total_us: mean_us(qs, s, &|q| {
                        std::hint::black_box(tantivy_run(q).ok());
                    }),
                };
                breakdown.push(bd);
            }
            pb.finish_and_clear();
            // The executor on the common terms with one clause at a time: where the filter,
            // sort and aggregate time goes.
            let terms: Vec<String> = queries
                .get(&Class::TermCommon)
                .map(|qs| {
                    qs.iter()
                        .filter_map(|q| match &q.spec {
                            Spec::Term(t) => Some(t.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !terms.is_empty() {
                let pb = spinner("executor variants".into());
                let matches: f64 = terms.iter().map(|t| direct.doc_freq(t) as f64).sum::<f64>()
                    / terms.len() as f64;
                for (label, tail) in [
                    ("query only (simple top-k path)", ""),
                    (
                        "filter=cat>=0 (keeps every match: the general collector's base cost)",
                        "&&filter=cat>=0",
                    ),
                    ("filter=cat=3", "&&filter=cat=3"),
                    ("sort=-price", "&&sort=-price"),
                    ("filter=cat=3&&sort=-price", "&&filter=cat=3&&sort=-price"),
                    (
                        "aggregate=group_key:brand,agg_fun:count()",
                        "&&aggregate=group_key:brand,agg_fun:count()",
                    ),
                    (
                        "aggregate=group_key:cat,agg_fun:count() (INT key)",
                        "&&aggregate=group_key:cat,agg_fun:count()",
                    ),
                ] {
                    let qs: Vec<BenchQuery> = terms
                        .iter()
                        .map(|t| BenchQuery {
                            v3: format!(
                                "query=default:'{t}'{tail}&&config=start:0,hit:10,format:json"
                            ),
                            spec: Spec::Term(t.clone()),
                        })
                        .collect();
                    let us = mean_us(&qs, s, &|q| {
                        std::hint::black_box(executor(q).ok());
                    });
                    variants.push((label.to_string(), matches, us));
                }
                pb.finish_and_clear();
            }
        }
    }
    let load_at_end = load_avg_text();

    // The report.
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("## search benchmark ({})\n", machine());
    println!("command: `{command}`\n");
    println!(
        "load average (1/5/15 min): {load_at_start} at start, {load_http} when the HTTP measurements began, {} in-process, {load_at_end} at the end\n",
        if load_in_process.is_empty() {
            "-".to_string()
        } else {
            load_in_process.clone()
        }
    );
    println!(
        "corpus: `{}`, {} documents ({}); {}\n",
        b.corpus.display(),
        lines,
        manifest["bytes"]
            .as_u64()
            .map(|b| format!("{:.0} MB", b as f64 / 1e6))
            .unwrap_or_else(|| "?".into()),
        if manifest.is_null() {
            "no manifest".to_string()
        } else {
            format!(
                "English {} ({} of them variants), Chinese {} ({} variants)",
                manifest["english"]["documents"],
                manifest["english"]["variants"],
                manifest["chinese"]["documents"],
                manifest["chinese"]["variants"]
            )
        }
    );
    println!(
        "index: {docs_searched} documents searched ({docs_in_app} after the load), {segments} segments, {:.0} MiB on disk; server peak memory VmRSS {} MiB / RssAnon {} MiB\n",
        index_bytes as f64 / 1048576.0,
        peak_rss.load(Ordering::Relaxed) >> 20,
        peak_anon.load(Ordering::Relaxed) >> 20
    );
    if let Some(l) = &load_result {
        println!(
            "load: {} documents ({:.0} MB) in {} pushes from {} clients: {:.0} docs/s acknowledged ({:.1} s, {} pushes refused with 429 and retried), {:.0} docs/s until all searchable ({:.1} s); then {:.0} s until background merges finished\n",
            l.docs,
            l.bytes as f64 / 1e6,
            l.pushes,
            b.load_clients,
            l.ack_docs_per_sec,
            l.ack_seconds,
            l.refused_429,
            l.indexed_docs_per_sec,
            l.visible_seconds,
            settle_after_load
        );
    } else {
        println!("load: skipped (--skip-load: the app loaded in an earlier run was reused)\n");
    }
    if let Some(f) = &fresh {
        println!(
            "freshness (push ack → returned by a search), {} probes while a background pusher sent {:.0} docs/s: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms{} (target < 1 s)\n",
            f.probes,
            f.background_docs_per_sec,
            f.p50_ms,
            f.p99_ms,
            f.max_ms,
            if f.timeouts > 0 {
                format!(", {} not found within 30 s", f.timeouts)
            } else {
                String::new()
            }
        );
    }
    println!("query terms by document frequency (of {docs_searched} documents):");
    for (class, lo, hi, cjk) in &picked.bands {
        println!(
            "- {}: df {lo}–{hi}, {} terms ({cjk} Chinese)",
            class.name(),
            queries[class].len()
        );
    }
    println!(
        "- pairs (AND/OR): two words of one sampled document, df 0.1–30% each; phrases: two adjacent words of a sampled document; filter + sort and aggregate use the common terms\n"
    );
    println!(
        "settled {settle_before_queries:.0} s before the measurements (server idle); {} s per class and client count, after {} s of warm-up; the clients run on the same cores as the server.\n",
        b.seconds, b.warmup_seconds
    );
    let f = |m: &Option<Measured>| {
        m.as_ref()
            .map(|m| format!("{:.0} | {:.2} / {:.2}", m.qps, m.p50_ms, m.p99_ms))
            .unwrap_or_else(|| "- | -".into())
    };
    println!(
        "| class | clients | pier HTTP QPS | HTTP p50 / p99 ms | executor QPS | executor p50 / p99 ms | tantivy QPS | tantivy p50 / p99 ms | pier HTTP vs tantivy: QPS ratio / p50 ratio | executor vs tantivy: QPS ratio / p50 ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let ratio = |a: &Option<Measured>, b: &Option<Measured>| match (a, b) {
            (Some(a), Some(b)) if a.qps > 0.0 && b.p50_ms > 0.0 => {
                format!("{:.2}× / {:.2}×", b.qps / a.qps, a.p50_ms / b.p50_ms)
            }
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.class,
            r.clients,
            f(&r.http),
            f(&r.executor),
            f(&r.tantivy),
            ratio(&r.http, &r.tantivy),
            ratio(&r.executor, &r.tantivy)
        );
    }
    println!(
        "\none client, one request at a time (mean ms): client-observed latency vs the server's own `searchtime` (auth, parse and search, before rendering the answer); signing a request costs the client {sign_us:.0} µs\n"
    );
    println!(
        "| class | client latency | server searchtime | rest (HTTP, render, client) |\n|---|---|---|---|"
    );
    for (class, client_ms, server_ms) in &sequential {
        println!(
            "| {} | {client_ms:.2} | {server_ms:.2} | {:.2} |",
            class.name(),
            client_ms - server_ms
        );
    }
    for (clients, m) in &floors {
        println!(
            "\nHTTP floor, {clients} clients sending `GET /health` (no signature, no search) on the same connections: {:.0} QPS, p50 {:.2} ms, p99 {:.2} ms",
            m.qps, m.p50_ms, m.p99_ms
        );
    }
    let errors: u64 = rows
        .iter()
        .filter_map(|r| r.http.as_ref())
        .map(|m| m.errors)
        .sum();
    println!(
        "\nHTTP errors: {errors}; result totals that differ between HTTP, executor and tantivy: {}",
        mismatches.len()
    );
    for m in mismatches.iter().take(10) {
        println!("- {m}");
    }
    if !breakdown.is_empty() {
        println!(
            "\nsingle-threaded breakdown, µs per query (each query's median over ≥ 3 runs, averaged over the class's queries; tantivy count = `Query::count`; top 10 = `TopDocs` alone, block-max WAND when ranked; top 10 + count = one pass with `(TopDocs, Count)`; fetch = reading the 10 stored documents):\n"
        );
        println!(
            "| class | mean matches | pier parse | pier executor (w/o parse) | tantivy count | tantivy top 10 | tantivy top 10 + count | fetch 10 docs | tantivy baseline (top 10 + count + fetch) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for d in &breakdown {
            println!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
                d.class,
                d.mean_matches,
                d.parse_us,
                d.executor_us - d.parse_us,
                d.tantivy_count_us,
                d.tantivy_top10_us,
                d.tantivy_top10_and_count_us,
                d.fetch10_us,
                d.tantivy_total_us
            );
        }
    }
    if !variants.is_empty() {
        println!(
            "\npier's executor on the common terms (mean {:.0} matches), one clause at a time, single-threaded (µs per query as in the breakdown):\n",
            variants[0].1
        );
        println!("| request | µs | ns per match |\n|---|---|---|");
        for (label, matches, us) in &variants {
            println!(
                "| {label} | {us:.0} | {:.0} |",
                us * 1000.0 / matches.max(1.0)
            );
        }
    }
    if let Some(path) = &b.json {
        let all = json!({
            "machine": machine(),
            "command": command,
            "load_average": {"start": load_at_start, "http": load_http, "in_process": load_in_process, "end": load_at_end},
            "corpus": {"path": b.corpus, "documents": lines, "manifest": manifest},
            "index": {"documents": docs_searched, "segments": segments, "bytes": index_bytes},
            "load": load_result,
            "freshness": fresh,
            "rows": rows,
            "breakdown": breakdown,
            "sequential": sequential.iter().map(|(c, cl, sv)| json!({"class": c.name(), "client_ms": cl, "server_searchtime_ms": sv})).collect::<Vec<_>>(),
            "sign_us": sign_us,
            "http_floor": floors.iter().map(|(c, m)| json!({"clients": c, "health": m})).collect::<Vec<_>>(),
            "executor_variants": variants.iter().map(|(l, m, us)| json!({"request": l, "mean_matches": m, "mean_us": us})).collect::<Vec<_>>(),
            "mismatches": mismatches,
            "queries": classes.iter().map(|c| (format!("{c:?}"), queries[c].iter().map(|q| q.v3.clone()).collect::<Vec<_>>())).collect::<HashMap<_, _>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&all)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if errors > 0 {
        bail!("{errors} searches failed (see the first error above)");
    }
    if !mismatches.is_empty() {
        bail!(
            "{} queries returned different totals through HTTP, the executor and tantivy",
            mismatches.len()
        );
    }
    Ok(())
}
