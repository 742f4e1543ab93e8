//! Clauses that are plain `key1:value1,key2:value2` lists: kvpairs (spec §4.2, values handed to
//! sort-expression functions, for example `duniqfield:company_id`) and final_distinct (whose
//! parameters are kept raw, see [`crate::SearchRequest::final_distinct`]).

use crate::error::{Ctx, QueryError, codes};
use crate::split::{key_value, split_unescaped, trim};
use std::collections::BTreeMap;

/// Parses a `key:value,...` clause value; a repeated key keeps its last value. A value may hold
/// commas written `\,` (the cloud's `in_query_polygon` example: `polygons:x1\,y1\,x2\,y2`).
pub(crate) fn parse_pairs(ctx: &Ctx<'_>) -> Result<BTreeMap<String, String>, QueryError> {
    let mut pairs = BTreeMap::new();
    for (offset, piece) in split_unescaped(ctx.text, ",") {
        let piece = trim(offset, piece);
        if piece.1.is_empty() {
            continue;
        }
        match key_value(piece, ':') {
            Some(((_, key), (_, value))) if !key.is_empty() => {
                pairs.insert(key.to_string(), value.replace("\\,", ","));
            }
            _ => {
                return Err(ctx.error(
                    codes::SYNTAX,
                    piece.0,
                    format!(
                        "expected key:value pairs separated by ',', as in {}=key1:value1,key2:value2",
                        ctx.clause
                    ),
                ));
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BTreeMap<String, String>, QueryError> {
        parse_pairs(&Ctx {
            clause: "kvpairs",
            text,
            schema: None,
            kvpairs: None,
        })
    }

    #[test]
    fn reads_pairs() {
        let kv = parse("duniqfield:company_id, key2:a:b,,key2:c").unwrap();
        assert_eq!(kv.get("duniqfield").map(String::as_str), Some("company_id"));
        assert_eq!(kv.get("key2").map(String::as_str), Some("c"));
        assert_eq!(kv.len(), 2);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn escaped_commas_stay_in_the_value() {
        let kv = parse(r"polygons:1\,2\,3\,4;5\,6,k:v").unwrap();
        assert_eq!(kv["polygons"], "1,2,3,4;5,6");
        assert_eq!(kv["k"], "v");
    }

    #[test]
    fn refuses_pairs_without_a_key() {
        for bad in ["novalue", "a:1,:2"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, codes::SYNTAX, "{bad}");
            assert!(e.message.starts_with("kvpairs clause: "), "{}", e.message);
        }
    }
}
