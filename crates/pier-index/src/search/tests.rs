//! Tests of the executor's fast paths against what the general evaluation gives: grouping by
//! term ordinal across segments, filters narrowed into the tantivy query, and the top-k
//! collector's cut-off.

use super::{Facet, Page, SearchOutput};
use crate::TableIndex;
use pier_model::Schema;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn open(dir: &std::path::Path) -> TableIndex {
    let s = Schema::from_json(&json!({"tables": {"main": {"fields": {
        "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"},
        "brand": {"type": "LITERAL"}, "tags": {"type": "LITERAL_ARRAY"}, "cat": {"type": "INT"},
        "price": {"type": "INT"}, "sizes": {"type": "INT_ARRAY"}, "rating": {"type": "DOUBLE"},
        "loc": {"type": "GEO_POINT"}}}},
        "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "chn_standard"}},
        "filterFields": ["brand", "tags", "cat", "price", "sizes", "rating", "loc"]}}))
    .unwrap();
    let (search, filters) = pier_model::schema::table_indexes(&s, "main");
    TableIndex::open(dir, &search, &filters).unwrap()
}

/// Writes `docs` (id → document) in one commit: each call makes a segment.
fn segment(index: &TableIndex, docs: &[Value]) {
    for d in docs {
        let d = d.as_object().unwrap();
        index.upsert(d["id"].as_str().unwrap(), d).unwrap();
    }
    index.commit(1).unwrap();
}

fn search(index: &TableIndex, query: &str, page: Page) -> SearchOutput {
    let request = Arc::new(pier_query::parse_search(query, None).unwrap());
    index
        .search(&index.searcher(), &request, page, &[])
        .unwrap()
}

fn ranked(hit: usize) -> Page {
    Page::Ranked { start: 0, hit }
}

/// A group's count and function values.
type Group = (u64, Vec<(&'static str, f64)>);

/// A facet as `label → group`, for comparisons that ignore group order.
fn groups(facet: &Facet) -> BTreeMap<String, Group> {
    facet
        .items
        .iter()
        .map(|i| (i.value.clone(), (i.count, i.values.clone())))
        .collect()
}

/// Three segments in which the same brand has different term ordinals, some documents have
/// no brand, and multi-value fields hold several values.
fn three_segments(index: &TableIndex) {
    segment(
        index,
        &[
            json!({"id": "1", "title": "red apple", "brand": "c", "tags": ["x", "y"], "cat": 1, "price": 5, "sizes": [30, 40], "rating": 1.5}),
            json!({"id": "2", "title": "green apple", "brand": "d", "tags": ["y"], "cat": 2, "price": 60, "rating": 2.5}),
            json!({"id": "3", "title": "apple pie", "tags": [], "cat": 1, "price": 100}),
        ],
    );
    segment(
        index,
        &[
            json!({"id": "4", "title": "apple tart", "brand": "b", "tags": ["x", "z"], "cat": 2, "price": 10, "sizes": [5]}),
            json!({"id": "5", "title": "apple juice", "brand": "c", "cat": 3, "price": 49, "rating": 1.5}),
        ],
    );
    segment(
        index,
        &[json!({"id": "6", "title": "pear", "brand": "a", "cat": 1, "price": 7})],
    );
}

#[test]
fn string_groups_merge_across_segments_by_value_not_ordinal() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    assert_eq!(index.searcher().segment_readers().len(), 3);
    let out = search(
        &index,
        "query=default:'apple'&&aggregate=group_key:brand,agg_fun:count()#sum(price)#max(rating)#distinct_count(cat)",
        ranked(10),
    );
    assert_eq!(out.total, 5);
    let expected = BTreeMap::from([
        (
            "b".to_string(),
            (
                1,
                vec![
                    ("count", 1.0),
                    ("sum", 10.0),
                    ("max", 0.0),
                    ("distinct_count", 1.0),
                ],
            ),
        ),
        (
            "c".to_string(),
            (
                2,
                vec![
                    ("count", 2.0),
                    ("sum", 54.0),
                    ("max", 1.5),
                    ("distinct_count", 2.0),
                ],
            ),
        ),
        (
            "d".to_string(),
            (
                1,
                vec![
                    ("count", 1.0),
                    ("sum", 60.0),
                    ("max", 2.5),
                    ("distinct_count", 1.0),
                ],
            ),
        ),
    ]);
    // Document 3 has no brand: it is in no group; "a" is in no matching document.
    assert_eq!(groups(&out.facets[0]), expected);
    // Largest group first, then by value.
    let order: Vec<&str> = out.facets[0]
        .items
        .iter()
        .map(|i| i.value.as_str())
        .collect();
    assert_eq!(order, ["c", "b", "d"]);
}

#[test]
fn multi_value_keys_count_every_value_and_ranges_take_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let out = search(
        &index,
        "query=''&&aggregate=group_key:tags,agg_fun:count();group_key:sizes,agg_fun:count(),range:10~50;group_key:price,agg_fun:count(),range:10~50;group_key:cat,agg_fun:sum(price),agg_filter:price>6",
        ranked(0),
    );
    assert_eq!(out.total, 6);
    let counts = |f: &Facet| -> Vec<(String, u64)> {
        let mut v: Vec<_> = f.items.iter().map(|i| (i.value.clone(), i.count)).collect();
        v.sort();
        v
    };
    let pairs = |p: &[(&str, u64)]| -> Vec<(String, u64)> {
        p.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    };
    // Each value of a multi-value field is a group.
    assert_eq!(
        counts(&out.facets[0]),
        pairs(&[("x", 2), ("y", 2), ("z", 1)])
    );
    // Range buckets of a multi-value field use its first value ([30, 40] → one 10~50, 5 → ~10).
    assert_eq!(counts(&out.facets[1]), pairs(&[("10~50", 1), ("~10", 1)]));
    assert_eq!(
        counts(&out.facets[2]),
        pairs(&[("10~50", 2), ("50~", 2), ("~10", 2)])
    );
    // agg_filter drops documents 1 (price 5) from its groups only.
    let cat = groups(&out.facets[3]);
    assert_eq!(cat["1"], (2, vec![("sum", 107.0)]));
    assert_eq!(cat["2"], (2, vec![("sum", 70.0)]));
    assert_eq!(cat["3"], (1, vec![("sum", 49.0)]));
}

#[test]
fn integer_groups_over_narrow_and_wide_spans() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    // Segment 1 spans -3..=2 (grouped by offset), segment 2 spans ±70,000 (hashed).
    segment(
        &index,
        &[
            json!({"id": "1", "title": "a", "cat": -3, "price": 1}),
            json!({"id": "2", "title": "a", "cat": 2, "price": 2}),
            json!({"id": "3", "title": "a", "cat": -3, "price": 4}),
        ],
    );
    segment(
        &index,
        &[
            json!({"id": "4", "title": "a", "cat": -70000, "price": 8}),
            json!({"id": "5", "title": "a", "cat": 70000, "price": 16}),
            json!({"id": "6", "title": "a", "cat": 2, "price": 32}),
            json!({"id": "7", "title": "a", "price": 64}),
        ],
    );
    let out = search(
        &index,
        "query=''&&aggregate=group_key:cat,agg_fun:sum(price)",
        ranked(0),
    );
    let expected = BTreeMap::from([
        ("-3".to_string(), (2, vec![("sum", 5.0)])),
        ("2".to_string(), (2, vec![("sum", 34.0)])),
        ("-70000".to_string(), (1, vec![("sum", 8.0)])),
        ("70000".to_string(), (1, vec![("sum", 16.0)])),
    ]);
    assert_eq!(groups(&out.facets[0]), expected);
}

#[test]
fn aggregates_see_documents_distinct_later_drops() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let out = search(
        &index,
        "query=default:'apple'&&distinct=dist_key:cat,dist_count:1,dist_times:1,reserved:false,update_total_hit:true&&aggregate=group_key:cat,agg_fun:count()",
        ranked(10),
    );
    // Cats 1, 2, 2, 3, 1 among the five apples: distinct keeps one per cat.
    assert_eq!(out.total, 3);
    assert_eq!(out.hits.len(), 3);
    let cat = groups(&out.facets[0]);
    assert_eq!((cat["1"].0, cat["2"].0, cat["3"].0), (2, 2, 1));
}

/// Pushing `field = constant` into the tantivy query must change neither the matches, nor
/// their scores, nor the total: compare with the same filter written so it cannot be pushed.
#[test]
fn narrowed_filters_give_the_same_results_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    for (pushed, evaluated) in [
        ("brand=\"c\"", "in(brand, \"c\")"),
        ("tags=\"x\"", "in(tags, \"x\")"),
        ("cat=2", "cat=2.0"),
        ("cat=1 AND price>50", "cat=1.0 AND price>50"),
        ("brand=\"zz\"", "in(brand, \"zz\")"),
    ] {
        for query in [
            "default:'apple'",
            "''",
            "default:'apple' OR default:'pear'",
            "default:'apple' RANK default:'green'",
            "default:'red apple'",
        ] {
            let run = |filter: &str| {
                let out = search(
                    &index,
                    &format!("query={query}&&filter={filter}"),
                    ranked(10),
                );
                let hits: Vec<(String, f32)> = out
                    .hits
                    .iter()
                    .map(|h| (h.fields["id"].as_str().unwrap().to_string(), h.score))
                    .collect();
                (out.total, hits)
            };
            let (a, b) = (run(pushed), run(evaluated));
            assert_eq!(a, b, "{pushed} vs {evaluated} on {query}");
        }
    }
    let out = search(&index, "query=default:'apple'&&filter=cat=2", ranked(10));
    assert_eq!(out.total, 2);
}

/// The per-segment cut-off (documents ranked after the worst kept candidate are skipped) keeps
/// exactly the best `start + hit`, ties broken by address.
#[test]
fn top_k_cut_off_keeps_the_best_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let docs = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|i| json!({"id": i.to_string(), "title": "apple", "cat": i % 7, "price": (i * 7919) % 1000}))
            .collect()
    };
    segment(&index, &docs(0, 3000));
    segment(&index, &docs(3000, 5000));
    let out = search(
        &index,
        "query=default:'apple'&&sort=-price;+cat&&filter=cat!=3",
        Page::Ranked { start: 5, hit: 20 },
    );
    let mut expected: Vec<(i64, i64, usize)> = (0..5000)
        .filter(|i| i % 7 != 3)
        .map(|i| (-(((i * 7919) % 1000) as i64), (i % 7) as i64, i))
        .collect();
    expected.sort();
    assert_eq!(out.total, expected.len() as u64);
    let got: Vec<(i64, i64)> = out
        .hits
        .iter()
        .map(|h| {
            (
                -h.fields["price"].as_i64().unwrap(),
                h.fields["cat"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(i64, i64)> = expected[5..25].iter().map(|(p, c, _)| (*p, *c)).collect();
    assert_eq!(got, want);
}

/// A phrase or an AND is counted in the same pass as its top k; the total must still be every
/// match, not only the page.
#[test]
fn one_pass_totals_count_every_match() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let phrase = search(&index, "query=default:\"apple pie\"", ranked(1));
    assert_eq!((phrase.total, phrase.hits.len()), (1, 1));
    let and = search(
        &index,
        "query=default:'apple' AND default:'green'",
        ranked(1),
    );
    assert_eq!(and.total, 1);
    let or = search(&index, "query=default:'apple' OR default:'pear'", ranked(2));
    assert_eq!((or.total, or.hits.len()), (6, 2));
}

/// Aggregates of a term take the page from tantivy's top-k and the groups from a second pass:
/// the page, scores and total must be those the general collector gives.
#[test]
fn aggregate_pages_match_the_general_collector() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let page = Page::Ranked { start: 1, hit: 3 };
    let hits = |out: &SearchOutput| -> Vec<(String, f32, Vec<super::Val>)> {
        out.hits
            .iter()
            .map(|h| {
                let id = h.fields["id"].as_str().unwrap().to_string();
                (id, h.score, h.sort_values.clone())
            })
            .collect()
    };
    let split = search(
        &index,
        "query=default:'apple'&&aggregate=group_key:brand,agg_fun:count()",
        page,
    );
    // `price+0>=0` holds for every document but is not pushed down: the general collector.
    let general = search(&index, "query=default:'apple'&&filter=price+0>=0", page);
    assert_eq!(split.total, 5);
    assert_eq!((split.total, hits(&split)), (general.total, hits(&general)));
    assert_eq!(split.hits.len(), 3);
    assert_eq!(groups(&split.facets[0])["c"].0, 2);
}

#[test]
fn a_page_of_zero_hits_only_counts() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    for query in [
        "query=''",
        "query=default:'red'",
        "query=default:'red' OR default:'blue'",
    ] {
        let counted = search(&index, query, ranked(0));
        assert!(counted.hits.is_empty(), "{query}");
        assert_eq!(
            counted.total,
            search(&index, query, ranked(100)).total,
            "{query}"
        );
    }
}

/// The ids of a page, in order.
fn page_ids(out: &SearchOutput) -> Vec<&str> {
    out.hits
        .iter()
        .map(|h| h.fields["id"].as_str().unwrap())
        .collect()
}

#[test]
fn fieldlen_counts_bytes_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let ids = |filter: &str| {
        let out = search(
            &index,
            &format!("query=''&&filter={filter}&&sort=+price"),
            ranked(10),
        );
        page_ids(&out).join(",")
    };
    // Brands are one byte; documents 3 has none (length 0).
    assert_eq!(ids("fieldlen(brand)=1"), "1,6,4,5,2");
    assert_eq!(ids("fieldlen(brand)=0"), "3");
    // Tags: 1 → 2 values, 2 → 1, 3 → none, 4 → 2, 5/6 → none.
    assert_eq!(ids("fieldlen(tags)>=2"), "1,4");
    assert_eq!(ids("fieldlen(tags)=0"), "6,5,3");
    assert_eq!(ids("fieldlen(sizes)=1"), "4");
    // As a sort key: most tags first, then price.
    let out = search(&index, "query=''&&sort=-fieldlen(tags);+price", ranked(3));
    assert_eq!(page_ids(&out), ["1", "4", "2"]);
    assert_eq!(out.hits[0].sort_values[0], super::Val::Int(2));
}

#[test]
fn distance_filters_and_sorts_in_kilometres() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    // Hangzhou West Lake, Hangzhou East station (about 8.6 km away), Shanghai (about 165 km),
    // and a document without a location.
    segment(
        &index,
        &[
            json!({"id": "lake", "title": "a", "loc": "120.1485 30.2425", "price": 1}),
            json!({"id": "east", "title": "a", "loc": "120.2126 30.2908", "price": 2}),
        ],
    );
    segment(
        &index,
        &[
            json!({"id": "shanghai", "title": "a", "loc": "121.4737 31.2304", "price": 3}),
            json!({"id": "none", "title": "a", "price": 4}),
        ],
    );
    let here = "\"120.1485\",\"30.2425\"";
    let out = search(
        &index,
        &format!("query=''&&filter=distance(loc,{here})<10&&sort=+distance(loc,{here})"),
        ranked(10),
    );
    assert_eq!(page_ids(&out), ["lake", "east"]);
    let super::Val::Float(km) = out.hits[1].sort_values[0] else {
        panic!("{:?}", out.hits[1].sort_values)
    };
    assert!((8.0..9.0).contains(&km), "{km}");
    // The four-argument form with constants on both sides, and a document without a point,
    // which no distance comparison keeps.
    let out = search(
        &index,
        &format!(
            "query=''&&filter=distance({here},\"121.4737\",\"31.2304\")>100 AND distance(loc,{here})>100"
        ),
        ranked(10),
    );
    assert_eq!(page_ids(&out), ["shanghai"]);
    let out = search(
        &index,
        &format!("query=''&&sort=-distance(loc,{here})"),
        ranked(10),
    );
    assert_eq!(page_ids(&out), ["shanghai", "east", "lake", "none"]);
}

#[test]
fn function_errors_from_unchecked_filters_name_the_clause() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    // Parsed without a schema, as other dialects' filters arrive: the executor checks.
    for (query, code, needle) in [
        (
            "query=''&&filter=fieldlen(price)>0",
            6113,
            "filter clause: fieldlen takes",
        ),
        (
            "query=''&&sort=+distance(brand,cat,loc)",
            6115,
            "sort clause: distance(): the longitude 'brand'",
        ),
        (
            "query=''&&filter=fieldlen(nope)>0",
            6127,
            "'nope' is not an attribute field",
        ),
        (
            "query=''&&filter=soundex(brand)=1",
            6113,
            "soundex() is not supported",
        ),
    ] {
        let request = Arc::new(pier_query::parse_search(query, None).unwrap());
        let e = index
            .search(&index.searcher(), &request, ranked(10), &[])
            .unwrap_err();
        assert_eq!(e.code, code, "{query}: {}", e.message);
        assert!(e.message.contains(needle), "{query}: {}", e.message);
    }
}

/// Aggregates of `count()` alone over single-valued keys are counted a block of documents at a
/// time from the columns: they must give what the per-document path gives (forced here by an
/// `agg_filter` that holds for every document).
#[test]
fn count_only_aggregates_agree_with_the_per_document_path() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let specs = [
        "group_key:brand,agg_fun:count()",
        "group_key:cat,agg_fun:count()",
        "group_key:rating,agg_fun:count()",
        "group_key:price,agg_fun:count(),range:10~50",
        "group_key:tags,agg_fun:count()",
    ];
    for spec in specs {
        // A term ranked by relevance, and a page of no hits: the paths that only count.
        for (query, page) in [("default:'apple'", ranked(10)), ("''", ranked(0))] {
            let fast = search(&index, &format!("query={query}&&aggregate={spec}"), page);
            let general = search(
                &index,
                &format!("query={query}&&aggregate={spec},agg_filter:price>=0"),
                page,
            );
            assert_eq!(fast.total, general.total, "{query} {spec}");
            assert_eq!(
                groups(&fast.facets[0]),
                groups(&general.facets[0]),
                "{query} {spec}"
            );
        }
    }
    let out = search(
        &index,
        "query=default:'apple'&&aggregate=group_key:brand,agg_fun:count();group_key:price,agg_fun:count(),range:10~50",
        ranked(10),
    );
    let count = |facet: &Facet, label: &str| groups(facet)[label].0;
    assert_eq!(
        [
            count(&out.facets[0], "b"),
            count(&out.facets[0], "c"),
            count(&out.facets[0], "d")
        ],
        [1, 2, 1]
    );
    // Prices 5, 60, 100, 10, 49 among the apples.
    assert_eq!(
        [
            count(&out.facets[1], "~10"),
            count(&out.facets[1], "10~50"),
            count(&out.facets[1], "50~")
        ],
        [1, 2, 2]
    );
    assert_eq!(out.facets[0].items[0].values, vec![("count", 2.0)]);
}

/// Numeric comparisons pushed down as range clauses (and left out of the filter) must change
/// neither the matches, nor their order and scores, nor the total: compare with the same
/// comparisons written so that they are evaluated per document.
#[test]
fn ranges_pushed_down_give_the_same_results_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    // Signed zeros, a negative rating, a document without price or rating.
    segment(
        &index,
        &[
            json!({"id": "7", "title": "apple zero", "cat": 4, "price": 0, "rating": -0.0, "sizes": [1, 50]}),
            json!({"id": "8", "title": "apple plus", "cat": 4, "price": -3, "rating": 0.0}),
            json!({"id": "9", "title": "apple minus", "cat": 4, "rating": -2.5}),
            json!({"id": "10", "title": "apple bare", "cat": 5}),
        ],
    );
    let cases = [
        ("price>=10", "price+0>=10"),
        ("price>10", "price+0>10"),
        ("price<49", "price+0<49"),
        ("price<=49", "price+0<=49"),
        ("49>=price", "49>=price+0"),
        ("price>=-3", "price+0>=-3"),
        ("rating>1.5", "rating+0>1.5"),
        ("rating>=1.5", "rating+0>=1.5"),
        ("rating>=0", "rating+0>=0"),
        ("rating>0", "rating+0>0"),
        ("rating<=0", "rating+0<=0"),
        ("rating<0", "rating+0<0"),
        ("rating=0", "rating+0=0"),
        ("rating=-0.0", "rating+0=-0.0"),
        ("rating=1.5", "rating+0=1.5"),
        ("rating>=2", "rating+0>=2"),
        ("cat>=0", "cat+0>=0"),
        ("cat=1", "cat+0=1"),
        ("cat>=1 AND price<100", "cat+0>=1 AND price+0<100"),
        (
            "(cat>=1 AND price<100) AND brand=\"c\"",
            "cat+0>=1 AND price+0<100 AND in(brand, \"c\")",
        ),
        ("price>=0 OR cat=5", "price+0>=0 OR cat+0=5"),
        ("sizes>=30", "sizes+0>=30"),
        (
            "price>=10 AND fieldlen(tags)>=1",
            "price+0>=10 AND fieldlen(tags)>=1",
        ),
    ];
    for (pushed, evaluated) in cases {
        for (query, sort) in [
            ("default:'apple'", ""),
            ("''", ""),
            ("default:'apple' OR default:'pear'", ""),
            ("default:'apple'", "&&sort=-price;+RANK"),
            ("''", "&&sort=+rating"),
        ] {
            let run = |filter: &str| {
                let out = search(
                    &index,
                    &format!("query={query}&&filter={filter}{sort}"),
                    ranked(20),
                );
                let hits: Vec<(String, f32)> = out
                    .hits
                    .iter()
                    .map(|h| (h.fields["id"].as_str().unwrap().to_string(), h.score))
                    .collect();
                (out.total, hits)
            };
            let (a, b) = (run(pushed), run(evaluated));
            assert_eq!(a, b, "{pushed} vs {evaluated} on {query}{sort}");
        }
    }
    // Spot checks of the exact hits.
    let ids = |filter: &str| {
        let out = search(&index, &format!("query=''&&filter={filter}"), ranked(20));
        let mut ids: Vec<String> = page_ids(&out).iter().map(|s| s.to_string()).collect();
        ids.sort_by_key(|s| s.parse::<u32>().unwrap());
        ids.join(",")
    };
    assert_eq!(ids("rating>=0"), "1,2,5,7,8");
    assert_eq!(ids("rating<=0"), "7,8,9");
    assert_eq!(ids("price<10"), "1,6,7,8");
    assert_eq!(ids("cat>=4 AND price>=-3"), "7,8");
}

/// What [`super::text::push_down`] takes out of a filter, and what it leaves.
#[test]
fn push_down_takes_exact_numeric_conjuncts_only() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    three_segments(&index);
    let searcher = index.searcher();
    let pushed = |filter: &str| {
        let request =
            pier_query::parse_search(&format!("query=''&&filter={filter}"), None).unwrap();
        super::text::push_down(&index, &searcher, request.filter.as_ref().unwrap())
            .map(|p| (p.ranges.len(), p.residual.is_some()))
    };
    // Every document has a cat of at least 0: no clause at all.
    assert_eq!(pushed("cat>=0"), Some((0, false)));
    assert_eq!(pushed("price>=10"), Some((1, false)));
    // `=` on an INT is the required term.
    assert_eq!(pushed("cat=1"), Some((0, false)));
    assert_eq!(pushed("price>=10 AND in(brand, \"c\")"), Some((1, true)));
    assert_eq!(pushed("rating<2 AND (price>5 AND cat<3)"), Some((3, false)));
    // Every price is above 1: that conjunct needs no clause.
    assert_eq!(pushed("rating<2 AND price>1"), Some((1, false)));
    // Multi-value fields, `!=`, OR, strings, mixed types and arithmetic stay in the filter.
    for kept in [
        "sizes>=30",
        "price!=5",
        "price>1 OR cat=1",
        "brand=\"c\"",
        "cat>=0.5",
        "price+1>2",
        "price>\"5\"",
    ] {
        assert_eq!(pushed(kept), None, "{kept}");
    }
}

/// A table with the array fields the cloud's functionality functions read.
fn open_functions(dir: &std::path::Path) -> TableIndex {
    let s = Schema::from_json(&json!({"tables": {"main": {"fields": {
        "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"},
        "area": {"type": "DOUBLE_ARRAY"}, "pt": {"type": "DOUBLE_ARRAY"},
        "loc": {"type": "GEO_POINT"}, "hours": {"type": "INT_ARRAY"},
        "prices": {"type": "INT_ARRAY"}, "names": {"type": "LITERAL_ARRAY"}, "n": {"type": "INT"}}}},
        "indexes": {"searchFields": {"default": {"fields": ["title"], "analyzer": "chn_standard"}},
        "filterFields": ["id", "area", "pt", "loc", "hours", "prices", "names", "n"]}}))
    .unwrap();
    let (search, filters) = pier_model::schema::table_indexes(&s, "main");
    TableIndex::open(dir, &search, &filters).unwrap()
}

/// `start` in the high 32 bits, `end` in the low: the documentation's opening-hours layout.
fn hours(start: i64, end: i64) -> i64 {
    (start << 32) | end
}

fn function_docs(index: &TableIndex) {
    segment(
        index,
        &[
            // A square around (5, 5); its point and location are inside the query's square.
            json!({"id": "a", "title": "shop", "area": [0, 0, 10, 0, 10, 10, 0, 10], "pt": [2, 2], "loc": "2 2",
                   "hours": [hours(480, 720), hours(780, 1320)], "prices": [300, 250, 199], "names": ["x", "y"], "n": 1}),
            // Two polygons (multi layout: N, vertex counts, coordinates), the second around (25, 25).
            json!({"id": "b", "title": "shop", "area": [2, 3, 4, 100, 100, 101, 100, 101, 101, 20, 20, 30, 20, 30, 30, 20, 30],
                   "pt": [25, 25], "loc": "25 25", "hours": [hours(480, 720)], "prices": [500], "n": 0}),
        ],
    );
    segment(
        index,
        &[
            // Odd coordinates (bad data gives 0), an array point of three values (no point).
            json!({"id": "c", "title": "shop", "area": [0, 0, 10, 0, 10], "pt": [1, 2, 3], "loc": "50 50",
                   "hours": [hours(900, 1000), hours(600, 840)], "prices": [10, 20, 30, 40], "names": ["z"], "n": 3}),
            json!({"id": "d", "title": "shop"}),
        ],
    );
}

#[test]
fn polygons_from_documents_and_from_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let index = open_functions(dir.path());
    function_docs(&index);
    let ids = |query: &str| {
        let out = search(&index, &format!("query=''&&{query}&&sort=+id"), ranked(10));
        page_ids(&out).join(",")
    };
    assert_eq!(ids("filter=in_polygon(area, 5, 5)>0"), "a");
    assert_eq!(ids("filter=in_polygon(area, 25, 25, \"true\")=2"), "b");
    assert_eq!(
        ids("filter=in_polygon(area, 100.8, 100.2, \"true\")=1"),
        "b"
    );
    // Without the multi flag "b"'s array is read as one (odd) polygon: 0.
    assert_eq!(ids("filter=in_polygon(area, 25, 25)>0"), "");
    assert_eq!(ids("filter=in_polygon(area, 5, 5)=0"), "b,c,d");
    // The edge counts as inside; quoted coordinates and kvpairs keys work as numbers.
    assert_eq!(ids("filter=in_polygon(area, \"10\", \"5\")>0"), "a");
    assert_eq!(
        ids("filter=in_polygon(area, ux, uy)>0&&kvpairs=ux:3,uy:9"),
        "a"
    );
    // The request's polygons against array points, GEO_POINTs.
    let square = r"0\,0\,10\,0\,10\,10\,0\,10";
    let far = r"20\,20\,30\,20\,30\,30\,20\,30";
    assert_eq!(
        ids(&format!(
            "filter=in_query_polygon(\"polys\", pt)>0&&kvpairs=polys:{square};{far}"
        )),
        "a,b"
    );
    assert_eq!(
        ids(&format!(
            "filter=in_query_polygon(\"polys\", loc)=2&&kvpairs=polys:{square};{far}"
        )),
        "b"
    );
    assert_eq!(
        ids(&format!(
            "filter=in_query_polygon(polys, loc)=0&&kvpairs=polys:{square}"
        )),
        "b,c,d"
    );
    // As a sort key: the polygon index.
    let out = search(
        &index,
        &format!(
            "query=''&&sort=-in_query_polygon(\"polys\", loc);+id&&kvpairs=polys:{square};{far}"
        ),
        ranked(10),
    );
    assert_eq!(page_ids(&out), ["b", "a", "c", "d"]);
    assert_eq!(out.hits[0].sort_values[0], super::Val::Int(2));
}

#[test]
fn bit_struct_and_multi_attr_read_array_values_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let index = open_functions(dir.path());
    function_docs(&index);
    let ids = |query: &str| {
        let out = search(&index, &format!("query=''&&{query}&&sort=+id"), ranked(10));
        page_ids(&out).join(",")
    };
    // Open at some time between 14:00 and 15:30 (840..930 minutes).
    let open = "bit_struct(hours, \"0-31,32-63\", \"overlap,$1,$2,840,930\")";
    assert_eq!(ids(&format!("filter={open}!=-1")), "a,c");
    // The index of the first period that holds: "a"'s second, "c"'s first.
    assert_eq!(ids(&format!("filter={open}=1")), "a");
    assert_eq!(ids(&format!("filter={open}=0")), "c");
    assert_eq!(ids(&format!("filter={open}=-1")), "b,d");
    // Opening at 8:00 exactly, then chained operations.
    assert_eq!(
        ids("filter=bit_struct(hours, \"0-31,32-63\", \"equal,$1,480\")=0"),
        "a,b"
    );
    assert_eq!(
        ids(
            "filter=bit_struct(hours, \"0-31,32-63\", \"equal,$1,900\", \"equal,$2,1000\", \"and,$3,$4\")=0"
        ),
        "c"
    );
    // multi_attr: the value at a position, 0 or the default when there is none.
    assert_eq!(ids("filter=multi_attr(prices, 2)<200"), "a,b,c,d");
    assert_eq!(
        ids("filter=multi_attr(prices, 2)<200 AND multi_attr(prices, 2)>0"),
        "a,c"
    );
    assert_eq!(ids("filter=multi_attr(prices, 2, \"1000\")<200"), "a,c");
    assert_eq!(ids("filter=multi_attr(prices, n)=250"), "a");
    assert_eq!(ids("filter=multi_attr(names, 1)=\"y\""), "a");
    assert_eq!(ids("filter=multi_attr(names, 1)=\"\""), "b,c,d");
    let out = search(
        &index,
        "query=''&&sort=+multi_attr(prices, 1, \"600\");+id",
        ranked(10),
    );
    assert_eq!(page_ids(&out), ["c", "a", "b", "d"]);
    assert_eq!(out.hits[0].sort_values[0], super::Val::Int(20));
    assert_eq!(out.hits[2].sort_values[0], super::Val::Int(600));
}
