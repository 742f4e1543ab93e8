//! The parser for the OpenSearch V3 search query language: the `query` URL parameter of
//! `GET /v3/openapi/apps/{app}/search` (wire spec §4.2) becomes a typed [`SearchRequest`].
//!
//! The parameter is a list of clauses `name=value` joined by `&&`, in any order:
//! [`config`](Config), [`query`](Query), [`filter`](Expr), [`sort`](SortKey),
//! [`distinct`](Distinct), [`aggregate`](Aggregate), `kvpairs` and `final_distinct`.
//! Every refusal is a [`QueryError`] with the V3 error code (see [`codes`]) and a message that
//! names the clause, the character position inside it and what to write instead. Nothing here
//! panics on any input, and nesting is bounded by [`MAX_NESTING`].
//!
//! Given the app [`Schema`], the parser also checks names: query indexes must exist (6101),
//! fields in filter, sort, distinct and aggregate must be attribute fields (6127), and a LITERAL
//! field must be compared with a double-quoted constant (6135). Term text is kept raw; analysis
//! and execution belong to the executor.
//!
//! ```
//! use pier_query::{Query, parse_search};
//!
//! let request = parse_search(
//!     "config=start:0,hit:10,format:fulljson&&query=name:'文档' AND title:'demo'^20&&filter=price>100 AND (cat=1 OR cat=2)&&sort=-price;+RANK",
//!     None,
//! )
//! .unwrap();
//! assert_eq!(request.config.hit, 10);
//! assert!(matches!(request.query, Query::And(ref terms) if terms.len() == 2));
//! assert_eq!(request.sort.len(), 2);
//! ```

#![warn(missing_docs)]

mod aggregate;
pub mod bit_struct;
mod clauses;
mod config;
mod distinct;
mod error;
mod fields;
mod filter;
mod functions;
mod kvpairs;
mod lexer;
mod number;
pub mod polygon;
mod query;
mod sort;
mod split;

pub use aggregate::{AggFun, Aggregate, DEFAULT_MAX_GROUP};
pub use config::{
    Config, DEFAULT_HIT, DEFAULT_RERANK_SIZE, DefaultOperator, Format, MAX_HIT, MAX_RERANK_SIZE,
    MAX_START_PLUS_HIT,
};
pub use distinct::{Distinct, MAX_DISTINCTS};
pub use error::{QueryError, codes};
pub use filter::{ArithOp, CmpOp, Expr};
pub use functions::{CallError, FUNCTIONS, Function, Point, resolve_call};
pub use number::Number;
pub use query::{DEFAULT_BOOST, DEFAULT_INDEX, MAX_BOOST, Query};
pub use sort::{Order, RANK, SortExpr, SortKey, default_sort};

use clauses::{ClauseKind, split_clauses};
use error::{Ctx, request_error};
use pier_model::Schema;
use std::collections::BTreeMap;

/// Deepest nesting of parentheses, function calls and unary minus in one expression or query
/// (deeper is a syntax error rather than a stack overflow).
pub const MAX_NESTING: usize = 64;

/// A parsed search request: every clause, with the spec's defaults for the ones left out.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Paging, format and rerank size (defaults when there is no config clause).
    pub config: Config,
    /// What to match (the query clause is required).
    pub query: Query,
    /// Which matches to keep, if given.
    pub filter: Option<Expr>,
    /// Sort keys; [`default_sort`] (`-RANK`) when there is no sort clause.
    pub sort: Vec<SortKey>,
    /// De-duplication specs (at most [`MAX_DISTINCTS`]).
    pub distinct: Vec<Distinct>,
    /// The final_distinct clause's parameters as the Java SDK writes them (`dist_type`,
    /// `dist_key:a;b`, `dist_count:1;2`, `dist_sort`, `dist_special_count`, ...), kept raw: their
    /// meaning is not interpreted yet.
    pub final_distinct: BTreeMap<String, String>,
    /// Group statistics, reported as facets.
    pub aggregates: Vec<Aggregate>,
    /// Values for sort-expression functions; a function argument that names one of its keys
    /// (and no attribute field) was replaced by the key's value while parsing.
    pub kvpairs: BTreeMap<String, String>,
}

/// Splits a request string into its clauses at each `&&` outside quoted strings, as
/// [`parse_search`] does, without checking them: each piece as written, untrimmed, empty ones
/// included. Dialects whose requests carry clauses of their own (ha3's `cluster=`) take theirs
/// out and hand the rest, joined with `&&` again, to [`parse_search`].
pub fn split_request(request: &str) -> Vec<&str> {
    split::split_top(request, "&&", false)
        .into_iter()
        .map(|(_, piece)| piece)
        .collect()
}

/// Parses the `query` URL parameter (already percent-decoded) of a V3 search request. With
/// `schema`, index and field names are checked against the app's schema too.
pub fn parse_search(query: &str, schema: Option<&Schema>) -> Result<SearchRequest, QueryError> {
    let mut config = Config::default();
    let mut parsed_query = None;
    let mut filter = None;
    let mut sort = default_sort();
    let mut distinct = Vec::new();
    let mut final_distinct = BTreeMap::new();
    let mut aggregates = Vec::new();
    let clauses = split_clauses(query)?;
    // kvpairs first: function arguments in the other clauses may name its keys.
    let kvpairs = match clauses.iter().find(|c| c.kind == ClauseKind::Kvpairs) {
        Some(clause) => kvpairs::parse_pairs(&Ctx {
            clause: clause.kind.name(),
            text: clause.value,
            schema,
            kvpairs: None,
        })?,
        None => BTreeMap::new(),
    };
    for clause in clauses {
        let ctx = Ctx {
            clause: clause.kind.name(),
            text: clause.value,
            schema,
            kvpairs: Some(&kvpairs),
        };
        // A blank optional clause (`filter=`) is the same as no clause.
        if clause.kind != ClauseKind::Query && clause.value.trim().is_empty() {
            continue;
        }
        match clause.kind {
            ClauseKind::Config => config = config::parse_config(&ctx)?,
            ClauseKind::Query => parsed_query = Some(query::parse_query(&ctx)?),
            ClauseKind::Filter => filter = Some(filter::parse_filter(&ctx)?),
            ClauseKind::Sort => sort = sort::parse_sort(&ctx)?,
            ClauseKind::Distinct => distinct = distinct::parse_distinct(&ctx)?,
            ClauseKind::FinalDistinct => final_distinct = kvpairs::parse_pairs(&ctx)?,
            ClauseKind::Aggregate => aggregates = aggregate::parse_aggregate(&ctx)?,
            ClauseKind::Kvpairs => {}
        }
    }
    let query = parsed_query.ok_or_else(|| {
        request_error(
            codes::QUERY_EMPTY,
            "the query clause is required: add for example &&query=default:'word'",
        )
    })?;
    Ok(SearchRequest {
        config,
        query,
        filter,
        sort,
        distinct,
        final_distinct,
        aggregates,
        kvpairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::tests::demo_schema;

    const FULL: &str = "config=start:0,hit:10,format:fulljson&&query=name:'文档' AND title:'demo'^20&&filter=price>100 AND (cat=1 OR cat=2)&&sort=-price;+RANK";

    fn term(index: &str, text: &str, boost: u8) -> Query {
        Query::Term {
            index: index.into(),
            text: text.into(),
            boost,
            phrase: false,
        }
    }

    #[test]
    fn parses_a_full_request() {
        for schema in [None, Some(demo_schema())] {
            let r = parse_search(FULL, schema.as_ref()).unwrap();
            assert_eq!(r.config.format, Format::FullJson);
            assert_eq!((r.config.start, r.config.hit), (0, 10));
            assert_eq!(
                r.query,
                Query::And(vec![term("name", "文档", 99), term("title", "demo", 20)])
            );
            let Some(Expr::And(parts)) = &r.filter else {
                panic!("{:?}", r.filter)
            };
            assert!(matches!(&parts[1], Expr::Or(alts) if alts.len() == 2));
            assert_eq!(
                r.sort,
                vec![
                    SortKey {
                        order: Order::Desc,
                        key: SortExpr::Expr(Expr::Field("price".into()))
                    },
                    SortKey {
                        order: Order::Asc,
                        key: SortExpr::Rank
                    },
                ]
            );
            assert!(r.distinct.is_empty() && r.aggregates.is_empty() && r.kvpairs.is_empty());
        }
    }

    #[test]
    fn every_clause_in_any_order() {
        let r = parse_search(
            "kvpairs=duniqfield:company_id&&aggregate=group_key:cate_id,agg_fun:count()&&distinct=dist_key:company_id,dist_count:1,dist_times:1,reserved:false&&final_distinct=dist_type:default,dist_key:cate_id;company_id,dist_count:1;2&&sort=+buy&&filter=in(cate_id,\"1|2\")&&query='mp3'&&config=hit:20",
            Some(&demo_schema()),
        )
        .unwrap();
        assert_eq!(r.query, term("default", "mp3", 99));
        assert_eq!(r.config.hit, 20);
        assert_eq!(r.distinct[0].key, "company_id");
        assert!(!r.distinct[0].reserved);
        assert_eq!(r.final_distinct["dist_key"], "cate_id;company_id");
        assert_eq!(r.final_distinct["dist_count"], "1;2");
        assert_eq!(r.aggregates[0].functions, vec![AggFun::Count]);
        assert_eq!(r.kvpairs["duniqfield"], "company_id");
        assert!(matches!(r.filter, Some(Expr::In { negated: false, .. })));
    }

    #[test]
    fn function_arguments_may_name_kvpairs_keys() {
        let s = demo_schema();
        let r = parse_search(
            "query='a'&&sort=+distance(lon,lat,ulon,ulat)&&kvpairs=ulon:120.3,ulat:30.5,lat:1",
            Some(&s),
        )
        .unwrap();
        let SortExpr::Expr(Expr::Call { args, .. }) = &r.sort[0].key else {
            panic!("{:?}", r.sort)
        };
        // An attribute field keeps its meaning even when kvpairs has its name.
        assert_eq!(
            args,
            &[
                Expr::Field("lon".into()),
                Expr::Field("lat".into()),
                Expr::Str("120.3".into()),
                Expr::Str("30.5".into()),
            ]
        );
        let e = parse_search("query='a'&&filter=distance(loc,ulon,ulat)<1", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::NOT_ATTRIBUTE_FIELD, "{}", e.message);
        assert!(e.message.contains("'ulon'"), "{}", e.message);
        let e = parse_search(
            "kvpairs=ulon:east,ulat:1&&query='a'&&filter=distance(loc,ulon,ulat)<1",
            Some(&s),
        )
        .unwrap_err();
        assert_eq!(e.code, codes::FILTER);
        assert!(
            e.message
                .contains("longitude \"east\" is not a number (at position 13"),
            "{}",
            e.message
        );
    }

    #[test]
    fn defaults_when_only_a_query_is_given() {
        let r = parse_search("query=name:'zhangsan'", None).unwrap();
        assert_eq!(r.config, Config::default());
        assert_eq!(r.config.hit, DEFAULT_HIT);
        assert_eq!(r.config.format, Format::Json);
        assert_eq!(r.sort, default_sort());
        assert_eq!(r.filter, None);
        // The Java SDK sends query='' when no query is set; blank optional clauses are ignored.
        let r = parse_search("query=''&&filter=&&sort= ", None).unwrap();
        assert_eq!(r.query, term("default", "", 99));
        assert_eq!(r.sort, default_sort());
        // The doc example: sort=id.
        let r = parse_search(
            "config=format:fulljson&&query=name:'zhangsan'&&sort=id",
            None,
        )
        .unwrap();
        assert_eq!(r.sort[0].key, SortExpr::Expr(Expr::Field("id".into())));
    }

    #[test]
    fn every_error_code() {
        let s = demo_schema();
        let cases: &[(&str, u32)] = &[
            ("", codes::QUERY_EMPTY),
            ("config=hit:5", codes::QUERY_EMPTY),
            ("query=", codes::QUERY_EMPTY),
            ("query=mp3", codes::SYNTAX),
            ("query='a'&&query='b'", codes::SYNTAX),
            ("query='a'&&config=hit:x", codes::SYNTAX),
            ("query='a'&&kvpairs=oops", codes::SYNTAX),
            ("query='a'&&config=start:0,hit:600", codes::HIT_TOO_LARGE),
            (
                "query='a'&&config=start:4901,hit:100",
                codes::START_HIT_TOO_LARGE,
            ),
            ("query=nope:'a'", codes::INDEX_NOT_EXIST),
            ("query='a'&&filter=price>", codes::FILTER),
            ("query='a'&&sort=-price;", codes::SORT),
            ("query='a'&&group=x", codes::UNKNOWN_CLAUSE),
            ("query='a'&&distinct=dist_count:1", codes::DISTINCT),
            (
                "query='a'&&distinct=dist_key:id;dist_key:buy;dist_key:cat",
                codes::TOO_MANY_DISTINCTS,
            ),
            ("query='a'&&filter=title=\"x\"", codes::NOT_ATTRIBUTE_FIELD),
            ("query='a'&&sort=-title", codes::NOT_ATTRIBUTE_FIELD),
            (
                "query='a'&&filter=cate_name=palace",
                codes::LITERAL_NOT_QUOTED,
            ),
            ("query='a'&&aggregate=group_key:cat", codes::AGGREGATE),
        ];
        for (text, code) in cases {
            let e = parse_search(text, Some(&s)).unwrap_err();
            assert_eq!(e.code, *code, "{text}: {}", e.message);
        }
    }

    #[test]
    fn errors_name_the_clause_and_position() {
        let e = parse_search("query='a'&&filter=price>100 AND cat=", None).unwrap_err();
        assert_eq!(
            e.message,
            "filter clause: expected a field, a number or a \"string\" (at the end)"
        );
        let e = parse_search("query=title:'a' OR body", None).unwrap_err();
        assert_eq!(
            e.message,
            "query clause: unquoted term 'body': write 'body' or index:'body' (at position 13, near 'body')"
        );
    }

    /// Realistic requests, cut and mangled every which way: the parser must answer, never panic.
    #[test]
    fn never_panics_on_malformed_input() {
        let schema = demo_schema();
        let seeds = [
            FULL,
            "query=title:'it\\'s'^5 ANDNOT (a:\"b c\" RANK price:(1,10])&&config=start:1,hit:2,rerank_size:3",
            "query='x'&&distinct=dist_key:company_id,dist_filter:in(a,\"1|2\"),grade:3.0|5.0;dist_key:b",
            "query='x'&&aggregate=group_key:cate_id,agg_fun:count()#sum(price*2),range:10~50,agg_filter:price>10;group_key:b,agg_fun:max(a)",
            "query='x'&&filter=distance(lon,lat,\"120.3\",\"30.5\")<10 OR -(a+b)*3>=tags&1^2|4&&sort=-(hits+comments);+RANK&&kvpairs=a:b,c:d",
        ];
        let mut inputs: Vec<String> = Vec::new();
        for seed in seeds {
            let chars: Vec<char> = seed.chars().collect();
            for i in 0..=chars.len() {
                inputs.push(chars[..i].iter().collect());
                inputs.push(chars[i..].iter().collect());
                let mut without: Vec<char> = chars.clone();
                if i < chars.len() {
                    without.remove(i);
                }
                inputs.push(without.into_iter().collect());
            }
        }
        let atoms = [
            "&&",
            "=",
            "query",
            "filter",
            "sort",
            "config",
            "distinct",
            "aggregate",
            "kvpairs",
            "'",
            "\"",
            "(",
            ")",
            "[",
            "]",
            ",",
            ":",
            ";",
            "#",
            "^",
            "\\",
            " AND ",
            " OR ",
            " ANDNOT ",
            " RANK ",
            "in(",
            "notin(",
            "-",
            "+",
            "*",
            "1",
            "99",
            "1e400",
            "x",
            "文",
            " ",
            "~",
            "|",
            "!=",
            "<=",
            ">",
            "dist_key:",
            "group_key:",
            "agg_fun:",
            "count()",
            "start:",
            "hit:",
            "price",
            "cate_name",
            "default:",
            "9999999999999999999999",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..20_000 {
            let len = 1 + next(30);
            let mut s = String::new();
            if next(2) == 0 {
                s.push_str("query=");
            }
            for _ in 0..len {
                s.push_str(atoms[next(atoms.len())]);
            }
            inputs.push(s);
        }
        for input in &inputs {
            for schema in [None, Some(&schema)] {
                if let Err(e) = parse_search(input, schema) {
                    assert!(
                        (6000..7000).contains(&e.code) && !e.message.is_empty(),
                        "{input}: {e:?}"
                    );
                }
            }
        }
        let malformed = [
            "query='a",
            "query=(('a')",
            "query='a'&&filter=(",
            "query='a'&&filter=\"",
            "query='a'&&sort=+",
            "query='a'&&distinct=,",
            "query='a'&&aggregate=:",
            "query='a'&&config=hit:",
            "query=[",
            "query=a:[",
            "query=a:(1,",
            "=",
            "&&",
            "query='a'&&=x",
        ];
        for input in malformed {
            assert!(parse_search(input, None).is_err(), "{input}");
        }
    }
}
