//! Per-query CPU of pier's V3 search executor against plain tantivy doing the same work, on a
//! synthetic index that needs no external corpus.
//!
//! ```text
//! cargo run --release -p pier-index --example search_bench -- [DOCS] [RUNS]
//! ```
//!
//! Builds `DOCS` (default 300,000) documents of 20 words drawn from a Zipf-like vocabulary of
//! 20,000 words, with attributes `cat` INT 0–9, `price` INT 0–99,999 and `brand` LITERAL (50
//! values), then times each query `RUNS` times (default 30) on one thread and prints the median
//! thread CPU time in µs. The pier column is `TableIndex::search` for a parsed request (parsing
//! excluded; reading the page's 10 stored documents included); the tantivy column is the same
//! result computed with tantivy collectors in one pass, plus reading the same 10 documents.
//! `SEARCH_BENCH_ONLY=<part of a query name>` runs only those queries (to profile one).

use pier_index::TableIndex;
use pier_index::search::Page;
use serde_json::json;
use std::ops::Bound;
use std::sync::Arc;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

const VOCABULARY: usize = 20_000;
const WORDS_PER_DOC: usize = 20;
const BRANDS: usize = 50;

/// The same work done with tantivy alone: returns the page's addresses.
type Baseline<'a> = Box<dyn Fn() -> Vec<DocAddress> + 'a>;

/// A small deterministic generator (xorshift64*), so every run builds the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The word of vocabulary rank `rank`: letters only, so every analyzer keeps it whole.
fn word(rank: usize) -> String {
    let mut n = rank;
    let mut w = String::from("qz");
    loop {
        w.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

/// Thread CPU time in nanoseconds: the machine is shared, so wall time would measure the load.
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant of the platform.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<u64> = (0..runs)
        .map(|_| {
            let t = cpu_ns();
            f();
            cpu_ns() - t
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2] as f64 / 1000.0
}

fn read_docs(searcher: &Searcher, addresses: impl Iterator<Item = DocAddress>) {
    for a in addresses {
        let doc: TantivyDocument = searcher.doc(a).expect("stored document");
        std::hint::black_box(doc);
    }
}

fn build(dir: &std::path::Path, docs: usize) -> TableIndex {
    let schema = pier_model::Schema::from_json(&json!({"tables": {"main": {"fields": {
        "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"},
        "cat": {"type": "INT"}, "price": {"type": "INT"}, "brand": {"type": "LITERAL"}}}},
        "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "chn_single"}},
        "filterFields": ["cat", "price", "brand"]}}))
    .expect("benchmark schema");
    let (search, filters) = pier_model::schema::table_indexes(&schema, "main");
    let index = TableIndex::open(dir, &search, &filters).expect("open index");
    // Zipf with exponent 1: the cumulative weights, sampled by binary search.
    let mut cumulative = Vec::with_capacity(VOCABULARY);
    let mut total = 0.0;
    for r in 1..=VOCABULARY {
        total += 1.0 / r as f64;
        cumulative.push(total);
    }
    let words: Vec<String> = (0..VOCABULARY).map(word).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..docs {
        let title = (0..WORDS_PER_DOC)
            .map(|_| {
                let x = rng.unit() * total;
                words[cumulative.partition_point(|c| *c < x).min(VOCABULARY - 1)].as_str()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let doc = json!({"id": i.to_string(), "title": title, "cat": rng.next() % 10,
            "price": rng.next() % 100_000, "brand": format!("brand{}", rng.next() % BRANDS as u64)});
        index
            .upsert(&i.to_string(), doc.as_object().expect("object"))
            .expect("upsert");
    }
    index.commit(1).expect("commit");
    index
}

fn main() {
    let mut args = std::env::args().skip(1);
    let docs: usize = args.next().map_or(300_000, |a| a.parse().expect("DOCS"));
    let runs: usize = args.next().map_or(30, |a| a.parse().expect("RUNS"));
    let dir = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let index = build(dir.path(), docs);
    let searcher = index.searcher();
    println!(
        "{docs} documents in {} segments, built in {:.1} s; {runs} runs per query, median thread CPU",
        searcher.segment_readers().len(),
        started.elapsed().as_secs_f64()
    );
    let schema = searcher.schema().clone();
    let text = schema.get_field("idx_default").expect("text field");
    let term = |rank: usize| Term::from_field_text(text, &word(rank));
    let tq = |rank: usize| -> Box<dyn Query> {
        Box::new(TermQuery::new(term(rank), IndexRecordOption::WithFreqs))
    };
    // Rank 30 is in about 7% of the documents; ranks 200 and 300 in about 1% each.
    let common = 30;
    let matches = searcher.search(&tq(common), &Count).expect("count");
    println!("common term '{}': {matches} matches", word(common));

    let top10 = || TopDocs::with_limit(10).order_by_score();
    let cases: Vec<(&str, String, Baseline)> = vec![
        (
            "term, common",
            format!("query=default:'{}'", word(common)),
            Box::new(|| {
                let (top, _) = searcher.search(&tq(common), &(top10(), Count)).unwrap();
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "2-term AND",
            format!("query=default:'{}' AND default:'{}'", word(200), word(300)),
            Box::new(|| {
                let q = BooleanQuery::new(vec![(Occur::Must, tq(200)), (Occur::Must, tq(300))]);
                let (top, _) = searcher.search(&q, &(top10(), Count)).unwrap();
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "phrase",
            format!("query=default:\"{} {}\"", word(1), word(2)),
            Box::new(|| {
                let q = PhraseQuery::new(vec![term(1), term(2)]);
                let (top, _) = searcher.search(&q, &(top10(), Count)).unwrap();
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "filter cat>=0 (every match)",
            format!("query=default:'{}'&&filter=cat>=0", word(common)),
            Box::new(|| {
                let (top, _) = searcher.search(&tq(common), &(top10(), Count)).unwrap();
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "filter cat>=1 (90% of matches)",
            format!("query=default:'{}'&&filter=cat>=1", word(common)),
            Box::new(|| {
                // The range as a zero-scoring required clause, as pier pushes it down.
                let cat = schema.get_field("attr_cat").unwrap();
                let range = RangeQuery::new(
                    Bound::Included(Term::from_field_i64(cat, 1)),
                    Bound::Included(Term::from_field_i64(cat, i64::MAX)),
                );
                let q = BooleanQuery::new(vec![
                    (Occur::Must, tq(common)),
                    (
                        Occur::Must,
                        Box::new(ConstScoreQuery::new(Box::new(range), 0.0)),
                    ),
                ]);
                let (top, _) = searcher.search(&q, &(top10(), Count)).unwrap();
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "filter + sort",
            format!(
                "query=default:'{}'&&filter=cat=3&&sort=-price",
                word(common)
            ),
            Box::new(|| {
                let cat = schema.get_field("attr_cat").unwrap();
                let q = BooleanQuery::new(vec![
                    (Occur::Must, tq(common)),
                    (
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_i64(cat, 3),
                            IndexRecordOption::Basic,
                        )),
                    ),
                ]);
                let sort =
                    TopDocs::with_limit(10).order_by_fast_field::<i64>("attr_price", Order::Desc);
                let (top, _) = searcher.search(&q, &(sort, Count)).unwrap();
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "aggregate brand count()",
            format!(
                "query=default:'{}'&&aggregate=group_key:brand,agg_fun:count()",
                word(common)
            ),
            Box::new(|| {
                let aggs: Aggregations = serde_json::from_value(
                    json!({"g": {"terms": {"field": "attr_brand", "size": 1000}}}),
                )
                .unwrap();
                let agg = AggregationCollector::from_aggs(aggs, AggContextParams::default());
                let (top, _, res) = searcher
                    .search(&tq(common), &(top10(), Count, agg))
                    .unwrap();
                std::hint::black_box(res);
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
        (
            "aggregate cat count()",
            format!(
                "query=default:'{}'&&aggregate=group_key:cat,agg_fun:count()",
                word(common)
            ),
            Box::new(|| {
                let aggs: Aggregations = serde_json::from_value(
                    json!({"g": {"terms": {"field": "attr_cat", "size": 1000}}}),
                )
                .unwrap();
                let agg = AggregationCollector::from_aggs(aggs, AggContextParams::default());
                let (top, _, res) = searcher
                    .search(&tq(common), &(top10(), Count, agg))
                    .unwrap();
                std::hint::black_box(res);
                top.into_iter().map(|(_, a)| a).collect()
            }),
        ),
    ];
    println!(
        "{:<30} {:>9} {:>12} {:>12} {:>7}",
        "query", "matches", "pier µs", "tantivy µs", "ratio"
    );
    // `SEARCH_BENCH_ONLY=phrase` runs the queries whose name contains it (to profile one).
    let only = std::env::var("SEARCH_BENCH_ONLY").unwrap_or_default();
    for (name, query, baseline) in cases.into_iter().filter(|c| c.0.contains(&only)) {
        let request = Arc::new(pier_query::parse_search(&query, None).expect("request parses"));
        let page = Page::Ranked { start: 0, hit: 10 };
        let total = index
            .search(&searcher, &request, page, &[])
            .expect("search")
            .total;
        let pier = median_us(runs, || {
            std::hint::black_box(index.search(&searcher, &request, page, &[]).unwrap());
        });
        let tantivy = median_us(runs, || read_docs(&searcher, baseline().into_iter()));
        println!(
            "{name:<30} {total:>9} {pier:>12.0} {tantivy:>12.0} {:>6.2}x",
            pier / tantivy
        );
    }
}
