//! The Retrieval Engine Edition's search API (the `alibabacloud-ha3engine` SDK's `search()`,
//! wire spec §3) on Vector Search Edition tables: `GET /query?query=<assembled clauses>` and
//! `POST /query` with `{"assemblyQuery":"<assembled clauses>"}`, Basic auth as every VSE path.
//!
//! The assembled string is ha3's clause list (`query=...&&cluster=...&&config=...&&filter=...
//! &&sort=...&&aggregate=...&&distinct=...&&kvpairs=...`). `cluster` picks the table (see
//! [`resolve_cluster`]); every other clause is the V3 query language, parsed by
//! [`pier_query::parse_search`] against the table's schema and run by the text index's
//! executor, as V3 search does. The answer is ha3's JSON (§3.3), or its XML with
//! `config=format:xml`. A refused request is answered with the HTTP status of its code and the
//! same JSON, its `errors` naming the code and what to fix.

mod sql;
mod vector;

use super::{OpenTable, authenticate, convert, open_table, read_body};
use crate::ServerState;
use crate::dialects::v3::render::{as_text, escape};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use pier_engine::{AppKind, Engine};
use pier_index::search::{Facet, Page};
use pier_query::{Config, Format, SearchRequest};
use pier_vse::{Code, QueryRequest, VseError};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// The cluster name the SDK sends when the caller names none (`HaQuery.cluster` unset).
pub const DEFAULT_CLUSTER: &str = "general";

/// `GET|POST /query` (one ha3 or SQL search), `GET|POST /sql` and `POST
/// /QrsService/searchSql` (havenask's SQL paths).
pub async fn query(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let params: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let sql_path = uri.path() != "/query";
    let route = Route {
        is_sql: sql_path
            || params.contains_key("sql") && !params.contains_key("query")
            || params.get("type").is_some_and(|t| t == "sql"),
        sql_path,
        params,
    };
    // Errors are answered in the form the request asked for (refined once the body is read).
    let mut shape = if route.is_sql {
        Shape::Sql(
            route
                .params
                .get("sql")
                .map_or(sql::SqlFormat::Json, |a| sql::format_of(a)),
        )
    } else {
        Shape::Ha3
    };
    let result = serve(&state, &method, &route, &headers, body, &mut shape, started).await;
    let kind = if route.is_sql { "sql" } else { "ha3" };
    metrics::counter!("pier_vse_requests_total", "kind" => kind, "outcome" => match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.0.to_string(),
    })
    .increment(1);
    match result {
        Ok(r) => {
            metrics::histogram!("pier_search_seconds", "api" => kind)
                .record(started.elapsed().as_secs_f64());
            r
        }
        Err(e) => match shape {
            Shape::Ha3 => error_response(&e, started),
            Shape::Sql(format) => {
                let status =
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = sql::answer(format, started, 0, sql::empty_result(), Some(&e));
                json_response(status, body)
            }
        },
    }
}

/// The answer shape of a request (and of its errors).
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// ha3's `{"result","errors","tracer"}`.
    Ha3,
    /// havenask's SQL result in this format.
    Sql(sql::SqlFormat),
}

/// Where a request goes, read from its path and URL parameters.
struct Route {
    /// The URL parameters, form-decoded.
    params: HashMap<String, String>,
    /// `/sql` or `/QrsService/searchSql`.
    sql_path: bool,
    /// The SQL form: a SQL path, `?sql=` or `?type=sql`.
    is_sql: bool,
}

async fn serve(
    state: &Arc<ServerState>,
    method: &Method,
    route: &Route,
    headers: &HeaderMap,
    body: Body,
    shape: &mut Shape,
    started: Instant,
) -> Result<Response, VseError> {
    authenticate(&state.engine, headers)?;
    let assembly = if method == Method::GET {
        let param = |name: &str| route.params.get(name).cloned();
        match (route.sql_path, route.is_sql) {
            // havenask: /sql?query=SELECT ...&&kvpair=... arrives as two URL parameters.
            (true, _) => {
                let sql = param("query").ok_or_else(|| {
                    invalid("GET /sql needs the parameter query=SELECT ... (and optionally &&kvpair=formatType:json)")
                })?;
                match param("kvpair") {
                    Some(kv) => format!("query={sql}&&kvpair={kv}"),
                    None => format!("query={sql}"),
                }
            }
            (false, true) => param("sql").unwrap_or_default(),
            (false, false) => param("query").ok_or_else(|| {
                invalid(
                    "GET /query needs the parameter query=<ha3 clauses> (or sql=<query=SELECT ...>), for example ?query=query%3Dtitle%3A%27word%27%26%26cluster%3Dgeneral",
                )
            })?,
        }
    } else {
        assembly_of(headers, body).await?
    };
    let engine = state.engine.clone();
    if route.is_sql {
        *shape = Shape::Sql(sql::format_of(&assembly));
        let request = sql::SqlRequest::parse(&assembly)?;
        *shape = Shape::Sql(request.format());
        let value = tokio::task::spawn_blocking(move || sql::run(&engine, &request, started))
            .await
            .map_err(|e| VseError::internal(&e.to_string()))??;
        return Ok(json_response(StatusCode::OK, value));
    }
    tokio::task::spawn_blocking(move || run(&engine, &assembly, started))
        .await
        .map_err(|e| VseError::internal(&e.to_string()))?
}

/// The POST body's `assemblyQuery` (a body that is not a JSON object is taken as the assembled
/// string itself, as havenask does).
async fn assembly_of(headers: &HeaderMap, body: Body) -> Result<String, VseError> {
    let decoded = read_body(
        headers,
        body,
        pier_vse::body::MAX_QUERY_BODY_BYTES,
        "send a shorter query",
    )
    .await?;
    match serde_json::from_slice::<Value>(&decoded) {
        Ok(Value::Object(o)) => match o.get("assemblyQuery") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(VseError::new(
                Code::BAD_JSON,
                "the body has no \"assemblyQuery\" string: send {\"assemblyQuery\":\"query=...&&cluster=...\"}",
            )),
        },
        _ => String::from_utf8(decoded).map_err(|_| {
            VseError::new(
                Code::BAD_JSON,
                "the body is neither JSON nor UTF-8 text: send {\"assemblyQuery\":\"query=...\"}",
            )
        }),
    }
}

fn invalid(message: impl Into<String>) -> VseError {
    VseError::new(Code::INVALID_PARAMETER, message)
}

/// The names of every Vector Search Edition table, sorted.
fn table_names(engine: &Engine) -> Vec<String> {
    let mut names: Vec<String> = engine
        .list_apps()
        .into_iter()
        .filter(|a| a.kind == AppKind::VectorSearch)
        .filter_map(|a| a.name.strip_prefix("vse/").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The table a `cluster` names. In ha3 a cluster is a searchable table; the cloud's default
/// cluster is `general`. Design choice: `cluster=<table>` (or `<instance>_<table>`, as in push
/// paths) picks that table; `general`, a blank
/// or no cluster picks a table named `general` if there is one, else the only table; with
/// several tables the caller must name one.
pub fn resolve_cluster(engine: &Engine, cluster: Option<&str>) -> Result<OpenTable, VseError> {
    let names = table_names(engine);
    let listed = || {
        if names.is_empty() {
            "there are no tables: create one first (pier table create)".to_string()
        } else {
            format!("the tables are: {}", names.join(", "))
        }
    };
    let cluster = cluster.map(str::trim).filter(|c| !c.is_empty());
    let name = match cluster {
        Some(c) if c.contains([',', ';']) => {
            return Err(invalid(format!(
                "cluster '{c}' names several clusters; pier searches one table per request: name one table"
            )));
        }
        // `{instance}_{table}` as in push paths, else the bare name.
        Some(c) if c != DEFAULT_CLUSTER || names.iter().any(|n| n == c) => {
            pier_vse::resolve_bulk_table(c, |t| names.iter().any(|n| n == t))
                .unwrap_or_else(|| c.to_string())
        }
        _ if names.iter().any(|n| n == DEFAULT_CLUSTER) => DEFAULT_CLUSTER.to_string(),
        _ if names.len() == 1 => names[0].clone(),
        _ => {
            return Err(VseError::new(
                Code::RESOURCE_NOT_FOUND,
                format!(
                    "cluster '{}' does not name a table and there is not exactly one table to default to ({}): write cluster=<table name>",
                    cluster.unwrap_or(DEFAULT_CLUSTER),
                    listed()
                ),
            ));
        }
    };
    open_table(engine, &name).ok_or_else(|| {
        VseError::new(
            Code::RESOURCE_NOT_FOUND,
            format!(
                "cluster '{name}' is not a table ({}): write cluster=<table name>",
                listed()
            ),
        )
    })
}

/// What a ha3 request asks for.
enum Plan {
    /// A text query (the V3 language) over the table's text index.
    Text {
        table: OpenTable,
        request: Box<SearchRequest>,
        /// `config=...,fetch_fields:a;b`: the fields to return (empty: all but vectors).
        fetch_fields: Vec<String>,
    },
    /// A vector query (`query=<vector index>:'v1,v2,...&n=10&sf=0.8'`), run as a
    /// `/vector-service/query`, then paged with `start` / `hit`.
    Vector {
        table: OpenTable,
        request: Box<QueryRequest>,
        config: Config,
        fetch_fields: Vec<String>,
    },
}

/// Splits out the `cluster` and `vector_search` clauses, resolves the table and parses the
/// other clauses against its schema.
fn parse(engine: &Engine, assembly: &str) -> Result<Plan, VseError> {
    let mut own: HashMap<&str, &str> = HashMap::new();
    let mut rest: Vec<&str> = Vec::new();
    for piece in pier_query::split_request(assembly) {
        match piece.split_once('=') {
            Some((name, value)) if OWN_CLAUSES.contains(&name.trim()) => {
                if own.insert(name.trim(), value).is_some() {
                    return Err(invalid(format!(
                        "clause '{}' appears more than once: give it once",
                        name.trim()
                    )));
                }
            }
            _ => rest.push(piece),
        }
    }
    let clauses = rest.join("&&");
    let query_error = |e: pier_query::QueryError| VseError::new(Code(e.code), e.message);
    // The older form names the cluster in config (`config=cluster:name,...`).
    let unchecked = pier_query::parse_search(&clauses, None).map_err(query_error)?;
    let config_cluster = unchecked.config.extra.get("cluster").map(String::as_str);
    let table = resolve_cluster(engine, own.get("cluster").copied().or(config_cluster))?;
    let fetch_fields = fetch_fields(&table, unchecked.config.extra.get("fetch_fields"))?;
    let app = engine
        .app(&convert::app_name(&table.schema.name))
        .ok_or_else(|| VseError::table_not_found(&table.schema.name))?;
    if let Some(clause) = vector::VectorClause::find(&table, &unchecked.query) {
        // The text terms ANDed with the vector term are checked as a query of their own.
        if let Some(text) = &clause.text {
            pier_query::parse_search(&format!("query={text}"), Some(&app.schema))
                .map_err(query_error)?;
        }
        let request = vector::request(
            &table,
            &clause,
            own.get("vector_search").copied(),
            &unchecked,
            &rest,
            &fetch_fields,
        )?;
        return Ok(Plan::Vector {
            table,
            request: Box::new(request),
            config: unchecked.config,
            fetch_fields,
        });
    }
    if own.contains_key("vector_search") {
        return Err(invalid(
            "the vector_search clause goes with a vector query: write query=<vector index>:'0.1,0.2,...&n=10'",
        ));
    }
    let request = pier_query::parse_search(&clauses, Some(&app.schema)).map_err(query_error)?;
    Ok(Plan::Text {
        table,
        request: Box::new(request),
        fetch_fields,
    })
}

/// The clauses of ha3 that are not V3's.
const OWN_CLAUSES: [&str; 2] = ["cluster", "vector_search"];

/// The vector index a query term's index names: a vector index's name, or its vector field.
fn vector_index_named(t: &OpenTable, name: &str) -> Option<String> {
    t.schema
        .vector_indexes
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(name) || i.vector_field == name)
        .map(|i| i.name.clone())
}

/// `fetch_fields:a;b` in the config clause (`;` or `|` between names).
fn fetch_fields(t: &OpenTable, param: Option<&String>) -> Result<Vec<String>, VseError> {
    let Some(param) = param else {
        return Ok(Vec::new());
    };
    param
        .split([';', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            if t.schema.field(name).is_some() {
                Ok(name.to_string())
            } else {
                Err(VseError::new(
                    Code::BAD_FIELD,
                    format!(
                        "config fetch_fields: table '{}' has no field '{name}'; its fields: {}",
                        t.schema.name,
                        t.schema
                            .fields
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        })
        .collect()
}

/// Parses and runs one ha3 request (blocking: reads the index).
fn run(engine: &Engine, assembly: &str, started: Instant) -> Result<Response, VseError> {
    let (table, config, total, hits, facets) = match parse(engine, assembly)? {
        Plan::Text {
            table,
            request,
            fetch_fields,
        } => {
            let page = Page::Ranked {
                start: request.config.start as usize,
                hit: request.config.hit as usize,
            };
            let config = request.config.clone();
            let searcher = table.table.index.searcher();
            let output = table
                .table
                .index
                .search(&searcher, &Arc::new(*request), page, &[])
                .map_err(|e| VseError::new(Code(e.code), e.message))?;
            let vectors = fetched_vectors(engine, &table, &output.hits, &fetch_fields)?;
            let hits = output
                .hits
                .iter()
                .zip(vectors)
                .map(|(hit, vectors)| {
                    let mut source = hit.fields.clone();
                    source.extend(vectors);
                    Ha3Hit {
                        fields: shown_fields(&table, &source, &fetch_fields),
                        sort_values: hit.sort_values.iter().map(|v| v.to_display()).collect(),
                        docid: hit.address.doc_id,
                    }
                })
                .collect();
            (table, config, output.total, hits, output.facets)
        }
        Plan::Vector {
            table,
            request,
            config,
            fetch_fields,
        } => {
            let (total, hits) = vector::run(engine, &table, *request, &config, &fetch_fields)?;
            (table, config, total, hits, Vec::new())
        }
    };
    let answer = Answer {
        cluster: &table.schema.name,
        total,
        hits,
        facets: &facets,
    };
    Ok(match config.format {
        Format::Xml => xml_response(answer.xml(started)),
        Format::Json | Format::FullJson => json_response(StatusCode::OK, answer.json(started)),
    })
}

/// The vector fields `fetch` names, for each hit, read from the document store (the text
/// index does not keep vectors); empty maps when `fetch` names none.
fn fetched_vectors(
    engine: &Engine,
    t: &OpenTable,
    hits: &[pier_index::search::Hit],
    fetch: &[String],
) -> Result<Vec<Map<String, Value>>, VseError> {
    let wanted: Vec<&String> = fetch
        .iter()
        .filter(|f| t.schema.is_vector_field(f))
        .collect();
    if wanted.is_empty() {
        return Ok(vec![Map::new(); hits.len()]);
    }
    let pks: Vec<String> = hits
        .iter()
        .map(|h| {
            h.fields
                .get(&t.schema.primary_key)
                .map(as_text)
                .unwrap_or_default()
        })
        .collect();
    let refs: Vec<&str> = pks.iter().map(String::as_str).collect();
    let docs = engine
        .documents(&t.table, &refs)
        .map_err(|e| VseError::internal(&e.to_string()))?;
    Ok(docs
        .into_iter()
        .map(|doc| {
            wanted
                .iter()
                .filter_map(|f| Some(((*f).clone(), doc.as_ref()?.get(*f)?.clone())))
                .collect()
        })
        .collect())
}

/// A hit's fields as ha3 prints them: strings (multi-value fields joined by a tab), the
/// fetched fields or every field of the schema but the vectors (not pier's own stored keys).
fn shown_fields(
    t: &OpenTable,
    source: &Map<String, Value>,
    fetch: &[String],
) -> Map<String, Value> {
    let text = |v: Option<&Value>| Value::String(v.map(as_text).unwrap_or_default());
    if fetch.is_empty() {
        source
            .iter()
            .filter(|(k, _)| t.schema.field(k).is_some() && !t.schema.is_vector_field(k))
            .map(|(k, v)| (k.clone(), text(Some(v))))
            .collect()
    } else {
        fetch
            .iter()
            .map(|k| (k.clone(), text(source.get(k))))
            .collect()
    }
}

/// One result, ready to print.
struct Ha3Hit {
    /// Field values as strings.
    fields: Map<String, Value>,
    /// The sort expressions' values.
    sort_values: Vec<String>,
    /// The document's number (XML `docid`).
    docid: u32,
}

/// A search's results, to render.
struct Answer<'a> {
    /// The table searched (XML `cluster_name`).
    cluster: &'a str,
    /// Documents that matched.
    total: u64,
    /// The requested page.
    hits: Vec<Ha3Hit>,
    /// One facet per aggregate spec.
    facets: &'a [Facet],
}

impl Answer<'_> {
    /// The ha3 JSON answer (spec §3.3).
    fn json(&self, started: Instant) -> Value {
        let items: Vec<Value> = self
            .hits
            .iter()
            .map(|hit| {
                json!({
                    "fields": hit.fields,
                    "property": {},
                    "attribute": {},
                    "variableValue": {},
                    "sortExprValues": hit.sort_values,
                    "tracerInfo": "",
                })
            })
            .collect();
        json!({
            "result": {
                "searchtime": started.elapsed().as_secs_f64(),
                "totalHits": self.total,
                "numHits": items.len(),
                "coveredPercent": 100.0,
                "items": items,
                "facet": self.facets(),
            },
            "errors": [],
            "tracer": "",
        })
    }

    /// Aggregates as ha3 facets: `{"key","items":[{"value","count","sum",...}]}`, values as
    /// strings.
    fn facets(&self) -> Value {
        self.facets
            .iter()
            .map(|f| {
                let items: Vec<Value> = f
                    .items
                    .iter()
                    .map(|item| {
                        let mut o = Map::new();
                        o.insert("value".into(), Value::String(item.value.clone()));
                        o.insert("count".into(), Value::String(item.count.to_string()));
                        for (name, value) in &item.values {
                            o.insert((*name).into(), Value::String(number_text(*value)));
                        }
                        Value::Object(o)
                    })
                    .collect();
                json!({"key": f.key, "items": items})
            })
            .collect()
    }

    /// The ha3 XML answer (`<Root><TotalTime/><hits numhits totalhits coveredPercent><hit
    /// cluster_name hash_id docid>...`).
    fn xml(&self, started: Instant) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Root>");
        out.push_str(&format!(
            "<TotalTime>{}</TotalTime><hits numhits=\"{}\" totalhits=\"{}\" coveredPercent=\"100\">",
            started.elapsed().as_secs_f64(),
            self.hits.len(),
            self.total
        ));
        for hit in &self.hits {
            out.push_str("<hit cluster_name=\"");
            escape(&mut out, self.cluster);
            out.push_str(&format!(
                "\" hash_id=\"0\" docid=\"{}\"><fields>",
                hit.docid
            ));
            for (name, value) in &hit.fields {
                xml_text(&mut out, name, value.as_str().unwrap_or_default());
            }
            out.push_str("</fields><sortExprValues>");
            for v in &hit.sort_values {
                xml_text(&mut out, "value", v);
            }
            out.push_str("</sortExprValues></hit>");
        }
        out.push_str("</hits><AggregateResults>");
        for f in self.facets {
            out.push_str("<AggregateResult key=\"");
            escape(&mut out, &f.key);
            out.push_str("\">");
            for item in &f.items {
                out.push_str("<item>");
                xml_text(&mut out, "value", &item.value);
                xml_text(&mut out, "count", &item.count.to_string());
                for (name, value) in &item.values {
                    xml_text(&mut out, name, &number_text(*value));
                }
                out.push_str("</item>");
            }
            out.push_str("</AggregateResult>");
        }
        out.push_str("</AggregateResults></Root>");
        out
    }
}

/// `<name>text</name>`, escaped (field names are identifiers, so valid element names).
fn xml_text(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Whole numbers without a fraction, others as they are.
fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        (x as i64).to_string()
    } else {
        x.to_string()
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

fn xml_response(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A refused request: the code's HTTP status and ha3's JSON with an empty result.
fn error_response(e: &VseError, started: Instant) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        json!({
            "result": {
                "searchtime": started.elapsed().as_secs_f64(),
                "totalHits": 0,
                "numHits": 0,
                "coveredPercent": 0.0,
                "items": [],
                "facet": [],
            },
            "errors": [{"code": e.code.0, "message": e.message}],
            "tracer": "",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_a_needless_fraction() {
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(-2.0), "-2");
        assert_eq!(number_text(1.5), "1.5");
    }

    #[test]
    fn xml_text_is_escaped() {
        let mut out = String::new();
        xml_text(&mut out, "title", "a<b & \"c\"");
        assert_eq!(out, "<title>a&lt;b &amp; &quot;c&quot;</title>");
    }
}
