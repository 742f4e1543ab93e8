//! The request string as a list of clauses: `name=value` pieces joined by `&&` at the top level
//! (spec §4.2), in any order, each name at most once.

use crate::error::{QueryError, codes, request_error};
use crate::split::split_top;

/// The clauses the parser understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClauseKind {
    Config,
    Query,
    Sort,
    Filter,
    Distinct,
    Aggregate,
    Kvpairs,
    FinalDistinct,
}

impl ClauseKind {
    /// Every clause, in the order the Java SDK writes them.
    const ALL: [ClauseKind; 8] = [
        ClauseKind::Config,
        ClauseKind::Query,
        ClauseKind::Sort,
        ClauseKind::Filter,
        ClauseKind::Distinct,
        ClauseKind::Aggregate,
        ClauseKind::Kvpairs,
        ClauseKind::FinalDistinct,
    ];

    /// The clause name as written in a request.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClauseKind::Config => "config",
            ClauseKind::Query => "query",
            ClauseKind::Sort => "sort",
            ClauseKind::Filter => "filter",
            ClauseKind::Distinct => "distinct",
            ClauseKind::Aggregate => "aggregate",
            ClauseKind::Kvpairs => "kvpairs",
            ClauseKind::FinalDistinct => "final_distinct",
        }
    }
}

/// One clause of the request: which one, and its value after `=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clause<'a> {
    /// Which clause.
    pub kind: ClauseKind,
    /// Everything after the first `=`, untrimmed.
    pub value: &'a str,
}

/// Splits the request string into clauses. Empty pieces (`&&&&`, a trailing `&&`) are skipped;
/// a piece without `=`, an unknown name (6117) or a repeated name is an error.
pub(crate) fn split_clauses(request: &str) -> Result<Vec<Clause<'_>>, QueryError> {
    if request.trim().is_empty() {
        return Err(request_error(
            codes::QUERY_EMPTY,
            "the query parameter is empty: send clauses such as query=default:'word'",
        ));
    }
    let mut clauses: Vec<Clause<'_>> = Vec::new();
    for (offset, piece) in split_top(request, "&&", false) {
        if piece.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = piece.split_once('=') else {
            return Err(request_error(
                codes::SYNTAX,
                format!(
                    "clause '{}' at position {} has no '=': write clauses as name=value joined by && (for example query=default:'word'&&sort=-RANK)",
                    piece.trim(),
                    request[..offset].chars().count()
                ),
            ));
        };
        let name = name.trim();
        let Some(kind) = ClauseKind::ALL.into_iter().find(|k| k.name() == name) else {
            return Err(request_error(
                codes::UNKNOWN_CLAUSE,
                format!(
                    "unknown clause '{name}' at position {}: clauses are {} (&& separates clauses; inside a clause, join conditions with AND)",
                    request[..offset].chars().count(),
                    ClauseKind::ALL.map(ClauseKind::name).join(", ")
                ),
            ));
        };
        if clauses.iter().any(|c| c.kind == kind) {
            return Err(request_error(
                codes::SYNTAX,
                format!("clause '{name}' appears more than once: give each clause once"),
            ));
        }
        clauses.push(Clause { kind, value });
    }
    Ok(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_doc_example_in_any_order() {
        let c = split_clauses("config=format:fulljson&&query=name:'zhangsan'&&sort=id").unwrap();
        let names: Vec<_> = c.iter().map(|c| c.kind.name()).collect();
        assert_eq!(names, vec!["config", "query", "sort"]);
        assert_eq!(c[1].value, "name:'zhangsan'");
        let c = split_clauses("sort=-x&&query='a&&b'&&filter=a=1&&").unwrap();
        assert_eq!(c[1].value, "'a&&b'");
        assert_eq!(c[2].value, "a=1");
    }

    #[test]
    fn refuses_unknown_missing_and_repeated_clauses() {
        let e = split_clauses("query='a'&&having=x>1").unwrap_err();
        assert_eq!(e.code, codes::UNKNOWN_CLAUSE);
        assert!(e.message.contains("'having'"), "{}", e.message);
        let e = split_clauses("query='a'&&nonsense").unwrap_err();
        assert_eq!(e.code, codes::SYNTAX);
        let e = split_clauses("query='a'&&query='b'").unwrap_err();
        assert_eq!(e.code, codes::SYNTAX);
        assert!(e.message.contains("more than once"));
        assert_eq!(split_clauses("  ").unwrap_err().code, codes::QUERY_EMPTY);
    }
}
