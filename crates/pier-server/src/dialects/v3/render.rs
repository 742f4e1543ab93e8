//! Search responses in the shapes of spec §4.3: `json` (flat items), `fulljson` (items with
//! fields, property, attribute, variableValue, sortExprValues) and `xml`. Field values are
//! strings, as the cloud returns them; array values are joined with `\t`.

use super::search::Answer;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pier_index::search::SearchOutput;
use pier_query::Format;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// The field every item carries with the app's name.
const INDEX_NAME: &str = "index_name";

/// The successful response for `answer`.
pub fn answer(app: &str, request_id: &str, started: Instant, answer: Answer) -> Response {
    let Answer {
        output,
        format,
        fetch_fields,
        scroll_id,
    } = answer;
    let searchtime = started.elapsed().as_secs_f64();
    let items: Vec<Value> = output
        .hits
        .iter()
        .map(|hit| {
            let fields = item_fields(app, &hit.fields, &fetch_fields);
            match format {
                Format::FullJson => json!({
                    "fields": fields,
                    "property": {},
                    "attribute": {},
                    "variableValue": {},
                    "sortExprValues": hit.sort_values.iter().map(|v| v.to_display()).collect::<Vec<_>>(),
                }),
                _ => Value::Object(fields),
            }
        })
        .collect();
    let mut result = json!({
        "searchtime": searchtime,
        "total": output.total,
        "num": items.len(),
        "viewtotal": output.viewtotal,
        "items": items,
        "facet": facets(&output),
    });
    if let Some(id) = scroll_id {
        result["scroll_id"] = Value::String(id);
    }
    let body = json!({
        "status": "OK",
        "request_id": request_id,
        "result": result,
        "errors": [],
        "tracer": "",
        "ops_request_misc": ops_request_misc(request_id),
    });
    if format == Format::Xml {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        xml(&mut out, "root", &body);
        return ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response();
    }
    axum::Json(body).into_response()
}

/// `{"request_id":"…"}` URL-encoded the way the cloud does it (`_` as `%5F`).
fn ops_request_misc(request_id: &str) -> String {
    format!("%7B%22request%5Fid%22%3A%22{request_id}%22%7D")
}

/// The item's fields as strings, restricted to `fetch` when given, plus `index_name`.
fn item_fields(app: &str, source: &Map<String, Value>, fetch: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |name: &str, v: &Value| {
        out.insert(name.to_string(), Value::String(as_text(v)));
    };
    if fetch.is_empty() {
        source.iter().for_each(|(k, v)| put(k, v));
    } else {
        for name in fetch {
            put(name, source.get(name).unwrap_or(&Value::Null));
        }
    }
    out.insert(INDEX_NAME.into(), Value::String(app.to_string()));
    out
}

/// A stored value as the cloud prints it.
pub(crate) fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(as_text).collect::<Vec<_>>().join("\t"),
        other => other.to_string(),
    }
}

fn facets(output: &SearchOutput) -> Value {
    output
        .facets
        .iter()
        .map(|f| {
            let items: Vec<Value> = f
                .items
                .iter()
                .map(|item| {
                    let mut o = Map::new();
                    o.insert("value".into(), Value::String(item.value.clone()));
                    o.insert("count".into(), json!(item.count));
                    for (name, value) in &item.values {
                        o.insert((*name).into(), number(*value));
                    }
                    Value::Object(o)
                })
                .collect();
            json!({"key": f.key, "items": items})
        })
        .collect()
}

/// Whole numbers as integers, others as doubles.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Writes `value` as XML element `name`; arrays repeat a singular child (`items` → `item`).
fn xml(out: &mut String, name: &str, value: &Value) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| xml(out, k, v)),
        Value::Array(items) => {
            let child = name.strip_suffix('s').unwrap_or("item");
            items.iter().for_each(|v| xml(out, child, v));
        }
        Value::String(s) => escape(out, s),
        other => escape(out, &other.to_string()),
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

pub(crate) fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_the_cloud_prints_them() {
        assert_eq!(as_text(&json!(5)), "5");
        assert_eq!(as_text(&json!(1.5)), "1.5");
        assert_eq!(as_text(&json!(["a", "b"])), "a\tb");
        assert_eq!(as_text(&json!([1, 2])), "1\t2");
        assert_eq!(as_text(&Value::Null), "");
    }

    #[test]
    fn xml_is_escaped_and_nested() {
        let mut out = String::new();
        xml(
            &mut out,
            "root",
            &json!({"items": [{"title": "a<b & \"c\""}], "n": 2}),
        );
        assert_eq!(
            out,
            "<root><items><item><title>a&lt;b &amp; &quot;c&quot;</title></item></items><n>2</n></root>"
        );
    }
}
