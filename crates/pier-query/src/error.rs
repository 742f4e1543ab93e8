//! The parser's error type, the V3 error codes it uses (spec §3), and the helper that points an
//! error at a clause and a position inside it.

use pier_model::Schema;
use std::collections::BTreeMap;

/// A search request the parser refused: a V3 error code and a message naming the clause, the
/// position inside it and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The V3 error code (one of [`codes`]).
    pub code: u32,
    /// What is wrong and where, in words that say what to fix.
    pub message: String,
}

/// The V3 error codes the parser returns. Codes marked "design choice" are not pinned to one
/// documented condition: the spec only gives their range (6119–6126 distinct, 6300–6318 aggregate).
pub mod codes {
    /// The request string, or its query clause, is empty or missing.
    pub const QUERY_EMPTY: u32 = 6001;
    /// Request string syntax error: bad `&&` clause list, config, query clause or kvpairs.
    pub const SYNTAX: u32 = 6008;
    /// `start + hit` (or `start` alone) is over the system limit of 5000; use scroll instead.
    pub const START_HIT_TOO_LARGE: u32 = 6013;
    /// `hit` is over 500.
    pub const HIT_TOO_LARGE: u32 = 6016;
    /// The query clause names an index the app does not have.
    pub const INDEX_NOT_EXIST: u32 = 6101;
    /// Filter clause syntax error.
    pub const FILTER: u32 = 6113;
    /// Sort clause syntax error.
    pub const SORT: u32 = 6115;
    /// A clause name other than config, query, filter, sort, distinct, aggregate, kvpairs,
    /// final_distinct.
    pub const UNKNOWN_CLAUSE: u32 = 6117;
    /// Distinct clause syntax error or bad parameter (design choice: first code of the
    /// documented distinct range 6119–6126).
    pub const DISTINCT: u32 = 6119;
    /// More than two distinct specs.
    pub const TOO_MANY_DISTINCTS: u32 = 6124;
    /// A field used in filter, sort, distinct or aggregate is not an attribute (filter) field.
    pub const NOT_ATTRIBUTE_FIELD: u32 = 6127;
    /// A LITERAL field is compared with a constant that is not double-quoted.
    pub const LITERAL_NOT_QUOTED: u32 = 6135;
    /// Aggregate clause syntax error or bad parameter (design choice: first code of the
    /// documented aggregate range 6300–6318).
    pub const AGGREGATE: u32 = 6300;
}

/// How many characters of the offending text an error message quotes.
const SNIPPET_CHARS: usize = 20;

/// The clause being parsed: its name and full value (positions are byte offsets into `text`),
/// and the app schema to check names against, if any.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// Clause name as written in the request (`filter`, `sort`, ...).
    pub clause: &'static str,
    /// The clause value, after `name=`.
    pub text: &'a str,
    /// The app schema, when the caller has one.
    pub schema: Option<&'a Schema>,
    /// The request's kvpairs, whose keys function arguments may name (`distance(lon, lat,
    /// ulon, ulat)&&kvpairs=ulon:120.3,ulat:30.5`).
    pub kvpairs: Option<&'a BTreeMap<String, String>>,
}

impl Ctx<'_> {
    /// An error at byte offset `pos` of the clause value, reported as a character position
    /// (0-based) with the text found there.
    pub fn error(&self, code: u32, pos: usize, message: impl AsRef<str>) -> QueryError {
        let before = self.text.get(..pos).unwrap_or(self.text);
        let rest = self.text.get(pos..).unwrap_or("");
        let at = if rest.is_empty() {
            "at the end".to_string()
        } else {
            let snippet: String = rest.chars().take(SNIPPET_CHARS).collect();
            let more = if rest.chars().count() > SNIPPET_CHARS {
                "..."
            } else {
                ""
            };
            format!(
                "at position {}, near '{snippet}{more}'",
                before.chars().count()
            )
        };
        QueryError {
            code,
            message: format!("{} clause: {} ({at})", self.clause, message.as_ref()),
        }
    }
}

/// An error about the request string as a whole, not one clause.
pub(crate) fn request_error(code: u32, message: impl Into<String>) -> QueryError {
    QueryError {
        code,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_character_not_the_byte() {
        let ctx = Ctx {
            clause: "query",
            text: "名字:'x' bad",
            schema: None,
            kvpairs: None,
        };
        let pos = ctx.text.find("bad").unwrap();
        let e = ctx.error(codes::SYNTAX, pos, "unexpected word");
        assert_eq!(e.code, 6008);
        assert_eq!(
            e.message,
            "query clause: unexpected word (at position 7, near 'bad')"
        );
        let e = ctx.error(codes::SYNTAX, ctx.text.len(), "missing term");
        assert!(e.message.ends_with("(at the end)"), "{}", e.message);
    }
}
