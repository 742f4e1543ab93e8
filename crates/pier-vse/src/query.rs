//! The request bodies of `/vector-service/*` (spec §2): query, inference-query, multi-query,
//! fetch, search (hybrid), batch-query, aggregate and stats, as typed requests.
//!
//! Parsing is two steps. `parse` reads the body alone (JSON shape, types, ranges, defaults,
//! filter and sort syntax): it needs no schema, so the server can read `tableName` first.
//! `resolve` then checks the request against the table's [`VectorTableSchema`]: the vector
//! index, the vector dimension ([`check_dimension`]), the namespace, sparse support, and every
//! field name used (rewritten to its schema spelling).
//!
//! Unknown keys are ignored and `null` is the same as an absent key; the SDK's always-present
//! `"sorts":[]` is fine. Defaults (spec §2.1–§2.6): `topK` 100, `vectorCount` 1, `order`
//! best-first by metric (see [`QueryRequest::effective_order`]), search `size` 100, `from` 0,
//! `order` DESC, text `weight` 1.0, RRF `rankConstant` 60, multi-query `mode` sum.

use crate::codes::Code;
use crate::error::{VseError, invalid, shown};
use crate::filter::{Filter, SortKey, parse_sort, parse_sort_expression, resolve_sort};
use crate::json::{Obj, parse_object};
use crate::params::SearchParams;
use crate::schema::{DistanceType, FieldType, VectorIndex, VectorTableSchema};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Default `topK` (spec §2.1).
pub const DEFAULT_TOP_K: usize = 100;
/// Largest `topK`, search `from + size` and fetch `offset + limit` (design choice, pier's
/// vector index limit).
pub const MAX_TOP_K: usize = 10_000;
/// Most vectors packed in one query's `vector` (`vectorCount`) (design choice).
pub const MAX_QUERY_VECTORS: usize = 128;
/// Most sub-queries in a multi-query or batch-query (design choice).
pub const MAX_SUB_QUERIES: usize = 100;
/// Most ids in one fetch (design choice).
pub const MAX_FETCH_IDS: usize = 1_000;
/// Default fetch `limit` when scanning without `ids` (design choice).
pub const DEFAULT_FETCH_LIMIT: usize = 100;
/// Default search `size` (spec §2.5).
pub const DEFAULT_SEARCH_SIZE: usize = 100;
/// Default RRF `rankConstant` (spec §2.5).
pub const DEFAULT_RANK_CONSTANT: f64 = 60.0;
/// Most elements of a query's sparse vectors together (design choice).
pub const MAX_SPARSE_ELEMENTS: usize = 65_535;
/// Most output fields, group keys or aggregate functions in one request (design choice).
pub const MAX_LIST_ITEMS: usize = 1_024;
/// Largest `timeout` accepted, in milliseconds (design choice).
pub const MAX_TIMEOUT_MS: u64 = 600_000;

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `ASC`: smallest score first.
    Asc,
    /// `DESC`: largest score first.
    Desc,
}

impl Order {
    /// Parses `ASC` / `DESC`, ignoring case.
    pub fn parse(s: &str) -> Option<Order> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ASC" => Some(Order::Asc),
            "DESC" => Some(Order::Desc),
            _ => None,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }
}

fn order_of(o: &Obj<'_>, key: &str) -> Result<Option<Order>, VseError> {
    match o.non_blank(key)? {
        None => Ok(None),
        Some(s) => Order::parse(&s).map(Some).ok_or_else(|| {
            invalid(format!(
                "\"{}\" must be \"ASC\" or \"DESC\", got {s:?}",
                o.key(key)
            ))
        }),
    }
}

/// A sparse query (`sparseData`): one or more sparse vectors packed together.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseQuery {
    /// Element count of each sparse vector (one vector of all elements when not sent).
    pub count: Vec<usize>,
    /// Indices, ascending within each vector.
    pub indices: Vec<u32>,
    /// Values, one per index.
    pub values: Vec<f32>,
}

impl SparseQuery {
    /// The sparse vectors as `(indices, values)` slices.
    pub fn vectors(&self) -> impl Iterator<Item = (&[u32], &[f32])> {
        let mut at = 0;
        self.count.iter().map(move |&n| {
            let end = (at + n).min(self.indices.len());
            let item = (&self.indices[at..end], &self.values[at..end]);
            at = end;
            item
        })
    }

    fn parse(o: &Obj<'_>) -> Result<SparseQuery, VseError> {
        let bad = |m: String| invalid(format!("\"{}\": {m}", o.path));
        let indices = match o.get("indices") {
            None => {
                return Err(bad(
                    "\"indices\" is required, e.g. {\"indices\":[1,5],\"values\":[0.5,0.4]}".into(),
                ));
            }
            Some(v) => crate::value::parse_sparse_indices(v).map_err(bad)?,
        };
        let values = match o.get("values") {
            None => return Err(bad("\"values\" is required, one per index".into())),
            Some(v) => crate::value::parse_sparse_values(v).map_err(bad)?,
        };
        if indices.len() != values.len() {
            return Err(bad(format!(
                "{} indices but {} values; they pair up one to one",
                indices.len(),
                values.len()
            )));
        }
        if indices.len() > MAX_SPARSE_ELEMENTS {
            return Err(bad(format!(
                "{} elements; the limit is {MAX_SPARSE_ELEMENTS}",
                indices.len()
            )));
        }
        let count = match o.get("count") {
            None => vec![indices.len()],
            Some(Value::Array(a)) if a.is_empty() => vec![indices.len()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    crate::params::number_u64(x)
                        .filter(|n| *n <= MAX_SPARSE_ELEMENTS as u64)
                        .map(|n| n as usize)
                        .ok_or_else(|| {
                            bad(format!("count {} is not a non-negative integer", shown(x)))
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(v) => {
                return Err(bad(format!(
                    "\"count\" must be a list of integers, got {}",
                    shown(v)
                )));
            }
        };
        if count.iter().sum::<usize>() != indices.len() {
            return Err(bad(format!(
                "\"count\" adds up to {} but there are {} indices; count[i] is the number of elements of the i-th sparse vector",
                count.iter().sum::<usize>(),
                indices.len()
            )));
        }
        let q = SparseQuery {
            count,
            indices,
            values,
        };
        for (ix, _) in q.vectors() {
            crate::value::check_sorted(ix).map_err(bad)?;
        }
        Ok(q)
    }
}

/// The server-side embedding inputs of `/vector-service/inference-query`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InferenceInput {
    /// `content`: the text (or image/video reference) to embed.
    pub content: Option<String>,
    /// `contents`: several inputs to embed and fuse.
    pub contents: Vec<String>,
    /// `modal`: the model / modality to use.
    pub modal: Option<String>,
    /// `contentType`: text, image, video_uri, video_base64.
    pub content_type: Option<String>,
    /// `videoFrameTopK`: frames to recall (default 100 per the SDK).
    pub video_frame_top_k: Option<u64>,
}

/// `/vector-service/query` (spec §2.1); also each sub-query of multi-query and batch-query and
/// the `knn` part of search.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// `tableName`, without the instance prefix.
    pub table_name: String,
    /// `indexName`; after [`QueryRequest::resolve`], the index used.
    pub index_name: Option<String>,
    /// `vector`: `vectorCount × dimension` values (empty for a sparse-only or inference query).
    pub vector: Vec<f32>,
    /// `vectorCount` (default 1).
    pub vector_count: usize,
    /// `namespace` (blank is absent).
    pub namespace: Option<String>,
    /// `topK` (default [`DEFAULT_TOP_K`]).
    pub top_k: usize,
    /// `sparseData`.
    pub sparse: Option<SparseQuery>,
    /// `weight` (multi-query and search).
    pub weight: Option<f64>,
    /// `includeVector` (default false).
    pub include_vector: bool,
    /// `outputFields` (empty: only id and score).
    pub output_fields: Vec<String>,
    /// `order`, if sent (see [`QueryRequest::effective_order`]).
    pub order: Option<Order>,
    /// `searchParams` (a JSON string on the wire), overriding the index's searchIndexParams.
    pub search_params: SearchParams,
    /// `textQueryString`: a ha3 query clause ANDed with the vector recall, kept raw.
    pub text_query_string: Option<String>,
    /// `filter`.
    pub filter: Option<Filter>,
    /// `scoreThreshold` (see [`DistanceType::passes_threshold`]).
    pub score_threshold: Option<f64>,
    /// `sort` (ha3 sort string).
    pub sort: Vec<SortKey>,
    /// `sorts`: when non-empty, each result's score is a list, one per key.
    pub sorts: Vec<SortKey>,
    /// `kvpairs`, passed through.
    pub kvpairs: BTreeMap<String, String>,
    /// inference-query inputs, when present.
    pub inference: Option<InferenceInput>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Query,
    Inference,
    SearchKnn,
}

fn filter_of(o: &Obj<'_>, key: &str) -> Result<Option<Filter>, VseError> {
    match o.string(key)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => Filter::parse(&s).map(Some).map_err(|e| prefix(e, o, key)),
    }
}

fn sort_of(o: &Obj<'_>, key: &str) -> Result<Vec<SortKey>, VseError> {
    match o.string(key)? {
        None => Ok(Vec::new()),
        Some(s) if s.trim().is_empty() => Ok(Vec::new()),
        Some(s) => parse_sort(&s).map_err(|e| prefix(e, o, key)),
    }
}

fn prefix(mut e: VseError, o: &Obj<'_>, key: &str) -> VseError {
    if !o.path.is_empty() {
        e.message = format!("{}: {}", o.key(key), e.message);
    }
    e
}

fn list_of(o: &Obj<'_>, key: &str) -> Result<Vec<String>, VseError> {
    let v = o.strings(key)?.unwrap_or_default();
    if v.len() > MAX_LIST_ITEMS {
        return Err(invalid(format!(
            "\"{}\" has {} items; the limit is {MAX_LIST_ITEMS}",
            o.key(key),
            v.len()
        )));
    }
    Ok(v)
}

fn parse_query_obj(
    o: &Obj<'_>,
    inherited_table: Option<&str>,
    kind: Kind,
) -> Result<QueryRequest, VseError> {
    let table_name = match (o.non_blank("tableName")?, inherited_table) {
        (Some(t), Some(parent)) if t != parent => {
            return Err(invalid(format!(
                "\"{}\" is '{t}' but the request is for table '{parent}'; sub-queries query the same table",
                o.key("tableName")
            )));
        }
        (Some(t), _) => t,
        (None, Some(parent)) => parent.to_string(),
        (None, None) => o.required("tableName", "\"my_table\"")?,
    };
    let vector = match o.get("vector") {
        None => Vec::new(),
        Some(v) => crate::value::parse_vector(v, ",")
            .map_err(|m| invalid(format!("\"{}\": {m}", o.key("vector"))))?,
    };
    let sparse = match o.object("sparseData")? {
        None => None,
        Some(m) => Some(SparseQuery::parse(&Obj::new(m, o.key("sparseData")))?),
    };
    let vector_count = o
        .uint("vectorCount", 1, MAX_QUERY_VECTORS as u64)?
        .unwrap_or(1) as usize;
    let inference =
        if kind == Kind::Inference || o.get("content").is_some() || o.get("contents").is_some() {
            let inf = InferenceInput {
                content: o.string("content")?.filter(|s| !s.is_empty()),
                contents: list_of(o, "contents")?,
                modal: o.non_blank("modal")?,
                content_type: o.non_blank("contentType")?,
                video_frame_top_k: o.uint("videoFrameTopK", 1, MAX_TOP_K as u64)?,
            };
            (inf.content.is_some() || !inf.contents.is_empty()).then_some(inf)
        } else {
            None
        };
    if kind == Kind::Inference && inference.is_none() {
        return Err(invalid(format!(
            "\"{}\" (or \"contents\") is required for inference-query: the text to embed",
            o.key("content")
        )));
    }
    if vector.is_empty() && sparse.is_none() && inference.is_none() {
        return Err(invalid(format!(
            "\"{}\" is required: the query vector as a list of numbers, e.g. [0.1,0.2,0.3] (or send \"sparseData\")",
            o.key("vector")
        )));
    }
    let mut sorts = Vec::new();
    if let Some(items) = o.array("sorts")? {
        for (i, item) in items.iter().enumerate() {
            let Value::Object(m) = item else {
                return Err(invalid(format!(
                    "\"{}[{i}]\" must be {{\"order\":\"ASC\"|\"DESC\",\"expression\":\"price\"}}",
                    o.key("sorts")
                )));
            };
            let so = Obj::new(m, format!("{}[{i}]", o.key("sorts")));
            let order = order_of(&so, "order")?.unwrap_or(Order::Desc);
            let expr = so.required("expression", "\"price\"")?;
            sorts.push(
                parse_sort_expression(&expr, order).map_err(|e| prefix(e, &so, "expression"))?,
            );
        }
    }
    let search_params = SearchParams::parse(
        o.get("searchParams"),
        &format!("\"{}\"", o.key("searchParams")),
    )
    .map_err(invalid)?;
    let weight = o.number("weight")?;
    Ok(QueryRequest {
        table_name,
        index_name: o.non_blank("indexName")?,
        vector,
        vector_count,
        namespace: o.non_blank("namespace")?,
        top_k: o
            .uint("topK", 1, MAX_TOP_K as u64)?
            .unwrap_or(DEFAULT_TOP_K as u64) as usize,
        sparse,
        weight,
        include_vector: o.bool("includeVector")?.unwrap_or(false),
        output_fields: list_of(o, "outputFields")?,
        order: if kind == Kind::SearchKnn {
            None
        } else {
            order_of(o, "order")?
        },
        search_params,
        text_query_string: o.non_blank("textQueryString")?,
        filter: filter_of(o, "filter")?,
        score_threshold: o.number("scoreThreshold")?,
        sort: sort_of(o, "sort")?,
        sorts,
        kvpairs: o.string_map("kvpairs")?,
        inference,
    })
}

/// Checks that `vector` holds `vector_count` vectors of the dimension of index `index_name`.
/// The message says how many numbers to send.
pub fn check_dimension(
    schema: &VectorTableSchema,
    index_name: &str,
    vector: &[f32],
    vector_count: usize,
) -> Result<(), VseError> {
    let index = schema
        .vector_index(index_name)
        .ok_or_else(|| index_not_found(schema, index_name))?;
    let d = index.dimension.max(1);
    let k = vector_count.max(1);
    if vector.len() == d.saturating_mul(k) {
        return Ok(());
    }
    let fix = if vector.len().is_multiple_of(d) && !vector.is_empty() {
        format!(
            "send {} numbers, or set \"vectorCount\" to {} if it packs {} vectors",
            d * k,
            vector.len() / d,
            vector.len() / d
        )
    } else {
        format!("send {} numbers", d * k)
    };
    Err(invalid(format!(
        "the query vector has {} values, but index '{}' of table '{}' has dimension {d}{}: {fix}",
        vector.len(),
        index.name,
        schema.name,
        if k > 1 {
            format!(" and \"vectorCount\" is {k}")
        } else {
            String::new()
        }
    )))
}

fn index_not_found(schema: &VectorTableSchema, name: &str) -> VseError {
    let names: Vec<&str> = schema
        .vector_indexes
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    VseError::new(
        Code::INDEX_NOT_FOUND,
        format!(
            "table '{}' has no vector index '{name}' (its vector indexes: {})",
            schema.name,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
    )
}

/// Checks output field names against `schema` and rewrites them to their schema spelling.
pub fn resolve_output_fields(
    fields: &mut [String],
    schema: &VectorTableSchema,
) -> Result<(), VseError> {
    for f in fields.iter_mut() {
        let Some(field) = schema.field(f) else {
            return Err(VseError::new(
                Code::BAD_FIELD,
                format!(
                    "outputFields: table '{}' has no field '{f}' (fields: {})",
                    schema.name,
                    schema
                        .fields
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        *f = field.name.clone();
    }
    Ok(())
}

fn resolve_filter_sort(
    filter: &mut Option<Filter>,
    sort: &mut [SortKey],
    schema: &VectorTableSchema,
) -> Result<(), VseError> {
    if let Some(f) = filter {
        f.resolve(schema)?;
    }
    resolve_sort(sort, schema)
}

impl QueryRequest {
    /// Parses a `/vector-service/query` body.
    pub fn parse(body: &[u8]) -> Result<QueryRequest, VseError> {
        let m = parse_object(body, "query")?;
        parse_query_obj(&Obj::new(&m, ""), None, Kind::Query)
    }

    /// Parses a `/vector-service/inference-query` body: `content` or `contents` is required,
    /// `vector` is not (the server embeds the content; pier has no embedding model yet, so a
    /// server may answer such a request with an error of its choosing).
    pub fn parse_inference(body: &[u8]) -> Result<QueryRequest, VseError> {
        let m = parse_object(body, "inference-query")?;
        parse_query_obj(&Obj::new(&m, ""), None, Kind::Inference)
    }

    /// Checks the request against its table: the vector index (named, or the first declared),
    /// the vector dimension, the namespace (required when the index has one), sparse support,
    /// and the fields of filter, sort, sorts and outputFields (rewritten to their schema
    /// spelling). Sets `index_name` to the index used and returns it.
    pub fn resolve<'s>(
        &mut self,
        schema: &'s VectorTableSchema,
    ) -> Result<&'s VectorIndex, VseError> {
        let index = match &self.index_name {
            Some(n) => schema
                .vector_index(n)
                .ok_or_else(|| index_not_found(schema, n))?,
            None => schema.default_vector_index().ok_or_else(|| {
                VseError::new(
                    Code::INDEX_NOT_FOUND,
                    format!("table '{}' has no vector index to query", schema.name),
                )
            })?,
        };
        self.index_name = Some(index.name.clone());
        if !self.vector.is_empty() || self.inference.is_none() && self.sparse.is_none() {
            check_dimension(schema, &index.name, &self.vector, self.vector_count)?;
        }
        if self.sparse.is_some() && !index.has_sparse() {
            return Err(invalid(format!(
                "\"sparseData\" was sent, but vector index '{}' has no sparseIndexField/sparseValueField: name an index with sparse fields in \"indexName\"",
                index.name
            )));
        }
        if let Some(ns_field) = &index.namespace_field
            && self.namespace.is_none()
        {
            return Err(invalid(format!(
                "\"namespace\" is required: vector index '{}' is partitioned by field '{ns_field}'; send the {ns_field} value to search in",
                index.name
            )));
        }
        resolve_filter_sort(&mut self.filter, &mut self.sort, schema)?;
        resolve_sort(&mut self.sorts, schema)?;
        resolve_output_fields(&mut self.output_fields, schema)?;
        Ok(index)
    }

    /// The order results are returned in: `order` when sent, else best first by the index's
    /// metric (ASC for SquaredEuclidean, DESC for InnerProduct) — design choice, since the
    /// documented default (ASC) would put the worst InnerProduct matches first.
    pub fn effective_order(&self, distance: DistanceType) -> Order {
        self.order.unwrap_or(distance.best_first())
    }

    /// The query vectors, one slice each (`vectorCount` of them).
    pub fn vectors(&self) -> impl Iterator<Item = &[f32]> {
        let per = (self.vector.len() / self.vector_count.max(1)).max(1);
        self.vector.chunks(per)
    }
}

/// How multi-query combines the scores of a key found by several sub-queries (spec §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// Add the scores (default).
    Sum,
    /// Keep the largest.
    Max,
    /// Keep the smallest.
    Min,
}

/// `/vector-service/multi-query` (spec §2.4).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiQueryRequest {
    /// `tableName`.
    pub table_name: String,
    /// `indexName`: the default for sub-queries that name none.
    pub index_name: Option<String>,
    /// `queries`: each with its own vector, namespace, indexName, weight, sparseData.
    pub queries: Vec<QueryRequest>,
    /// `topK` of the merged list (default 100).
    pub top_k: usize,
    /// `includeVector`.
    pub include_vector: bool,
    /// `outputFields`.
    pub output_fields: Vec<String>,
    /// `order`, if sent.
    pub order: Option<Order>,
    /// `filter`, applied to every sub-query.
    pub filter: Option<Filter>,
    /// `sort`.
    pub sort: Vec<SortKey>,
    /// `mode` (default sum).
    pub mode: MergeMode,
}

impl MultiQueryRequest {
    /// Parses a `/vector-service/multi-query` body.
    pub fn parse(body: &[u8]) -> Result<MultiQueryRequest, VseError> {
        let m = parse_object(body, "multi-query")?;
        let o = Obj::new(&m, "");
        let table_name = o.required("tableName", "\"my_table\"")?;
        let items = o.array("queries")?.map(Vec::as_slice).unwrap_or(&[]);
        if items.is_empty() || items.len() > MAX_SUB_QUERIES {
            return Err(invalid(format!(
                "\"queries\" must hold 1 to {MAX_SUB_QUERIES} query objects, got {}",
                items.len()
            )));
        }
        let mut queries = Vec::with_capacity(items.len());
        for (i, q) in items.iter().enumerate() {
            let Value::Object(qm) = q else {
                return Err(invalid(format!("\"queries[{i}]\" must be a query object")));
            };
            queries.push(parse_query_obj(
                &Obj::new(qm, format!("queries[{i}]")),
                Some(&table_name),
                Kind::Query,
            )?);
        }
        let mode = match o.non_blank("mode")? {
            None => MergeMode::Sum,
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "sum" => MergeMode::Sum,
                "max" => MergeMode::Max,
                "min" => MergeMode::Min,
                _ => {
                    return Err(invalid(format!(
                        "\"mode\" must be \"sum\", \"max\" or \"min\", got {s:?}"
                    )));
                }
            },
        };
        Ok(MultiQueryRequest {
            table_name,
            index_name: o.non_blank("indexName")?,
            queries,
            top_k: o
                .uint("topK", 1, MAX_TOP_K as u64)?
                .unwrap_or(DEFAULT_TOP_K as u64) as usize,
            include_vector: o.bool("includeVector")?.unwrap_or(false),
            output_fields: list_of(&o, "outputFields")?,
            order: order_of(&o, "order")?,
            filter: filter_of(&o, "filter")?,
            sort: sort_of(&o, "sort")?,
            mode,
        })
    }

    /// The order of the merged list: `order` when sent, else best first by `distance` (the
    /// metric of the sub-queries' index).
    pub fn effective_order(&self, distance: DistanceType) -> Order {
        self.order.unwrap_or(distance.best_first())
    }

    /// Resolves every sub-query (sub-queries without `indexName` take the request's) and the
    /// request's own filter, sort and outputFields. Returns the index of each sub-query.
    pub fn resolve<'s>(
        &mut self,
        schema: &'s VectorTableSchema,
    ) -> Result<Vec<&'s VectorIndex>, VseError> {
        let mut out = Vec::with_capacity(self.queries.len());
        for (i, q) in self.queries.iter_mut().enumerate() {
            if q.index_name.is_none() {
                q.index_name = self.index_name.clone();
            }
            out.push(q.resolve(schema).map_err(|mut e| {
                e.message = format!("queries[{i}]: {}", e.message);
                e
            })?);
        }
        resolve_filter_sort(&mut self.filter, &mut self.sort, schema)?;
        resolve_output_fields(&mut self.output_fields, schema)?;
        Ok(out)
    }
}

/// `/vector-service/fetch` (spec §2.3): by primary keys, or a filtered, sorted, paged scan.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    /// `tableName`.
    pub table_name: String,
    /// `ids` (strings even for integer keys). When present the conditions below are ignored
    /// (not even parsed); `[]` fetches nothing (design choice).
    pub ids: Option<Vec<String>>,
    /// `filter` (scan only).
    pub filter: Option<Filter>,
    /// `sort` (scan only).
    pub sort: Vec<SortKey>,
    /// `limit` (scan only; default [`DEFAULT_FETCH_LIMIT`]).
    pub limit: usize,
    /// `offset` (scan only; default 0).
    pub offset: usize,
    /// `includeVector`.
    pub include_vector: bool,
    /// `outputFields` (empty: all fields).
    pub output_fields: Vec<String>,
    /// `kvpairs`.
    pub kvpairs: BTreeMap<String, String>,
}

impl FetchRequest {
    /// Parses a `/vector-service/fetch` body.
    pub fn parse(body: &[u8]) -> Result<FetchRequest, VseError> {
        let m = parse_object(body, "fetch")?;
        let o = Obj::new(&m, "");
        let table_name = o.required("tableName", "\"my_table\"")?;
        let ids = o.strings("ids")?;
        if let Some(ids) = &ids
            && ids.len() > MAX_FETCH_IDS
        {
            return Err(invalid(format!(
                "\"ids\" has {} keys; the limit is {MAX_FETCH_IDS} per fetch: split the list",
                ids.len()
            )));
        }
        let scan = ids.is_none();
        let (filter, sort, limit, offset) = if scan {
            let limit = o
                .uint("limit", 0, MAX_TOP_K as u64)?
                .unwrap_or(DEFAULT_FETCH_LIMIT as u64) as usize;
            let offset = o.uint("offset", 0, MAX_TOP_K as u64)?.unwrap_or(0) as usize;
            if limit + offset > MAX_TOP_K {
                return Err(invalid(format!(
                    "\"offset\" + \"limit\" is {}; the limit is {MAX_TOP_K}: narrow the filter instead of paging further",
                    limit + offset
                )));
            }
            (
                filter_of(&o, "filter")?,
                sort_of(&o, "sort")?,
                limit,
                offset,
            )
        } else {
            (None, Vec::new(), 0, 0)
        };
        Ok(FetchRequest {
            table_name,
            ids,
            filter,
            sort,
            limit,
            offset,
            include_vector: o.bool("includeVector")?.unwrap_or(false),
            output_fields: list_of(&o, "outputFields")?,
            kvpairs: o.string_map("kvpairs")?,
        })
    }

    /// Checks filter, sort and outputFields against `schema`, and writes integer keys in `ids`
    /// in canonical form (`"007"` → `"7"`; a key that is not an integer is left as is and will
    /// simply not be found).
    pub fn resolve(&mut self, schema: &VectorTableSchema) -> Result<(), VseError> {
        resolve_filter_sort(&mut self.filter, &mut self.sort, schema)?;
        resolve_output_fields(&mut self.output_fields, schema)?;
        if let (Some(ids), Some(pk)) = (&mut self.ids, schema.pk_field())
            && pk.field_type.is_integer()
        {
            for id in ids.iter_mut() {
                if let Ok(n) = crate::value::scalar("", pk.field_type, &Value::String(id.clone())) {
                    *id = n.to_string();
                }
            }
        }
        Ok(())
    }
}

/// `text.queryParams.default_op` (spec §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultOp {
    /// All terms must match (default).
    And,
    /// Any term matches.
    Or,
}

/// `text.queryParams` (spec §2.5).
#[derive(Debug, Clone, PartialEq)]
pub struct TextQueryParams {
    /// `default_op` (default AND).
    pub default_op: DefaultOp,
    /// `no_token_indexes` (`;`-separated): indexes whose query text is not tokenised.
    pub no_token_indexes: Vec<String>,
    /// `remove_stopwords` (default true).
    pub remove_stopwords: bool,
    /// `global_analyzer`.
    pub global_analyzer: Option<String>,
    /// `specific_index_analyzer`.
    pub specific_index_analyzer: Option<String>,
    /// Any other key, as sent.
    pub other: BTreeMap<String, String>,
}

/// The text part of a hybrid search.
#[derive(Debug, Clone, PartialEq)]
pub struct TextQuery {
    /// `queryString`: ha3 query syntax (`title:'hello' AND tag:'x'`), kept raw.
    pub query_string: String,
    /// `queryParams`.
    pub query_params: TextQueryParams,
    /// `filter`.
    pub filter: Option<Filter>,
    /// `weight` (default 1.0).
    pub weight: f64,
    /// `terminateAfter`: per-shard early stop (0: none).
    pub terminate_after: u64,
}

/// How a hybrid search fuses its knn and text results (spec §2.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rank {
    /// `rank: {}` or absent: `knn_score × knn_weight + text_score × text_weight`, the knn
    /// distance converted first (see [`crate::fusion::knn_fusion_score`]).
    WeightedSum,
    /// `rank: {"rrf": {"rankConstant": 60}}`: Σ 1 / (rankConstant + rank), ranks from 1.
    Rrf {
        /// `rankConstant` (also `rank_constant`), default 60.
        rank_constant: f64,
    },
}

/// `/vector-service/search` (spec §2.5): text + vector hybrid search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// `tableName`.
    pub table_name: String,
    /// `size` (default [`DEFAULT_SEARCH_SIZE`]).
    pub size: usize,
    /// `from` (default 0).
    pub from: usize,
    /// `order` of the fused scores (default DESC).
    pub order: Order,
    /// `outputFields`.
    pub output_fields: Vec<String>,
    /// `knn`: one vector query (its `order` is ignored).
    pub knn: Option<QueryRequest>,
    /// `text`.
    pub text: Option<TextQuery>,
    /// `rank`.
    pub rank: Rank,
}

impl SearchRequest {
    /// Parses a `/vector-service/search` body. At least one of `knn` and `text` is required.
    pub fn parse(body: &[u8]) -> Result<SearchRequest, VseError> {
        let m = parse_object(body, "search")?;
        let o = Obj::new(&m, "");
        let table_name = o.required("tableName", "\"my_table\"")?;
        let size = o
            .uint("size", 0, MAX_TOP_K as u64)?
            .unwrap_or(DEFAULT_SEARCH_SIZE as u64) as usize;
        let from = o.uint("from", 0, MAX_TOP_K as u64)?.unwrap_or(0) as usize;
        if size + from > MAX_TOP_K {
            return Err(invalid(format!(
                "\"from\" + \"size\" is {}; the limit is {MAX_TOP_K}",
                size + from
            )));
        }
        let knn = match o.object("knn")? {
            None => None,
            Some(km) => Some(parse_query_obj(
                &Obj::new(km, "knn"),
                Some(&table_name),
                Kind::SearchKnn,
            )?),
        };
        let text = match o.object("text")? {
            None => None,
            Some(tm) => Some(parse_text(&Obj::new(tm, "text"))?),
        };
        if knn.is_none() && text.is_none() {
            return Err(invalid(
                "a search needs \"knn\" (a vector query), \"text\" (a text query), or both",
            ));
        }
        let rank = match o.object("rank")? {
            None => Rank::WeightedSum,
            Some(rm) => {
                let ro = Obj::new(rm, "rank");
                match ro.object("rrf")? {
                    None => Rank::WeightedSum,
                    Some(rrf) => {
                        let r = Obj::new(rrf, "rank.rrf");
                        let k = match r.number("rankConstant")? {
                            Some(k) => Some(k),
                            None => r.number("rank_constant")?,
                        }
                        .unwrap_or(DEFAULT_RANK_CONSTANT);
                        if k < 0.0 {
                            return Err(invalid(format!(
                                "\"rank.rrf.rankConstant\" must be 0 or more (default {DEFAULT_RANK_CONSTANT}), got {k}"
                            )));
                        }
                        Rank::Rrf { rank_constant: k }
                    }
                }
            }
        };
        Ok(SearchRequest {
            table_name,
            size,
            from,
            order: order_of(&o, "order")?.unwrap_or(Order::Desc),
            output_fields: list_of(&o, "outputFields")?,
            knn,
            text,
            rank,
        })
    }

    /// Resolves the knn query (index, dimension, namespace...), the text filter and the
    /// outputFields against `schema`; returns the knn query's index, if any.
    pub fn resolve<'s>(
        &mut self,
        schema: &'s VectorTableSchema,
    ) -> Result<Option<&'s VectorIndex>, VseError> {
        let index = match &mut self.knn {
            None => None,
            Some(k) => Some(k.resolve(schema).map_err(|mut e| {
                e.message = format!("knn: {}", e.message);
                e
            })?),
        };
        if let Some(t) = &mut self.text
            && let Some(f) = &mut t.filter
        {
            f.resolve(schema)?;
        }
        resolve_output_fields(&mut self.output_fields, schema)?;
        Ok(index)
    }

    /// The knn weight for fusion (`knn.weight`, default 1.0).
    pub fn knn_weight(&self) -> f64 {
        self.knn.as_ref().and_then(|k| k.weight).unwrap_or(1.0)
    }

    /// The text weight for fusion (`text.weight`, default 1.0).
    pub fn text_weight(&self) -> f64 {
        self.text.as_ref().map_or(1.0, |t| t.weight)
    }
}

fn parse_text(o: &Obj<'_>) -> Result<TextQuery, VseError> {
    let query_string = o.required("queryString", "\"title:'hello'\"")?;
    let params = o.string_map("queryParams")?;
    let mut other = BTreeMap::new();
    let mut qp = TextQueryParams {
        default_op: DefaultOp::And,
        no_token_indexes: Vec::new(),
        remove_stopwords: true,
        global_analyzer: None,
        specific_index_analyzer: None,
        other: BTreeMap::new(),
    };
    for (k, v) in params {
        let v_trim = v.trim();
        match k.as_str() {
            "default_op" => {
                qp.default_op = match v_trim.to_ascii_uppercase().as_str() {
                    "AND" | "" => DefaultOp::And,
                    "OR" => DefaultOp::Or,
                    _ => {
                        return Err(invalid(format!(
                            "\"text.queryParams.default_op\" must be \"AND\" or \"OR\", got {v:?}"
                        )));
                    }
                }
            }
            "no_token_indexes" => {
                qp.no_token_indexes = v_trim
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "remove_stopwords" => {
                qp.remove_stopwords = match v_trim.to_ascii_lowercase().as_str() {
                    "true" | "" => true,
                    "false" => false,
                    _ => {
                        return Err(invalid(format!(
                            "\"text.queryParams.remove_stopwords\" must be \"true\" or \"false\", got {v:?}"
                        )));
                    }
                }
            }
            "global_analyzer" => qp.global_analyzer = Some(v).filter(|s| !s.trim().is_empty()),
            "specific_index_analyzer" => {
                qp.specific_index_analyzer = Some(v).filter(|s| !s.trim().is_empty())
            }
            _ => {
                other.insert(k, v);
            }
        }
    }
    qp.other = other;
    Ok(TextQuery {
        query_string,
        query_params: qp,
        filter: filter_of(o, "filter")?,
        weight: o.number("weight")?.unwrap_or(1.0),
        terminate_after: o.uint("terminateAfter", 0, u64::MAX)?.unwrap_or(0),
    })
}

/// `/vector-service/batch-query` (spec §2.6): independent queries, one result each.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchQueryRequest {
    /// `queries`, each a full query with its own `tableName`.
    pub queries: Vec<QueryRequest>,
    /// `timeout` in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl BatchQueryRequest {
    /// Parses a `/vector-service/batch-query` body. Any invalid query refuses the batch (its
    /// position is in the message); resolve each query against its own table.
    pub fn parse(body: &[u8]) -> Result<BatchQueryRequest, VseError> {
        let m = parse_object(body, "batch-query")?;
        let o = Obj::new(&m, "");
        let items = o.array("queries")?.map(Vec::as_slice).unwrap_or(&[]);
        if items.is_empty() || items.len() > MAX_SUB_QUERIES {
            return Err(invalid(format!(
                "\"queries\" must hold 1 to {MAX_SUB_QUERIES} query objects, got {}",
                items.len()
            )));
        }
        let mut queries = Vec::with_capacity(items.len());
        for (i, q) in items.iter().enumerate() {
            let Value::Object(qm) = q else {
                return Err(invalid(format!("\"queries[{i}]\" must be a query object")));
            };
            queries.push(parse_query_obj(
                &Obj::new(qm, format!("queries[{i}]")),
                None,
                Kind::Query,
            )?);
        }
        Ok(BatchQueryRequest {
            queries,
            timeout_ms: o.uint("timeout", 0, MAX_TIMEOUT_MS)?,
        })
    }
}

/// An aggregate function (spec §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    /// `max`
    Max,
    /// `min`
    Min,
    /// `avg`
    Avg,
    /// `sum`
    Sum,
    /// `count`
    Count,
}

impl AggFn {
    /// Parses a function name, ignoring case.
    pub fn parse(s: &str) -> Option<AggFn> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "max" => AggFn::Max,
            "min" => AggFn::Min,
            "avg" => AggFn::Avg,
            "sum" => AggFn::Sum,
            "count" => AggFn::Count,
            _ => return None,
        })
    }
}

/// One `aggFuncs[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AggFunc {
    /// The result column: `name`, or `func(args)` as sent (e.g. `count(*)`) when absent.
    pub name: String,
    /// The function.
    pub func: AggFn,
    /// The arguments: one field, or `*` for count.
    pub args: Vec<String>,
}

/// One `orderBy[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// A group key or a function's result column.
    pub field: String,
    /// `direction` (default ASC, design choice).
    pub direction: Order,
}

/// `/vector-service/aggregate` (spec §2.6).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRequest {
    /// `tableName`.
    pub table_name: String,
    /// `filter`.
    pub filter: Option<Filter>,
    /// `groupKeys` (empty: one group of everything).
    pub group_keys: Vec<String>,
    /// `aggFuncs` (at least one).
    pub agg_funcs: Vec<AggFunc>,
    /// `orderBy`.
    pub order_by: Vec<OrderBy>,
    /// `timeout` in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl AggregateRequest {
    /// Parses a `/vector-service/aggregate` body.
    pub fn parse(body: &[u8]) -> Result<AggregateRequest, VseError> {
        let m = parse_object(body, "aggregate")?;
        let o = Obj::new(&m, "");
        let table_name = o.required("tableName", "\"my_table\"")?;
        let group_keys = list_of(&o, "groupKeys")?;
        let items = o.array("aggFuncs")?.map(Vec::as_slice).unwrap_or(&[]);
        if items.is_empty() || items.len() > MAX_LIST_ITEMS {
            return Err(invalid(format!(
                "\"aggFuncs\" must hold 1 to {MAX_LIST_ITEMS} functions, e.g. [{{\"func\":\"count\",\"args\":[\"*\"]}}]"
            )));
        }
        let mut agg_funcs: Vec<AggFunc> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Value::Object(fm) = item else {
                return Err(invalid(format!(
                    "\"aggFuncs[{i}]\" must be {{\"func\":\"count\",\"args\":[\"*\"]}}"
                )));
            };
            let fo = Obj::new(fm, format!("aggFuncs[{i}]"));
            let fname = fo.required("func", "\"count\"")?;
            let func = AggFn::parse(&fname).ok_or_else(|| {
                invalid(format!(
                    "\"aggFuncs[{i}].func\" must be max, min, avg, sum or count, got {fname:?}"
                ))
            })?;
            let args: Vec<String> = list_of(&fo, "args")?
                .into_iter()
                .map(|a| a.trim().to_string())
                .collect();
            let arity_ok = match func {
                AggFn::Count => args.len() <= 1,
                _ => args.len() == 1 && args[0] != "*",
            };
            if !arity_ok || args.iter().any(String::is_empty) {
                return Err(invalid(format!(
                    "\"aggFuncs[{i}].args\" must be {}",
                    if func == AggFn::Count {
                        "[\"*\"] or one field"
                    } else {
                        "one field name, e.g. [\"price\"]"
                    }
                )));
            }
            let name = fo
                .non_blank("name")?
                .unwrap_or_else(|| format!("{fname}({})", args.join(",")));
            if agg_funcs.iter().any(|f| f.name == name) || group_keys.contains(&name) {
                return Err(invalid(format!(
                    "\"aggFuncs[{i}]\": result column '{name}' is used twice; give it another \"name\""
                )));
            }
            agg_funcs.push(AggFunc { name, func, args });
        }
        let mut order_by = Vec::new();
        for (i, item) in o
            .array("orderBy")?
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let Value::Object(om) = item else {
                return Err(invalid(format!(
                    "\"orderBy[{i}]\" must be {{\"field\":\"cate_id\",\"direction\":\"ASC\"}}"
                )));
            };
            let oo = Obj::new(om, format!("orderBy[{i}]"));
            let field = oo.required("field", "\"cate_id\"")?;
            if !group_keys.iter().any(|g| g.eq_ignore_ascii_case(&field))
                && !agg_funcs.iter().any(|f| f.name == field)
            {
                return Err(invalid(format!(
                    "\"orderBy[{i}].field\" '{field}' is not a result column: use a group key or an aggregate name ({})",
                    group_keys
                        .iter()
                        .cloned()
                        .chain(agg_funcs.iter().map(|f| f.name.clone()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            order_by.push(OrderBy {
                field,
                direction: order_of(&oo, "direction")?.unwrap_or(Order::Asc),
            });
        }
        Ok(AggregateRequest {
            table_name,
            filter: filter_of(&o, "filter")?,
            group_keys,
            agg_funcs,
            order_by,
            timeout_ms: o.uint("timeout", 0, MAX_TIMEOUT_MS)?,
        })
    }

    /// Checks the filter, group keys and function arguments against `schema` (vector and
    /// TEXT fields cannot be grouped or aggregated; max, min, avg and sum take a numeric field)
    /// and rewrites them to their schema spelling.
    pub fn resolve(&mut self, schema: &VectorTableSchema) -> Result<(), VseError> {
        if let Some(f) = &mut self.filter {
            f.resolve(schema)?;
        }
        let fix = |name: &mut String, what: &str, numeric: bool| -> Result<(), VseError> {
            let field = schema
                .field(name)
                .filter(|f| !schema.is_vector_field(&f.name) && f.field_type != FieldType::Text)
                .ok_or_else(|| {
                    VseError::new(
                        Code::BAD_FIELD,
                        format!(
                            "{what}: '{name}' is not a groupable field of table '{}' (vector and TEXT fields cannot be aggregated)",
                            schema.name
                        ),
                    )
                })?;
            if numeric && field.field_type.is_string() {
                return Err(VseError::new(
                    Code::BAD_FIELD,
                    format!(
                        "{what}: '{}' is {}; max, min, avg and sum take a numeric field (count takes any)",
                        field.name,
                        field.field_type.name()
                    ),
                ));
            }
            *name = field.name.clone();
            Ok(())
        };
        let original: Vec<String> = self.group_keys.clone();
        for g in &mut self.group_keys {
            fix(g, "groupKeys", false)?;
        }
        for f in &mut self.agg_funcs {
            let numeric = f.func != AggFn::Count;
            for a in &mut f.args {
                if a != "*" {
                    fix(a, "aggFuncs.args", numeric)?;
                }
            }
        }
        for ob in &mut self.order_by {
            if let Some(i) = original
                .iter()
                .position(|g| g.eq_ignore_ascii_case(&ob.field))
            {
                ob.field = self.group_keys[i].clone();
            }
        }
        Ok(())
    }
}

/// `/vector-service/stats` (spec §2.6).
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRequest {
    /// `tableName`.
    pub table_name: String,
}

impl StatsRequest {
    /// Parses a `/vector-service/stats` body.
    pub fn parse(body: &[u8]) -> Result<StatsRequest, VseError> {
        let m = parse_object(body, "stats")?;
        Ok(StatsRequest {
            table_name: Obj::new(&m, "").required("tableName", "\"my_table\"")?,
        })
    }
}

/// Reads `tableName` from a body without parsing the rest (e.g. to pick the schema first).
pub fn peek_table_name(body: &[u8]) -> Option<String> {
    let m: Map<String, Value> = serde_json::from_slice(body).ok()?;
    m.get("tableName")?.as_str().map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests;
