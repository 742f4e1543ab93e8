//! `/vector-service/*`: query, multi-query, batch-query, fetch and stats over a table's vector
//! graphs, text index and documents.

use super::{OpenTable, convert, open_table, sort, text_recall};
use pier_engine::Engine;
use pier_engine::sparse_search::SparseQuery;
use pier_engine::vector_search::{VectorHit, VectorQuery, VectorSearchError};
use pier_index::search::Page;
use pier_vse::fusion::{Ranked, fuse, merge_multi_query};
use pier_vse::response::{
    PartitionStats, Score, aggregate_response, batch_query_response, select_fields, stats_response,
};
use pier_vse::{
    AggregateRequest, BatchQueryRequest, Code, DistanceType, Endpoint, FetchRequest, Hit,
    MultiQueryRequest, Order, QueryRequest, SearchRequest, StatsRequest, VseError, query_response,
    search_response,
};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Answers one `/vector-service/*` request (blocking: searches and document reads).
pub fn run(
    engine: &Engine,
    endpoint: &Endpoint,
    body: &[u8],
    started: Instant,
) -> Result<Value, VseError> {
    match endpoint {
        Endpoint::Query => {
            let req = QueryRequest::parse(body)?;
            let hits = query(engine, req)?;
            Ok(query_response(&hits, ms(started)))
        }
        Endpoint::MultiQuery => {
            let req = MultiQueryRequest::parse(body)?;
            let hits = multi_query(engine, req)?;
            Ok(query_response(&hits, ms(started)))
        }
        Endpoint::BatchQuery => {
            let req = BatchQueryRequest::parse(body)?;
            let results: Vec<Result<Vec<Hit>, VseError>> =
                req.queries.into_iter().map(|q| query(engine, q)).collect();
            Ok(batch_query_response(&results, ms(started)))
        }
        Endpoint::Fetch => {
            let req = FetchRequest::parse(body)?;
            let hits = fetch(engine, req)?;
            Ok(query_response(&hits, ms(started)))
        }
        Endpoint::Stats => {
            let req = StatsRequest::parse(body)?;
            let t = table(engine, &req.table_name)?;
            let searcher = t.table.index.searcher();
            let stats = PartitionStats {
                part_id: 0,
                doc_count: searcher.num_docs(),
                segment_count: searcher.segment_readers().len() as u64,
            };
            Ok(stats_response(&[stats], ms(started)))
        }
        Endpoint::InferenceQuery => Err(not_supported(
            "inference-query: pier has no embedding model; compute the vector and use /vector-service/query",
        )),
        Endpoint::Search => {
            let req = SearchRequest::parse(body)?;
            let hits = hybrid(engine, req)?;
            Ok(search_response(&hits, ms(started), 1.0))
        }
        Endpoint::Aggregate => {
            let req = AggregateRequest::parse(body)?;
            let rows = super::aggregate::run(engine, req)?;
            Ok(aggregate_response(&rows, ms(started)))
        }
        Endpoint::Push { .. } | Endpoint::Active => Err(VseError::resource_not_found()),
    }
}

fn not_supported(what: &str) -> VseError {
    VseError::new(Code::INVALID_PARAMETER, what.to_string()).with_status(501)
}

fn table(engine: &Engine, name: &str) -> Result<OpenTable, VseError> {
    open_table(engine, name).ok_or_else(|| VseError::table_not_found(name))
}

fn search_error(e: VectorSearchError) -> VseError {
    match e {
        VectorSearchError::Invalid(m) => VseError::new(Code::INVALID_PARAMETER, m),
        VectorSearchError::Internal(m) => VseError::internal(&m),
    }
}

/// Runs one query (also a multi-query or batch-query item) to its ranked keys: every query
/// vector searched (or, with `textQueryString`, the text matches scored exactly, see
/// [`text_recall`]), a key keeping its best score (multi-vector documents score with their best
/// vector), then the score threshold, best first, `topK`, and last `sort`/`sorts` (see
/// [`sort`]) or `order`. Also returns the distance the scores are in: the index's, or inner
/// product when `sparseData` is sent (sparse scores are inner products, and dense scores are
/// added to them, spec §2.1).
fn ranked(
    engine: &Engine,
    t: &OpenTable,
    req: &mut QueryRequest,
) -> Result<(Vec<Ranked>, DistanceType), VseError> {
    let index = req.resolve(&t.schema)?.clone();
    sort::check_one(&req.sort, &req.sorts, "")?;
    if req.text_query_string.is_some() && req.sparse.is_some() {
        return Err(not_supported(
            "textQueryString together with sparseData is not supported by pier yet: send one of them",
        ));
    }
    let filter = req.filter.as_ref().map(|f| convert::engine_filter(&f.expr));
    let ef = index
        .search_params
        .overridden_by(&req.search_params)
        .effective_ef() as usize;
    let distance = if req.sparse.is_some() {
        DistanceType::InnerProduct
    } else {
        index.distance_type
    };
    let higher_better = distance.higher_is_better();
    let namespace = req.namespace.as_deref().unwrap_or("");
    let text = match &req.text_query_string {
        Some(q) => Some(text_recall::candidates(
            engine,
            t,
            &index,
            q,
            filter.as_ref(),
            req.namespace.as_deref(),
        )?),
        None => None,
    };
    let mut best: HashMap<String, f64> = HashMap::new();
    for (dense, sparse) in query_pairs(req)? {
        let hits = match (&text, sparse) {
            // The text matches are scored exactly, not searched in the graph.
            (Some(text), _) => text
                .score(dense.unwrap_or_default())
                .into_iter()
                .map(|(pk, score)| VectorHit { pk, score })
                .collect(),
            (None, None) => engine
                .vector_search(
                    &t.table,
                    &VectorQuery {
                        index: &index.name,
                        namespace,
                        vector: dense.unwrap_or_default(),
                        k: req.top_k,
                        ef: Some(ef.max(req.top_k)),
                        filter: filter.as_ref(),
                        exact: None,
                    },
                )
                .map_err(search_error)?,
            (None, Some((indices, values))) => engine
                .sparse_search(
                    &t.table,
                    &SparseQuery {
                        index: &index.name,
                        namespace,
                        indices,
                        values,
                        dense,
                        k: req.top_k,
                        ef: Some(ef.max(req.top_k)),
                        filter: filter.as_ref(),
                        exact: None,
                    },
                )
                .map_err(search_error)?,
        };
        for VectorHit { pk, score } in hits {
            let score = f64::from(score);
            best.entry(pk)
                .and_modify(|s| {
                    if (score > *s) == higher_better && score != *s {
                        *s = score;
                    }
                })
                .or_insert(score);
        }
    }
    let mut out: Vec<Ranked> = best
        .into_iter()
        .filter(|(_, s)| {
            req.score_threshold
                .is_none_or(|th| distance.passes_threshold(*s, th))
        })
        .map(|(pk, score)| Ranked { pk, score })
        .collect();
    sort_ranked(&mut out, distance.best_first());
    out.truncate(req.top_k);
    let keys = if req.sorts.is_empty() {
        &req.sort
    } else {
        &req.sorts
    };
    if !keys.is_empty() {
        let sorted = sort::sort_candidates(t, keys, out, distance.best_first())?;
        return Ok((sorted.into_iter().map(|s| s.ranked).collect(), distance));
    }
    let order = req.effective_order(distance);
    sort_ranked(&mut out, order);
    Ok((out, distance))
}

/// A dense query vector and/or a sparse one (indices, values).
type QueryPair<'a> = (Option<&'a [f32]>, Option<(&'a [u32], &'a [f32])>);

/// The searches of a query: each dense vector alone, each sparse vector alone, or, with both,
/// the i-th dense vector with the i-th sparse vector (`vectorCount` and `sparseData.count`
/// must then agree).
fn query_pairs(req: &QueryRequest) -> Result<Vec<QueryPair<'_>>, VseError> {
    let dense: Vec<&[f32]> = req.vectors().filter(|v| !v.is_empty()).collect();
    let Some(sparse) = &req.sparse else {
        return Ok(dense.into_iter().map(|d| (Some(d), None)).collect());
    };
    let sparse: Vec<(&[u32], &[f32])> = sparse.vectors().collect();
    if dense.is_empty() {
        return Ok(sparse.into_iter().map(|s| (None, Some(s))).collect());
    }
    if dense.len() != sparse.len() {
        return Err(VseError::new(
            Code::INVALID_PARAMETER,
            format!(
                "\"sparseData\" holds {} sparse vectors (\"count\") but \"vector\" holds {} (\"vectorCount\"); send one sparse vector per dense vector, or leave one side out",
                sparse.len(),
                dense.len()
            ),
        ));
    }
    Ok(dense
        .into_iter()
        .zip(sparse)
        .map(|(d, s)| (Some(d), Some(s)))
        .collect())
}

fn sort_ranked(items: &mut [Ranked], order: Order) {
    items.sort_by(|a, b| {
        let c = a.score.total_cmp(&b.score);
        let c = if order == Order::Desc { c.reverse() } else { c };
        c.then_with(|| a.pk.cmp(&b.pk))
    });
}

/// Runs one `/vector-service/query` request to its hits (also the ha3 form's vector queries).
pub(crate) fn query(engine: &Engine, mut req: QueryRequest) -> Result<Vec<Hit>, VseError> {
    let t = table(engine, &req.table_name)?;
    let (list, _) = ranked(engine, &t, &mut req)?;
    let index = req.index_name.clone().unwrap_or_default();
    // `sorts` reports each key's value as the score list (the list is already in key order).
    let scored: Vec<(String, Option<Score>)> = if req.sorts.is_empty() {
        list.into_iter()
            .map(|r| (r.pk, Some(Score::Single(r.score))))
            .collect()
    } else {
        let best = t
            .schema
            .vector_index(&index)
            .map_or(Order::Asc, |i| i.distance_type.best_first());
        sort::sort_candidates(&t, &req.sorts, list, best)?
            .into_iter()
            .map(|s| {
                let scores = s.scores();
                (s.ranked.pk, Some(Score::PerSort(scores)))
            })
            .collect()
    };
    hits_scored(
        engine,
        &t,
        scored,
        &Output {
            fields: &req.output_fields,
            all_when_empty: false,
            include_vector: req.include_vector,
            index: &index,
        },
    )
}

fn multi_query(engine: &Engine, mut req: MultiQueryRequest) -> Result<Vec<Hit>, VseError> {
    let t = table(engine, &req.table_name)?;
    let indexes: Vec<_> = req.resolve(&t.schema)?.into_iter().cloned().collect();
    if let Some(i) = req
        .queries
        .iter()
        .position(|q| !q.sort.is_empty() || !q.sorts.is_empty())
    {
        return Err(VseError::new(
            Code::INVALID_PARAMETER,
            format!(
                "queries[{i}]: a sub-query's sort/sorts would be undone by the merge; put \"sort\" on the multi-query itself"
            ),
        ));
    }
    let filter = req.filter.clone();
    let mut lists = Vec::new();
    let mut distances = Vec::new();
    for q in req.queries.iter_mut() {
        if q.filter.is_none() {
            q.filter = filter.clone();
        }
        let weight = q.weight.unwrap_or(1.0);
        let (list, distance) = ranked(engine, &t, q)?;
        distances.push(distance);
        lists.push((list, weight));
    }
    // The first sub-query's distance (inner product when it is sparse) orders the merge.
    let distance = distances
        .first()
        .copied()
        .or(indexes.first().map(|i| i.distance_type))
        .unwrap_or(DistanceType::SquaredEuclidean);
    let order = req.effective_order(distance);
    let mut merged = merge_multi_query(&lists, req.mode, order);
    merged.truncate(req.top_k);
    if !req.sort.is_empty() {
        merged = sort::sort_candidates(&t, &req.sort, merged, order)?
            .into_iter()
            .map(|s| s.ranked)
            .collect();
    }
    let index = indexes.first().map(|i| i.name.clone()).unwrap_or_default();
    hits(
        engine,
        &t,
        merged.into_iter().map(|r| (r.pk, Some(r.score))).collect(),
        &Output {
            fields: &req.output_fields,
            all_when_empty: false,
            include_vector: req.include_vector,
            index: &index,
        },
    )
}

/// `/vector-service/search`: the knn list and the text list (BM25 over the table's TEXT fields,
/// ha3 query syntax as in V3's query clause), fused by weighted sum or RRF, then paged.
fn hybrid(engine: &Engine, mut req: SearchRequest) -> Result<Vec<Hit>, VseError> {
    let t = table(engine, &req.table_name)?;
    let index = req.resolve(&t.schema)?.cloned();
    let wanted = req.from + req.size;
    let (knn, knn_distance) = match &mut req.knn {
        Some(q) => {
            let (list, distance) = ranked(engine, &t, q)?;
            (list, Some(distance))
        }
        None => (Vec::new(), None),
    };
    let text = match &req.text {
        Some(text) => text_ranked(&t, text, wanted.max(1))?,
        None => Vec::new(),
    };
    let distance = knn_distance.unwrap_or_else(|| {
        index
            .as_ref()
            .map_or(DistanceType::InnerProduct, |i| i.distance_type)
    });
    let fused = fuse(
        &knn,
        &text,
        distance,
        req.knn_weight(),
        req.text_weight(),
        req.rank,
        req.order,
    );
    let page: Vec<_> = fused.into_iter().skip(req.from).take(req.size).collect();
    let sources: HashMap<String, pier_vse::Source> =
        page.iter().map(|f| (f.pk.clone(), f.source)).collect();
    let index_name = index.map(|i| i.name.clone()).unwrap_or_default();
    let mut out = hits(
        engine,
        &t,
        page.into_iter().map(|f| (f.pk, Some(f.score))).collect(),
        &Output {
            fields: &req.output_fields,
            all_when_empty: false,
            include_vector: false,
            index: &index_name,
        },
    )?;
    for h in &mut out {
        h.source = sources.get(&pk_string(&h.id)).copied();
    }
    Ok(out)
}

/// The text part of a hybrid search, best first, with BM25 scores.
fn text_ranked(
    t: &OpenTable,
    text: &pier_vse::query::TextQuery,
    n: usize,
) -> Result<Vec<Ranked>, VseError> {
    let query = format!("query={}", text.query_string);
    let mut request = pier_query::parse_search(&query, None).map_err(|e| {
        VseError::new(
            Code::INVALID_PARAMETER,
            format!("text.queryString: {}", e.message),
        )
    })?;
    request.filter = text
        .filter
        .as_ref()
        .map(|f| convert::engine_filter(&f.expr));
    let page = Page::Ranked { start: 0, hit: n };
    let out = t.search(request, page, Code::INVALID_PARAMETER, "text")?;
    Ok(out
        .hits
        .into_iter()
        .filter_map(|h| {
            h.fields.get(&t.schema.primary_key).map(|pk| Ranked {
                pk: pk_string(pk),
                score: f64::from(h.score),
            })
        })
        .collect())
}

/// Runs one `/vector-service/fetch` request to its hits (also the SQL form's scans).
pub(crate) fn fetch(engine: &Engine, mut req: FetchRequest) -> Result<Vec<Hit>, VseError> {
    let t = table(engine, &req.table_name)?;
    req.resolve(&t.schema)?;
    let pks: Vec<String> = match &req.ids {
        Some(ids) => ids.clone(),
        None => scan(&t, &req)?,
    };
    let index = t
        .schema
        .default_vector_index()
        .map(|i| i.name.clone())
        .unwrap_or_default();
    hits(
        engine,
        &t,
        pks.into_iter().map(|pk| (pk, None)).collect(),
        &Output {
            fields: &req.output_fields,
            all_when_empty: true,
            include_vector: req.include_vector,
            index: &index,
        },
    )
}

/// A fetch without ids: the keys of the documents passing `filter`, in `sort` order (primary key
/// order without one), paged with `offset`/`limit`, from the text index's last commit.
fn scan(t: &OpenTable, req: &FetchRequest) -> Result<Vec<String>, VseError> {
    let mut request = pier_query::parse_search("query=''", None)
        .map_err(|e| VseError::internal(&e.to_string()))?;
    request.filter = req.filter.as_ref().map(|f| convert::engine_filter(&f.expr));
    request.sort = if req.sort.is_empty() {
        vec![pier_query::SortKey {
            order: pier_query::Order::Asc,
            key: pier_query::SortExpr::Expr(pier_query::Expr::Field(t.schema.primary_key.clone())),
        }]
    } else {
        req.sort.iter().map(convert::engine_sort).collect()
    };
    let page = Page::Ranked {
        start: req.offset,
        hit: req.limit,
    };
    let out = t.search(request, page, Code::FILTER_SYNTAX, "filter")?;
    Ok(out
        .hits
        .into_iter()
        .filter_map(|h| h.fields.get(&t.schema.primary_key).map(pk_string))
        .collect())
}

fn pk_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a hit shows.
struct Output<'a> {
    fields: &'a [String],
    all_when_empty: bool,
    include_vector: bool,
    /// The vector index whose field `includeVector` returns and whose namespace is shown.
    index: &'a str,
}

/// Reads the documents of ranked keys and renders them (keys no longer stored are skipped).
fn hits(
    engine: &Engine,
    t: &OpenTable,
    ranked: Vec<(String, Option<f64>)>,
    out: &Output<'_>,
) -> Result<Vec<Hit>, VseError> {
    let scored = ranked
        .into_iter()
        .map(|(pk, s)| (pk, s.map(Score::Single)))
        .collect();
    hits_scored(engine, t, scored, out)
}

/// [`hits`] with each key's score as it is shown (one number, or a `sorts` list).
fn hits_scored(
    engine: &Engine,
    t: &OpenTable,
    ranked: Vec<(String, Option<Score>)>,
    out: &Output<'_>,
) -> Result<Vec<Hit>, VseError> {
    let pks: Vec<&str> = ranked.iter().map(|(pk, _)| pk.as_str()).collect();
    let vector_fields: Vec<&str> = t
        .schema
        .vector_indexes
        .iter()
        .map(|i| i.vector_field.as_str())
        .collect();
    // Vectors are most of a stored document; a response that does not show them does not
    // parse them.
    let docs = if out.include_vector {
        engine.documents(&t.table, &pks)
    } else {
        engine.documents_without(&t.table, &pks, &vector_fields)
    }
    .map_err(|e| VseError::internal(&e.to_string()))?;
    let index = t.schema.vector_index(out.index);
    let mut result = Vec::with_capacity(ranked.len());
    for ((pk, score), doc) in ranked.iter().zip(docs) {
        let Some(mut doc) = doc else { continue };
        let vectors: Vec<(&str, Vec<f32>)> = if out.include_vector {
            vector_fields
                .iter()
                .map(|f| (*f, floats(doc.get(*f))))
                .collect()
        } else {
            Vec::new()
        };
        let vector = index
            .filter(|_| out.include_vector)
            .map(|i| floats(doc.get(&i.vector_field)));
        let namespace = index
            .and_then(|i| i.namespace_field.as_ref())
            .and_then(|f| doc.get(f).cloned());
        let shown: Vec<(&str, &[f32])> = vectors.iter().map(|(f, v)| (*f, v.as_slice())).collect();
        for f in &vector_fields {
            doc.remove(*f);
        }
        let fields = select_fields(&t.schema, &doc, &shown, out.fields, out.all_when_empty);
        result.push(Hit {
            id: t.schema.typed_pk(pk),
            score: score.clone(),
            fields,
            vector,
            namespace,
            source: None,
        });
    }
    Ok(result)
}

fn floats(v: Option<&Value>) -> Vec<f32> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_f64())
            .map(|f| f as f32)
            .collect(),
        _ => Vec::new(),
    }
}
