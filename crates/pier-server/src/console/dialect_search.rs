//! The console's search box for Vector Search Edition tables and AnalyticDB collections, in each
//! API's own language: a `/vector-service/query` JSON body, or `QueryCollectionData`'s
//! parameters. Both run through the dialect's own code, so the answer is the API's answer.

use crate::dialects::{adb, vse};
use pier_engine::{App, AppKind, Engine};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One match: its id, score and fields.
pub struct Match {
    /// The primary key (`id` / `Id`).
    pub id: String,
    /// The API's score.
    pub score: f64,
    /// The other fields the API returned.
    pub fields: Map<String, Value>,
}

/// What the search box of `app` takes: a label, an example and a hint.
pub fn language(app: &App) -> (&'static str, String, &'static str) {
    match app.kind {
        AppKind::VectorSearch => (
            "Vector query (JSON)",
            r#"{"vector": [0.1, 0.2], "topK": 10, "filter": "n > 1"}"#.to_string(),
            "The body of POST /vector-service/query; tableName is filled in.",
        ),
        _ => (
            "QueryCollectionData parameters",
            "Content=words&Filter=page > 2&TopK=10".to_string(),
            "Parameters as a query string: Vector (a JSON array), Content, HybridSearch, Filter, TopK, Offset, OrderBy; Namespace and Collection are filled in.",
        ),
    }
}

/// Runs `query` against a Vector Search Edition table or AnalyticDB collection. Blocking.
pub fn run(engine: &Arc<Engine>, app: &App, query: &str) -> Result<Vec<Match>, String> {
    match app.kind {
        AppKind::VectorSearch => vector_search(engine, app, query),
        _ => collection_query(engine, app, query),
    }
}

fn vector_search(engine: &Engine, app: &App, query: &str) -> Result<Vec<Match>, String> {
    let mut body: Map<String, Value> =
        serde_json::from_str(query).map_err(|e| format!("the query is not a JSON object: {e}"))?;
    if let Some(table) = app.tables.keys().next() {
        body.entry("tableName")
            .or_insert_with(|| Value::from(table.clone()));
    }
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let answer = vse::query::run(
        engine,
        &pier_vse::Endpoint::Query,
        &body,
        std::time::Instant::now(),
    )
    .map_err(|e| e.to_string())?;
    Ok(answer["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|hit| Match {
            id: text(&hit["id"]),
            score: hit["score"].as_f64().unwrap_or(f64::NAN),
            fields: hit["fields"].as_object().cloned().unwrap_or_default(),
        })
        .collect())
}

fn collection_query(engine: &Arc<Engine>, app: &App, query: &str) -> Result<Vec<Match>, String> {
    let (namespace, collection) = adb::collections::parse_app_name(&app.name)
        .ok_or_else(|| format!("'{}' is not an AnalyticDB collection", app.name))?;
    let answer = adb::console_query(engine.clone(), namespace, collection, query)
        .map_err(|e| format!("{}: {}", e.code, e.message))?;
    Ok(answer
        .get("Matches")
        .and_then(|m| m["match"].as_array())
        .into_iter()
        .flatten()
        .map(|m| Match {
            id: text(&m["Id"]),
            score: m["Score"].as_f64().unwrap_or(f64::NAN),
            fields: m["MetadataV2"].as_object().cloned().unwrap_or_default(),
        })
        .collect())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
