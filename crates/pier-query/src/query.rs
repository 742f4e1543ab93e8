//! The query clause (spec §4.2): terms `index:'text'^boost`, phrases `index:"a b"`, numeric
//! ranges `index:[1,10)`, joined by `AND`, `OR`, `ANDNOT`, `RANK` and parentheses.
//!
//! Precedence, lowest first: `RANK`, `OR`, `AND`, `ANDNOT`, parentheses. Operators are
//! uppercase words; a term without an index (`'mp3'`) searches the `default` index; inside
//! quotes `\` escapes the next character (`\'`, `\\`). Term text is kept raw: analysis of
//! multi-word terms is the executor's job.

use crate::MAX_NESTING;
use crate::error::{Ctx, QueryError, codes};
use crate::fields::{has_index, index_names};
use crate::number::{Number, parse_number};

/// The index a term without `index:` searches.
pub const DEFAULT_INDEX: &str = "default";
/// Largest term boost.
pub const MAX_BOOST: u8 = 99;
/// Boost of a term that gives none.
pub const DEFAULT_BOOST: u8 = 99;

/// The parsed query clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `index:'text'^boost` or, with `phrase`, `index:"text"^boost`.
    Term {
        /// The search index name.
        index: String,
        /// The text between the quotes, unescaped and not yet analysed.
        text: String,
        /// Relevance weight, 0 to [`MAX_BOOST`], default [`DEFAULT_BOOST`].
        boost: u8,
        /// True for a double-quoted phrase (words adjacent and in order).
        phrase: bool,
    },
    /// `index:[lower,upper]`; `(` / `)` exclude a bound, an empty bound is unbounded.
    Range {
        /// The search index name.
        index: String,
        /// Lower bound, if any.
        lower: Option<Number>,
        /// Upper bound, if any.
        upper: Option<Number>,
        /// `[` rather than `(`.
        lower_inclusive: bool,
        /// `]` rather than `)`.
        upper_inclusive: bool,
    },
    /// All must match (`AND`), two or more.
    And(Vec<Query>),
    /// Any may match (`OR`), two or more.
    Or(Vec<Query>),
    /// Matches of the first that do not match the second (`ANDNOT`).
    AndNot(Box<Query>, Box<Query>),
    /// Matches of the first; the second only adds to the score (`RANK`).
    Rank(Box<Query>, Box<Query>),
}

/// The operator words, as the parser reads them.
const OPERATORS: [&str; 4] = ["AND", "OR", "ANDNOT", "RANK"];

/// Parses the query clause value.
pub(crate) fn parse_query(ctx: &Ctx<'_>) -> Result<Query, QueryError> {
    if ctx.text.trim().is_empty() {
        return Err(ctx.error(
            codes::QUERY_EMPTY,
            0,
            "nothing to search for: write for example query=default:'word'",
        ));
    }
    let mut parser = Parser {
        ctx,
        pos: 0,
        depth: 0,
    };
    let query = parser.parse_rank()?;
    parser.skip_ws();
    if parser.pos < ctx.text.len() {
        let word = parser.word();
        let message = if OPERATORS.iter().any(|op| op.eq_ignore_ascii_case(word)) {
            "operators must be uppercase: AND, OR, ANDNOT, RANK".to_string()
        } else if parser.rest().starts_with(')') {
            "unmatched ')'".to_string()
        } else {
            "expected AND, OR, ANDNOT or RANK between two terms".to_string()
        };
        return Err(parser.error(parser.pos, message));
    }
    Ok(query)
}

/// A recursive-descent parser over the clause text.
struct Parser<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// Byte offset of the next unread character.
    pos: usize,
    depth: usize,
}

impl Parser<'_, '_> {
    fn rest(&self) -> &str {
        self.ctx.text.get(self.pos..).unwrap_or("")
    }

    fn error(&self, pos: usize, message: impl AsRef<str>) -> QueryError {
        self.ctx.error(codes::SYNTAX, pos, message)
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The run of ASCII letters, digits and `_` at the current position (an index name or an
    /// operator word).
    fn word(&self) -> &str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..len]
    }

    /// Consumes `op` if it is the next word.
    fn eat_operator(&mut self, op: &str) -> bool {
        self.skip_ws();
        if self.word() == op {
            self.pos += op.len();
            return true;
        }
        false
    }

    fn parse_rank(&mut self) -> Result<Query, QueryError> {
        let mut left = self.parse_or()?;
        while self.eat_operator("RANK") {
            let right = self.parse_or()?;
            left = Query::Rank(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_or(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.parse_and()?];
        while self.eat_operator("OR") {
            items.push(self.parse_and()?);
        }
        Ok(one_or(items, Query::Or))
    }

    fn parse_and(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.parse_andnot()?];
        while self.eat_operator("AND") {
            items.push(self.parse_andnot()?);
        }
        Ok(one_or(items, Query::And))
    }

    fn parse_andnot(&mut self) -> Result<Query, QueryError> {
        let mut left = self.parse_primary()?;
        while self.eat_operator("ANDNOT") {
            let right = self.parse_primary()?;
            left = Query::AndNot(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_primary(&mut self) -> Result<Query, QueryError> {
        self.skip_ws();
        let start = self.pos;
        match self.rest().chars().next() {
            None => Err(self.error(start, "expected a term such as index:'word'")),
            Some('(') => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(self.error(
                        start,
                        format!("parentheses nested more than {MAX_NESTING} levels deep"),
                    ));
                }
                let inner = self.parse_rank()?;
                self.skip_ws();
                if !self.rest().starts_with(')') {
                    return Err(self.error(self.pos, "expected ')' to close the '('"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(q @ ('\'' | '"')) => {
                self.check_index(DEFAULT_INDEX, start)?;
                self.parse_term(DEFAULT_INDEX.to_string(), q)
            }
            Some(_) => self.parse_indexed(),
        }
    }

    /// `index:'text'`, `index:"text"` or `index:[a,b]`, at the current (non-space) position.
    fn parse_indexed(&mut self) -> Result<Query, QueryError> {
        let start = self.pos;
        let index = self.word().to_string();
        if index.is_empty() {
            let found: String = self
                .rest()
                .chars()
                .take_while(|c| !c.is_whitespace() && !"()'\"".contains(*c))
                .collect();
            let message = if found.is_empty() {
                "expected a term such as index:'word'".to_string()
            } else {
                format!("terms must be quoted: write '{found}' or index:'{found}'")
            };
            return Err(self.error(start, message));
        }
        if OPERATORS.contains(&index.as_str()) {
            return Err(self.error(
                start,
                format!("expected a term such as index:'word' before {index}"),
            ));
        }
        self.pos += index.len();
        self.skip_ws();
        if !self.rest().starts_with(':') {
            return Err(self.error(
                start,
                format!("unquoted term '{index}': write '{index}' or index:'{index}'"),
            ));
        }
        self.pos += 1;
        self.skip_ws();
        self.check_index(&index, start)?;
        match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => self.parse_term(index, q),
            Some(open @ ('[' | '(')) => self.parse_range(index, open),
            _ => {
                let word = self.word().to_string();
                let message = if word.is_empty() {
                    format!("expected a quoted term or a range after '{index}:'")
                } else {
                    format!("terms must be quoted: write {index}:'{word}'")
                };
                Err(self.error(self.pos, message))
            }
        }
    }

    /// 6101: with a schema, the index must exist.
    fn check_index(&self, index: &str, pos: usize) -> Result<(), QueryError> {
        match self.ctx.schema {
            Some(schema) if !has_index(schema, index) => Err(self.ctx.error(
                codes::INDEX_NOT_EXIST,
                pos,
                format!(
                    "index '{index}' does not exist (the app's indexes: {})",
                    index_names(schema)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A quoted term starting at the current position with quote `q`, then an optional boost.
    fn parse_term(&mut self, index: String, q: char) -> Result<Query, QueryError> {
        let open = self.pos;
        let mut text = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        let end = loop {
            match chars.next() {
                None => {
                    return Err(
                        self.error(open, format!("unterminated quote: add the closing {q}"))
                    );
                }
                Some((_, '\\')) => match chars.next() {
                    Some((_, c)) => text.push(c),
                    None => {
                        return Err(
                            self.error(open, format!("unterminated quote: add the closing {q}"))
                        );
                    }
                },
                Some((i, c)) if c == q => break i + 1,
                Some((_, c)) => text.push(c),
            }
        };
        self.pos += end;
        let boost = self.parse_boost()?;
        Ok(Query::Term {
            index,
            text,
            boost,
            phrase: q == '"',
        })
    }

    /// `^N` after a term, 0 to [`MAX_BOOST`]; [`DEFAULT_BOOST`] when absent.
    fn parse_boost(&mut self) -> Result<u8, QueryError> {
        if !self.rest().starts_with('^') {
            return Ok(DEFAULT_BOOST);
        }
        let at = self.pos;
        self.pos += 1;
        let digits = self.word().to_string();
        self.pos += digits.len();
        match digits.parse::<u8>() {
            Ok(b) if b <= MAX_BOOST => Ok(b),
            _ => Err(self.error(
                at,
                format!("a boost is a whole number from 0 to {MAX_BOOST}, as in title:'word'^20"),
            )),
        }
    }

    /// `[a,b]`, `(a,b]`, ... at the current position; `open` is `[` or `(`.
    fn parse_range(&mut self, index: String, open: char) -> Result<Query, QueryError> {
        let start = self.pos;
        let rest = self.rest();
        let Some(close_at) = rest.find([']', ')']) else {
            return Err(self.error(start, "unterminated range: close it with ] or )"));
        };
        let inner = &rest[1..close_at];
        let upper_inclusive = rest[close_at..].starts_with(']');
        let Some((low, high)) = inner.split_once(',') else {
            return Err(self.error(
                start,
                format!("a range has two bounds separated by ',': {index}:[lower,upper]"),
            ));
        };
        let bound = |text: &str, offset: usize| -> Result<Option<Number>, QueryError> {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            parse_number(trimmed).map(Some).ok_or_else(|| {
                self.error(
                    start + offset + text.len() - text.trim_start().len(),
                    format!("range bound '{trimmed}' is not a number"),
                )
            })
        };
        let lower = bound(low, 1)?;
        let upper = bound(high, 1 + low.len() + 1)?;
        if lower.is_none() && upper.is_none() {
            return Err(self.error(start, "a range needs at least one bound"));
        }
        self.pos += close_at + 1;
        Ok(Query::Range {
            index,
            lower,
            upper,
            lower_inclusive: open == '[',
            upper_inclusive,
        })
    }
}

/// The single item itself, or the items joined by `join`.
fn one_or(mut items: Vec<Query>, join: fn(Vec<Query>) -> Query) -> Query {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    join(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::tests::demo_schema;
    use pier_model::Schema;

    fn parse_with(text: &str, schema: Option<&Schema>) -> Result<Query, QueryError> {
        parse_query(&Ctx {
            clause: "query",
            text,
            schema,
            kvpairs: None,
        })
    }

    fn parse(text: &str) -> Query {
        parse_with(text, None).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn term(index: &str, text: &str) -> Query {
        Query::Term {
            index: index.into(),
            text: text.into(),
            boost: DEFAULT_BOOST,
            phrase: false,
        }
    }

    fn b(q: Query) -> Box<Query> {
        Box::new(q)
    }

    #[test]
    fn terms_phrases_boosts_and_the_default_index() {
        assert_eq!(parse("'mp3'"), term("default", "mp3"));
        assert_eq!(parse("default:'mp3'"), parse("'mp3'"));
        assert_eq!(parse("name:'zhangsan'"), term("name", "zhangsan"));
        assert_eq!(
            parse("title:'demo'^20"),
            Query::Term {
                index: "title".into(),
                text: "demo".into(),
                boost: 20,
                phrase: false
            }
        );
        assert_eq!(
            parse("title:\"Beijing University\"^0"),
            Query::Term {
                index: "title".into(),
                text: "Beijing University".into(),
                boost: 0,
                phrase: true
            }
        );
        assert_eq!(parse(" name : '文档' "), term("name", "文档"));
        assert_eq!(parse("''"), term("default", ""));
        assert_eq!(
            parse("title:'it\\'s a \\\\ path'"),
            term("title", "it's a \\ path")
        );
        assert_eq!(
            parse("title:\"say \\\"hi\\\"\""),
            Query::Term {
                index: "title".into(),
                text: "say \"hi\"".into(),
                boost: 99,
                phrase: true
            }
        );
        assert_eq!(
            parse("geo:'circle(116.5 39.9,1000)'"),
            term("geo", "circle(116.5 39.9,1000)")
        );
        assert_eq!(parse("title:'a AND b'"), term("title", "a AND b"));
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse("price:[1,10]"),
            Query::Range {
                index: "price".into(),
                lower: Some(Number::Int(1)),
                upper: Some(Number::Int(10)),
                lower_inclusive: true,
                upper_inclusive: true
            }
        );
        assert_eq!(
            parse("price:(1, 10.5]"),
            Query::Range {
                index: "price".into(),
                lower: Some(Number::Int(1)),
                upper: Some(Number::Float(10.5)),
                lower_inclusive: false,
                upper_inclusive: true
            }
        );
        assert_eq!(
            parse("price:[-5,)"),
            Query::Range {
                index: "price".into(),
                lower: Some(Number::Int(-5)),
                upper: None,
                lower_inclusive: true,
                upper_inclusive: false
            }
        );
        assert_eq!(
            parse("(price:(,100) AND 'x')"),
            Query::And(vec![
                Query::Range {
                    index: "price".into(),
                    lower: None,
                    upper: Some(Number::Int(100)),
                    lower_inclusive: false,
                    upper_inclusive: false
                },
                term("default", "x"),
            ])
        );
    }

    #[test]
    fn operators_bind_rank_or_and_andnot_from_loosest() {
        let q = parse("a:'1' RANK b:'2' OR c:'3' AND d:'4' ANDNOT e:'5'");
        assert_eq!(
            q,
            Query::Rank(
                b(term("a", "1")),
                b(Query::Or(vec![
                    term("b", "2"),
                    Query::And(vec![
                        term("c", "3"),
                        Query::AndNot(b(term("d", "4")), b(term("e", "5")))
                    ]),
                ])),
            )
        );
        let q = parse("a:'1' ANDNOT b:'2' AND c:'3' OR d:'4' RANK e:'5'");
        assert_eq!(
            q,
            Query::Rank(
                b(Query::Or(vec![
                    Query::And(vec![
                        Query::AndNot(b(term("a", "1")), b(term("b", "2"))),
                        term("c", "3")
                    ]),
                    term("d", "4"),
                ])),
                b(term("e", "5")),
            )
        );
        // Parentheses override everything.
        assert_eq!(
            parse("(a:'1' OR b:'2') ANDNOT (c:'3' RANK d:'4')"),
            Query::AndNot(
                b(Query::Or(vec![term("a", "1"), term("b", "2")])),
                b(Query::Rank(b(term("c", "3")), b(term("d", "4")))),
            )
        );
        // Chains: OR/AND flatten, ANDNOT and RANK associate to the left.
        assert_eq!(
            parse("'a' OR 'b' OR 'c'"),
            Query::Or(vec![
                term("default", "a"),
                term("default", "b"),
                term("default", "c")
            ])
        );
        assert_eq!(
            parse("'a' ANDNOT 'b' ANDNOT 'c'"),
            Query::AndNot(
                b(Query::AndNot(
                    b(term("default", "a")),
                    b(term("default", "b"))
                )),
                b(term("default", "c"))
            )
        );
        assert_eq!(
            parse("'a'AND'b'"),
            Query::And(vec![term("default", "a"), term("default", "b")])
        );
    }

    #[test]
    fn syntax_errors_say_what_to_write() {
        let cases = [
            ("mp3", "unquoted term 'mp3'", "at position 0"),
            ("title:demo", "write title:'demo'", "at position 6"),
            ("苹果", "write '苹果'", "at position 0"),
            ("title:'demo", "unterminated quote", "at position 6"),
            ("title:'demo\\", "unterminated quote", "at position 6"),
            ("'a' and 'b'", "uppercase", "at position 4"),
            ("'a' 'b'", "between two terms", "at position 4"),
            ("'a' AND", "expected a term", "at the end"),
            ("AND 'a'", "before AND", "at position 0"),
            ("('a' OR 'b'", "expected ')'", "at the end"),
            ("'a')", "unmatched ')'", "at position 3"),
            ("title:'a'^100", "boost", "at position 9"),
            ("title:'a'^", "boost", "at position 9"),
            ("title:'a'^x", "boost", "at position 9"),
            ("price:[1,10", "unterminated range", "at position 6"),
            ("price:[1]", "two bounds", "at position 6"),
            ("price:[a,10]", "'a' is not a number", "at position 7"),
            ("price:[1, b]", "'b' is not a number", "at position 10"),
            ("price:[,]", "at least one bound", "at position 6"),
            ("title:", "after 'title:'", "at the end"),
            ("()", "expected a term", "at position 1"),
        ];
        for (text, what, place) in cases {
            let e = parse_with(text, None).unwrap_err();
            assert_eq!(e.code, codes::SYNTAX, "{text}");
            assert!(
                e.message.contains(what) && e.message.contains(place),
                "{text}: {}",
                e.message
            );
        }
        for empty in ["", "   "] {
            assert_eq!(
                parse_with(empty, None).unwrap_err().code,
                codes::QUERY_EMPTY
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{}'a'{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(
            parse_with(&deep, None)
                .unwrap_err()
                .message
                .contains("nested")
        );
        let ok = format!("{}'a'{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse_with(&ok, None).is_ok());
        assert!(parse_with(&"(".repeat(1_000_000), None).is_err());
    }

    #[test]
    fn schema_checks_index_names() {
        let s = demo_schema();
        assert!(parse_with("name:'文档' AND title:'demo'^20", Some(&s)).is_ok());
        assert!(parse_with("'mp3' OR buy:[1,5]", Some(&s)).is_ok());
        let e = parse_with("name:'a' AND nope:'b'", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::INDEX_NOT_EXIST);
        assert!(
            e.message.contains("'nope'")
                && e.message.contains("at position 13")
                && e.message.contains("default"),
            "{}",
            e.message
        );
        let no_default: Schema = {
            let mut s = demo_schema();
            s.indexes.search_fields.retain(|i| i.name != "default");
            s
        };
        assert_eq!(
            parse_with("'mp3'", Some(&no_default)).unwrap_err().code,
            codes::INDEX_NOT_EXIST
        );
    }
}
