//! Vector queries in the ha3 query form (spec §3.2): `query=<vector index>:'v1;v2&n=10&sf=0.8'`
//! (each vector its values joined by `,`; `;` between vectors; `ns#` before a vector names its
//! namespace), with the optional clause
//! `vector_search={"<index>":{"namespaces":[..],"threshold":..,"top_n":..,"search_params":{..}}}`.
//!
//! Such a request runs as a `/vector-service/query` of the table: the `filter` and `sort`
//! clauses become its `filter` and `sort` (the same ha3 syntax; `RANK` is the vector score),
//! `n` (or `top_n`) its `topK` (default `start + hit`), `sf` (or `threshold`) its
//! `scoreThreshold`; the recalled documents are then paged with config's `start` and `hit`,
//! `totalHits` counting them all. Scores are the raw distance, as in `/vector-service/query`.

use super::{Ha3Hit, OpenTable, invalid, shown_fields};
use pier_engine::Engine;
use pier_query::{Config, Query, SearchRequest};
use pier_vse::response::Score;
use pier_vse::{QueryRequest, VseError};
use serde_json::{Map, Value, json};

/// The vector part of a ha3 query clause.
pub(super) struct VectorClause {
    /// The vector index the term names.
    pub(super) index: String,
    /// The vector term's quoted text (`v1;v2&n=10&sf=0.8`).
    pub(super) term: String,
    /// The other terms of a top-level AND, in the query language: only documents matching them
    /// are scored (the vector query's `textQueryString`).
    pub(super) text: Option<String>,
}

impl VectorClause {
    /// The vector term of `query`, alone or as one part of a top-level AND; None when the
    /// query names no vector index there (a text query).
    pub(super) fn find(t: &OpenTable, query: &Query) -> Option<VectorClause> {
        let vector_term = |q: &Query| match q {
            Query::Term { index, text, .. } => {
                super::vector_index_named(t, index).map(|index| (index, text.clone()))
            }
            _ => None,
        };
        if let Some((index, term)) = vector_term(query) {
            return Some(VectorClause {
                index,
                term,
                text: None,
            });
        }
        let Query::And(parts) = query else {
            return None;
        };
        let mut found = parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| vector_term(p).map(|v| (i, v)));
        let (at, (index, term)) = found.next()?;
        if found.next().is_some() {
            return None;
        }
        let rest: Vec<Query> = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, p)| p.clone())
            .collect();
        let text = match rest.as_slice() {
            [one] => query_text(one),
            _ => query_text(&Query::And(rest)),
        };
        Some(VectorClause {
            index,
            term,
            text: Some(text),
        })
    }
}

/// `q` written back in the query language (the parser reads it to the same tree).
fn query_text(q: &Query) -> String {
    let join = |parts: &[Query], op: &str| {
        let parts: Vec<String> = parts.iter().map(query_text).collect();
        format!("({})", parts.join(op))
    };
    let number = |n: &Option<pier_query::Number>| match n {
        None => String::new(),
        Some(pier_query::Number::Int(i)) => i.to_string(),
        Some(pier_query::Number::Float(f)) => f.to_string(),
    };
    match q {
        Query::Term {
            index,
            text,
            boost,
            phrase,
        } => {
            let quote = if *phrase { '"' } else { '\'' };
            let escaped = text
                .replace('\\', "\\\\")
                .replace(quote, &format!("\\{quote}"));
            let boost = if *boost == pier_query::DEFAULT_BOOST {
                String::new()
            } else {
                format!("^{boost}")
            };
            format!("{index}:{quote}{escaped}{quote}{boost}")
        }
        Query::Range {
            index,
            lower,
            upper,
            lower_inclusive,
            upper_inclusive,
        } => format!(
            "{index}:{}{},{}{}",
            if *lower_inclusive { '[' } else { '(' },
            number(lower),
            number(upper),
            if *upper_inclusive { ']' } else { ')' }
        ),
        Query::And(parts) => join(parts, " AND "),
        Query::Or(parts) => join(parts, " OR "),
        Query::AndNot(a, b) => join(&[(**a).clone(), (**b).clone()], " ANDNOT "),
        Query::Rank(a, b) => join(&[(**a).clone(), (**b).clone()], " RANK "),
    }
}

/// The `/vector-service/query` request a ha3 vector query stands for.
pub(super) fn request(
    t: &OpenTable,
    clause: &VectorClause,
    vector_search: Option<&str>,
    parsed: &SearchRequest,
    clauses: &[&str],
    fetch_fields: &[String],
) -> Result<QueryRequest, VseError> {
    if !parsed.aggregates.is_empty() || !parsed.distinct.is_empty() {
        return Err(invalid(
            "aggregate and distinct clauses do not go with a vector query in pier: remove them (or aggregate with /vector-service/aggregate)",
        ));
    }
    let index = clause.index.as_str();
    let term = Term::parse(&clause.term)?;
    let options = match vector_search {
        Some(text) => VectorSearch::parse(text, index)?,
        None => VectorSearch::default(),
    };
    let namespace = match (&term.namespace, options.namespace) {
        (Some(a), Some(b)) if *a != b => {
            return Err(invalid(format!(
                "the query names namespace '{a}' but vector_search names '{b}': give one"
            )));
        }
        (a, b) => a.clone().or(b),
    };
    let output_fields: Vec<String> = if fetch_fields.is_empty() {
        t.schema
            .fields
            .iter()
            .filter(|f| !t.schema.is_vector_field(&f.name))
            .map(|f| f.name.clone())
            .collect()
    } else {
        fetch_fields.to_vec()
    };
    let page_end = parsed.config.start as usize + parsed.config.hit as usize;
    let mut body = json!({
        "tableName": t.schema.name,
        "indexName": index,
        "vector": term.values,
        "vectorCount": term.count,
        "topK": term.n.or(options.top_n).unwrap_or(page_end).max(1),
        "outputFields": output_fields,
    });
    let mut put = |key: &str, v: Value| {
        body[key] = v;
    };
    if let Some(ns) = namespace {
        put("namespace", Value::String(ns));
    }
    if let Some(th) = term.sf.or(options.threshold) {
        put("scoreThreshold", json!(th));
    }
    if let Some(p) = options.search_params {
        put("searchParams", Value::String(p.to_string()));
    }
    if let Some(text) = &clause.text {
        put("textQueryString", Value::String(text.clone()));
    }
    for name in ["filter", "sort"] {
        if let Some(value) = clause_value(clauses, name) {
            put(name, Value::String(value.to_string()));
        }
    }
    QueryRequest::parse(body.to_string().as_bytes()).map_err(|mut e| {
        e.message = format!("vector query: {}", e.message);
        e
    })
}

/// The `/vector-service/query` body for SQL's `MATCHINDEX('<index>', '<term>')`: the term's
/// vectors and namespace, `n` as topK (else `default_top_k`) and `sf` as scoreThreshold.
pub(super) fn match_index_body(
    t: &OpenTable,
    index: &str,
    term: &str,
    default_top_k: usize,
) -> Result<Value, VseError> {
    let term = Term::parse(term)?;
    let mut body = json!({
        "tableName": t.schema.name,
        "indexName": index,
        "vector": term.values,
        "vectorCount": term.count,
        "topK": term.n.unwrap_or(default_top_k).max(1),
    });
    if let Some(ns) = term.namespace {
        body["namespace"] = Value::String(ns);
    }
    if let Some(sf) = term.sf {
        body["scoreThreshold"] = json!(sf);
    }
    Ok(body)
}

/// The value of clause `name` among `clauses` (trimmed; None when absent or blank).
fn clause_value<'a>(clauses: &[&'a str], name: &str) -> Option<&'a str> {
    clauses
        .iter()
        .filter_map(|c| c.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Runs the query and pages it: every recalled document counts in the total.
pub(super) fn run(
    engine: &Engine,
    t: &OpenTable,
    request: QueryRequest,
    config: &Config,
    fetch_fields: &[String],
) -> Result<(u64, Vec<Ha3Hit>), VseError> {
    let hits = crate::dialects::vse::query::query(engine, request)?;
    let total = hits.len() as u64;
    let page = hits
        .into_iter()
        .enumerate()
        .skip(config.start as usize)
        .take(config.hit as usize)
        .map(|(i, hit)| {
            let mut source: Map<String, Value> = hit.fields;
            source.entry(t.schema.primary_key.clone()).or_insert(hit.id);
            let sort_values = match hit.score {
                Some(Score::Single(s)) => vec![s.to_string()],
                Some(Score::PerSort(s)) => s.iter().map(f64::to_string).collect(),
                None => Vec::new(),
            };
            Ha3Hit {
                fields: shown_fields(t, &source, fetch_fields),
                sort_values,
                docid: u32::try_from(i).unwrap_or(u32::MAX),
            }
        })
        .collect();
    Ok((total, page))
}

/// The quoted part of `<index>:'...'`.
#[derive(Debug, PartialEq)]
struct Term {
    /// Every vector's values, concatenated.
    values: Vec<f32>,
    /// How many vectors.
    count: usize,
    /// The namespace named with `ns#`.
    namespace: Option<String>,
    /// `n`: top N.
    n: Option<usize>,
    /// `sf`: the score threshold.
    sf: Option<f64>,
}

impl Term {
    fn parse(text: &str) -> Result<Term, VseError> {
        let (vectors, params) = text.split_once('&').unwrap_or((text, ""));
        let mut term = Term {
            values: Vec::new(),
            count: 0,
            namespace: None,
            n: None,
            sf: None,
        };
        for param in params.split('&').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.trim() {
                "n" => {
                    term.n = Some(value.trim().parse().map_err(|_| {
                        invalid(format!(
                            "vector query: n must be a whole number (top N), got '{value}'"
                        ))
                    })?);
                }
                "sf" => {
                    term.sf = Some(value.trim().parse().map_err(|_| {
                        invalid(format!(
                            "vector query: sf must be a number (the score threshold), got '{value}'"
                        ))
                    })?);
                }
                other => {
                    return Err(invalid(format!(
                        "vector query: unknown parameter '{other}' after the vectors: pier takes n (top N) and sf (score threshold)"
                    )));
                }
            }
        }
        for vector in vectors.split(';').map(str::trim).filter(|v| !v.is_empty()) {
            let values = match vector.split_once('#') {
                Some((ns, values)) => {
                    let ns = ns.trim();
                    if term.namespace.as_deref().is_some_and(|seen| seen != ns) {
                        return Err(invalid(format!(
                            "vector query: several namespaces ('{}' and '{ns}'); pier searches one namespace per query: send one query per namespace",
                            term.namespace.as_deref().unwrap_or_default()
                        )));
                    }
                    term.namespace = Some(ns.to_string());
                    values
                }
                None => vector,
            };
            for x in values.split(',').map(str::trim) {
                term.values.push(x.parse().map_err(|_| {
                    invalid(format!(
                        "vector query: '{x}' is not a number: write the vector as 0.1,0.2,... (';' between vectors)"
                    ))
                })?);
            }
            term.count += 1;
        }
        if term.count == 0 {
            return Err(invalid(
                "vector query: no vector between the quotes: write <vector index>:'0.1,0.2,...'",
            ));
        }
        Ok(term)
    }
}

/// The `vector_search` clause's entry for the queried index.
#[derive(Debug, Default, PartialEq)]
struct VectorSearch {
    namespace: Option<String>,
    threshold: Option<f64>,
    top_n: Option<usize>,
    search_params: Option<Value>,
}

impl VectorSearch {
    fn parse(text: &str, index: &str) -> Result<VectorSearch, VseError> {
        let bad = |what: &str| {
            invalid(format!(
                "vector_search: {what}; write vector_search={{\"{index}\":{{\"namespaces\":[\"ns\"],\"threshold\":0.5,\"top_n\":10,\"search_params\":{{\"proxima.hnsw.searcher.ef\":200}}}}}}"
            ))
        };
        let all: Map<String, Value> = match serde_json::from_str(text.trim()) {
            Ok(Value::Object(m)) => m,
            _ => return Err(bad("not a JSON object")),
        };
        let Some(Value::Object(entry)) = all
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(index))
            .map(|(_, v)| v)
        else {
            return Err(bad(&format!("no object for the queried index '{index}'")));
        };
        let mut out = VectorSearch::default();
        for (key, value) in entry {
            match key.as_str() {
                "namespaces" => {
                    let names: Vec<&str> = value
                        .as_array()
                        .ok_or_else(|| bad("namespaces must be a list of strings"))?
                        .iter()
                        .map(|v| v.as_str().ok_or_else(|| bad("namespaces must be strings")))
                        .collect::<Result<_, _>>()?;
                    match names.as_slice() {
                        [] => {}
                        [one] => out.namespace = Some(one.to_string()),
                        _ => {
                            return Err(bad(
                                "pier searches one namespace per query: name one namespace",
                            ));
                        }
                    }
                }
                "threshold" => {
                    out.threshold = Some(
                        value
                            .as_f64()
                            .ok_or_else(|| bad("threshold must be a number"))?,
                    );
                }
                "top_n" => {
                    out.top_n = Some(
                        value
                            .as_u64()
                            .and_then(|n| usize::try_from(n).ok())
                            .ok_or_else(|| bad("top_n must be a whole number"))?,
                    );
                }
                "search_params" => out.search_params = Some(value.clone()),
                other => return Err(bad(&format!("unknown key '{other}'"))),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_hold_vectors_namespaces_and_parameters() {
        let t = Term::parse("0.1,0.2;0.3, 0.4&n=10&sf=0.8").unwrap();
        assert_eq!(
            t,
            Term {
                values: vec![0.1, 0.2, 0.3, 0.4],
                count: 2,
                namespace: None,
                n: Some(10),
                sf: Some(0.8),
            }
        );
        let t = Term::parse("16#1,2;3,4").unwrap();
        assert_eq!((t.namespace.as_deref(), t.count), (Some("16"), 2));
        for (bad, hint) in [
            ("1,x", "'x' is not a number"),
            ("16#1,2;17#3,4", "several namespaces"),
            ("1,2&n=ten", "n must be a whole number"),
            ("1,2&k=3", "unknown parameter 'k'"),
            ("&n=3", "no vector"),
        ] {
            let e = Term::parse(bad).unwrap_err();
            assert!(e.message.contains(hint), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn query_text_reads_back_to_the_same_tree() {
        for clause in [
            "body:'apple'",
            "body:'it\\'s \\\\ x'^20 AND (title:\"a b\" OR price:[1,10.5)) ANDNOT x:'y'",
            "a:'1' RANK b:(,3]",
        ] {
            let q = pier_query::parse_search(&format!("query={clause}"), None)
                .unwrap()
                .query;
            let again = pier_query::parse_search(&format!("query={}", query_text(&q)), None)
                .unwrap()
                .query;
            assert_eq!(q, again, "{clause} -> {}", query_text(&q));
        }
    }

    #[test]
    fn never_panics_on_malformed_terms() {
        let seed = "16#0.1,0.2;17#0.3&n=10&sf=0.8&&";
        let chars: Vec<char> = seed.chars().collect();
        for i in 0..=chars.len() {
            for j in i..=chars.len() {
                let text: String = chars[i..j].iter().collect();
                let _ = Term::parse(&text);
                let _ = VectorSearch::parse(&text, "v");
            }
        }
    }

    #[test]
    fn vector_search_options() {
        let v = VectorSearch::parse(
            r#"{"vec":{"namespaces":["a"],"threshold":0.5,"top_n":7,"search_params":{"ef":9}}}"#,
            "vec",
        )
        .unwrap();
        assert_eq!(v.namespace.as_deref(), Some("a"));
        assert_eq!((v.threshold, v.top_n), (Some(0.5), Some(7)));
        assert_eq!(v.search_params, Some(json!({"ef": 9})));
        for (bad, hint) in [
            ("[]", "not a JSON object"),
            (r#"{"other":{}}"#, "no object for the queried index 'vec'"),
            (r#"{"vec":{"namespaces":["a","b"]}}"#, "one namespace"),
            (r#"{"vec":{"top_n":-1}}"#, "top_n"),
            (r#"{"vec":{"nope":1}}"#, "unknown key 'nope'"),
        ] {
            let e = VectorSearch::parse(bad, "vec").unwrap_err();
            assert!(e.message.contains(hint), "{bad}: {}", e.message);
        }
    }
}
