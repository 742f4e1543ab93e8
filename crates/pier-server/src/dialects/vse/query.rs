//! `/vector-service/*`: query, multi-query, batch-query, fetch and stats over a table's vector
//! graphs, text index and documents.

use super::{OpenTable, convert, open_table};
use pier_engine::Engine;
use pier_engine::vector_search::{VectorHit, VectorQuery, VectorSearchError};
use pier_index::search::Page;
use pier_vse::fusion::{Ranked, fuse, merge_multi_query};
use pier_vse::response::{
    PartitionStats, Score, batch_query_response, select_fields, stats_response,
};
use pier_vse::{
    BatchQueryRequest, Code, Endpoint, FetchRequest, Hit, MultiQueryRequest, Order, QueryRequest,
    SearchRequest, StatsRequest, VseError, query_response, search_response,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
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
        Endpoint::Aggregate => Err(not_supported("aggregate is not served by pier yet")),
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
/// vector searched, a key keeping its best score (multi-vector documents score with their best
/// vector), then the score threshold, best first, `topK`.
fn ranked(engine: &Engine, t: &OpenTable, req: &mut QueryRequest) -> Result<Vec<Ranked>, VseError> {
    let index = req.resolve(&t.schema)?.clone();
    if req.sparse.is_some() {
        return Err(not_supported(
            "sparseData: sparse vectors are not searched by pier yet",
        ));
    }
    if req.text_query_string.is_some() {
        return Err(not_supported(
            "textQueryString is not supported by pier yet",
        ));
    }
    if !req.sort.is_empty() || !req.sorts.is_empty() {
        return Err(not_supported(
            "sort/sorts on vector queries are not supported by pier yet",
        ));
    }
    let filter = req.filter.as_ref().map(|f| convert::engine_filter(&f.expr));
    let ef = index
        .search_params
        .overridden_by(&req.search_params)
        .effective_ef() as usize;
    let higher_better = index.distance_type.higher_is_better();
    let mut best: HashMap<String, f64> = HashMap::new();
    for vector in req.vectors() {
        let hits = engine
            .vector_search(
                &t.table,
                &VectorQuery {
                    index: &index.name,
                    namespace: req.namespace.as_deref().unwrap_or(""),
                    vector,
                    k: req.top_k,
                    ef: Some(ef.max(req.top_k)),
                    filter: filter.as_ref(),
                },
            )
            .map_err(search_error)?;
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
                .is_none_or(|th| index.distance_type.passes_threshold(*s, th))
        })
        .map(|(pk, score)| Ranked { pk, score })
        .collect();
    sort_ranked(&mut out, index.distance_type.best_first());
    out.truncate(req.top_k);
    let order = req.effective_order(index.distance_type);
    sort_ranked(&mut out, order);
    Ok(out)
}

fn sort_ranked(items: &mut [Ranked], order: Order) {
    items.sort_by(|a, b| {
        let c = a.score.total_cmp(&b.score);
        let c = if order == Order::Desc { c.reverse() } else { c };
        c.then_with(|| a.pk.cmp(&b.pk))
    });
}

fn query(engine: &Engine, mut req: QueryRequest) -> Result<Vec<Hit>, VseError> {
    let t = table(engine, &req.table_name)?;
    let list = ranked(engine, &t, &mut req)?;
    let index = req.index_name.clone().unwrap_or_default();
    hits(
        engine,
        &t,
        list.into_iter().map(|r| (r.pk, Some(r.score))).collect(),
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
    let filter = req.filter.clone();
    let mut lists = Vec::new();
    for q in req.queries.iter_mut() {
        if q.filter.is_none() {
            q.filter = filter.clone();
        }
        let weight = q.weight.unwrap_or(1.0);
        lists.push((ranked(engine, &t, q)?, weight));
    }
    let distance = indexes
        .first()
        .map(|i| i.distance_type)
        .unwrap_or(pier_vse::DistanceType::SquaredEuclidean);
    let mut merged = merge_multi_query(&lists, req.mode, req.effective_order(distance));
    merged.truncate(req.top_k);
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
    let knn = match &mut req.knn {
        Some(q) => ranked(engine, &t, q)?,
        None => Vec::new(),
    };
    let text = match &req.text {
        Some(text) => text_ranked(&t, text, wanted.max(1))?,
        None => Vec::new(),
    };
    let distance = index
        .as_ref()
        .map_or(pier_vse::DistanceType::InnerProduct, |i| i.distance_type);
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
    let searcher = t.table.index.searcher();
    let out = t
        .table
        .index
        .search(
            &searcher,
            &Arc::new(request),
            Page::Ranked { start: 0, hit: n },
            &[],
        )
        .map_err(|e| VseError::new(Code::INVALID_PARAMETER, format!("text: {}", e.message)))?;
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

fn fetch(engine: &Engine, mut req: FetchRequest) -> Result<Vec<Hit>, VseError> {
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
    let searcher = t.table.index.searcher();
    let out = t
        .table
        .index
        .search(
            &searcher,
            &Arc::new(request),
            Page::Ranked {
                start: req.offset,
                hit: req.limit,
            },
            &[],
        )
        .map_err(|e| VseError::new(Code::FILTER_SYNTAX, e.message))?;
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
    let pks: Vec<&str> = ranked.iter().map(|(pk, _)| pk.as_str()).collect();
    let docs = engine
        .documents(&t.table, &pks)
        .map_err(|e| VseError::internal(&e.to_string()))?;
    let index = t.schema.vector_index(out.index);
    let mut result = Vec::with_capacity(ranked.len());
    for ((pk, score), doc) in ranked.iter().zip(docs) {
        let Some(doc) = doc else { continue };
        let vectors: Vec<(&str, Vec<f32>)> = t
            .schema
            .vector_indexes
            .iter()
            .map(|i| (i.vector_field.as_str(), floats(doc.get(&i.vector_field))))
            .collect();
        let shown: Vec<(&str, &[f32])> = vectors
            .iter()
            .filter(|_| out.all_when_empty || out.include_vector)
            .map(|(f, v)| (*f, v.as_slice()))
            .collect();
        let mut plain: Map<String, Value> = doc.clone();
        if !out.include_vector {
            for (f, _) in &vectors {
                plain.remove(*f);
            }
        }
        let fields = select_fields(
            &t.schema,
            &plain,
            if out.include_vector { &shown } else { &[] },
            out.fields,
            out.all_when_empty,
        );
        result.push(Hit {
            id: t.schema.typed_pk(pk),
            score: score.map(Score::Single),
            fields,
            vector: index
                .filter(|_| out.include_vector)
                .map(|i| floats(doc.get(&i.vector_field))),
            namespace: index
                .and_then(|i| i.namespace_field.as_ref())
                .and_then(|f| doc.get(f).cloned()),
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
