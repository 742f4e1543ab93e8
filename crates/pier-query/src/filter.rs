//! The expression language of the filter clause (spec §4.2), also used by sort keys,
//! `dist_filter`, `agg_filter` and `agg_fun` arguments: comparisons `> < = <= >= !=`, arithmetic
//! `+ - * / & ^ |`, `AND` / `OR` / parentheses, `in(field, "a|b")`, `notin(...)` and the
//! functions of [`crate::resolve_call`] (`distance(...)`, `fieldlen(...)`, `in_polygon(...)`,
//! ...), whose arguments are
//! checked against the schema when there is one.
//!
//! Precedence, lowest first: `OR`, `AND`, comparison (one per operand pair, never chained),
//! `|`, `^`, `&`, `+ -`, `* /`, unary `-`, parentheses.
//!
//! With a schema, every field must be an attribute field (6127) and a LITERAL field may only be
//! compared with a double-quoted constant (6135).

use crate::MAX_NESTING;
use crate::error::{Ctx, QueryError, codes};
use crate::fields::{attribute_names, attribute_type};
use crate::functions::resolve_call;
use crate::lexer::{Tok, Token, tokenize};
use crate::number::Number;
use pier_model::FieldType;

/// An expression of the filter language.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// An attribute field, by name (`price`, or `table.field`).
    Field(String),
    /// A numeric constant.
    Number(Number),
    /// A double-quoted string constant, unescaped.
    Str(String),
    /// Unary minus of a non-constant (`-(a+b)`); `-5` is `Number(-5)`.
    Neg(Box<Expr>),
    /// An arithmetic or bitwise operation.
    Arith {
        /// The operator.
        op: ArithOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// A comparison.
    Compare {
        /// The operator.
        op: CmpOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// All must hold (`AND`), two or more.
    And(Vec<Expr>),
    /// Any must hold (`OR`), two or more.
    Or(Vec<Expr>),
    /// Does not hold. The V3 filter language has no negation of its own; other dialects'
    /// filters (Vector Search Edition `NOT`, AnalyticDB `NOT`) are translated into this tree.
    Not(Box<Expr>),
    /// `in(expr, "v1|v2")` or, negated, `notin(expr, "v1|v2")`.
    In {
        /// The tested value, usually a field.
        expr: Box<Expr>,
        /// The listed values, split on `|`, as written.
        values: Vec<String>,
        /// True for `notin`.
        negated: bool,
    },
    /// SQL `[NOT] LIKE` / `ILIKE` (AnalyticDB filters): `%` matches any run of characters, `_`
    /// one character, `\` makes the next character literal. On a multi-value field: any value.
    Like {
        /// The tested value, usually a field.
        expr: Box<Expr>,
        /// The pattern.
        pattern: String,
        /// True for `ILIKE` (case-insensitive).
        case_insensitive: bool,
        /// True for `NOT LIKE`.
        negated: bool,
    },
    /// A key path into a field holding JSON text (AnalyticDB's jsonb `col->'a'->>'b'`): the
    /// value found there, as a string or a number; no value when the path is absent.
    JsonPath {
        /// The JSON text, usually a field.
        expr: Box<Expr>,
        /// Object keys (or array indexes, as digits), outermost first.
        path: Vec<String>,
    },
    /// jsonb containment `a @> b` (AnalyticDB filters): the JSON at `path` in `expr`'s JSON
    /// text contains `json` as PostgreSQL defines it (objects by key, arrays by element, a
    /// scalar by equality, and an array contains a scalar it holds).
    JsonContains {
        /// The JSON text, usually a field.
        expr: Box<Expr>,
        /// Object keys (or array indexes) leading to the tested value; empty for the whole.
        path: Vec<String>,
        /// The contained JSON value.
        json: serde_json::Value,
    },
    /// jsonb containment the other way, `a <@ b` (AnalyticDB filters): the JSON at `path` in
    /// `expr`'s JSON text is contained in `json` (`json @> value`, the same rules as
    /// [`Expr::JsonContains`]).
    JsonContainedBy {
        /// The JSON text, usually a field.
        expr: Box<Expr>,
        /// Object keys (or array indexes) leading to the tested value; empty for the whole.
        path: Vec<String>,
        /// The containing JSON value.
        json: serde_json::Value,
    },
    /// SQL `IS [NOT] NULL` (AnalyticDB filters): the field has no value.
    IsNull {
        /// The tested value, usually a field.
        expr: Box<Expr>,
        /// True for `IS NOT NULL`.
        negated: bool,
    },
    /// Any other function call, such as `distance(lon,lat,"120.3","30.5")` or `fieldlen(tag)`.
    Call {
        /// Function name as written.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
}

/// Arithmetic and bitwise operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `&` (bitwise and)
    BitAnd,
    /// `^` (bitwise xor)
    BitXor,
    /// `|` (bitwise or)
    BitOr,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` (for a multi-value field: contains)
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Binary arithmetic levels, lowest precedence first.
const ARITH_LEVELS: [&[(&str, ArithOp)]; 5] = [
    &[("|", ArithOp::BitOr)],
    &[("^", ArithOp::BitXor)],
    &[("&", ArithOp::BitAnd)],
    &[("+", ArithOp::Add), ("-", ArithOp::Sub)],
    &[("*", ArithOp::Mul), ("/", ArithOp::Div)],
];

/// Comparison symbols.
const COMPARISONS: [(&str, CmpOp); 6] = [
    ("=", CmpOp::Eq),
    ("!=", CmpOp::Ne),
    ("<", CmpOp::Lt),
    ("<=", CmpOp::Le),
    (">", CmpOp::Gt),
    (">=", CmpOp::Ge),
];

/// Parses `text`, found at byte offset `base` of the clause value, as one expression. `code` is
/// the error code for syntax errors (6113 in filter, 6115 in sort, ...).
pub(crate) fn parse_expr(
    ctx: &Ctx<'_>,
    code: u32,
    base: usize,
    text: &str,
) -> Result<Expr, QueryError> {
    let mut parser = Parser {
        ctx,
        code,
        tokens: tokenize(ctx, code, base, text)?,
        at: 0,
        end: base + text.len(),
        depth: 0,
        fields: Vec::new(),
    };
    let expr = parser.parse_or()?;
    if let Some(token) = parser.tokens.get(parser.at) {
        let message = match &token.tok {
            Tok::Name(w) if w == "and" || w == "or" => {
                "logical operators must be uppercase: AND, OR".to_string()
            }
            Tok::Sym(")") => "unmatched ')'".to_string(),
            _ => format!(
                "expected AND, OR or the end of the expression, found {}",
                describe(&token.tok)
            ),
        };
        return Err(ctx.error(code, token.pos, message));
    }
    parser.check_fields()?;
    Ok(expr)
}

/// A token as an error message names it.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Name(n) => format!("'{n}'"),
        Tok::Num(Number::Int(i)) => format!("'{i}'"),
        Tok::Num(Number::Float(f)) => format!("'{f}'"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Sym(s) => format!("'{s}'"),
    }
}

/// A recursive-descent parser over one expression's tokens.
struct Parser<'c, 'a> {
    ctx: &'c Ctx<'a>,
    code: u32,
    tokens: Vec<Token>,
    at: usize,
    /// Byte offset just past the expression, for errors at its end.
    end: usize,
    depth: usize,
    /// Field references with their offsets, checked once the syntax is known to be right.
    fields: Vec<(String, usize)>,
}

impl Parser<'_, '_> {
    fn pos(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |t| t.pos)
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.tok)
    }

    fn peek_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == word)
    }

    fn error(&self, pos: usize, message: impl AsRef<str>) -> QueryError {
        self.ctx.error(self.code, pos, message)
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(
                self.pos(),
                format!("expression nested more than {MAX_NESTING} levels deep"),
            ));
        }
        Ok(())
    }

    fn expect_sym(&mut self, sym: &str, what: &str) -> Result<(), QueryError> {
        if self.peek_sym(sym) {
            self.at += 1;
            return Ok(());
        }
        let found = self.peek().map_or_else(|| "the end".to_string(), describe);
        Err(self.error(
            self.pos(),
            format!("expected '{sym}' {what}, found {found}"),
        ))
    }

    fn parse_or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_and()?];
        while self.peek_word("OR") {
            self.at += 1;
            items.push(self.parse_and()?);
        }
        Ok(one_or(items, Expr::Or))
    }

    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.parse_cmp()?];
        while self.peek_word("AND") {
            self.at += 1;
            items.push(self.parse_cmp()?);
        }
        Ok(one_or(items, Expr::And))
    }

    fn peek_cmp(&self) -> Option<CmpOp> {
        COMPARISONS
            .iter()
            .find(|(sym, _)| self.peek_sym(sym))
            .map(|(_, op)| *op)
    }

    fn parse_cmp(&mut self) -> Result<Expr, QueryError> {
        let left_pos = self.pos();
        let left = self.parse_arith(0)?;
        let Some(op) = self.peek_cmp() else {
            return Ok(left);
        };
        self.at += 1;
        let right_pos = self.pos();
        let right = self.parse_arith(0)?;
        if self.peek_cmp().is_some() {
            return Err(self.error(
                self.pos(),
                "comparisons cannot be chained: join them with AND",
            ));
        }
        self.check_literal(&left, &right, right_pos)?;
        self.check_literal(&right, &left, left_pos)?;
        Ok(Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    fn parse_arith(&mut self, level: usize) -> Result<Expr, QueryError> {
        let Some(ops) = ARITH_LEVELS.get(level) else {
            return self.parse_unary();
        };
        let mut left = self.parse_arith(level + 1)?;
        while let Some((_, op)) = ops.iter().find(|(sym, _)| self.peek_sym(sym)) {
            self.at += 1;
            let right = self.parse_arith(level + 1)?;
            left = Expr::Arith {
                op: *op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Expr, QueryError> {
        if !self.peek_sym("-") {
            return self.parse_primary();
        }
        self.at += 1;
        self.enter()?;
        let operand = self.parse_unary()?;
        self.depth -= 1;
        Ok(match operand {
            Expr::Number(Number::Int(i)) => Expr::Number(
                i.checked_neg()
                    .map_or(Number::Float(-(i as f64)), Number::Int),
            ),
            Expr::Number(Number::Float(f)) => Expr::Number(Number::Float(-f)),
            other => Expr::Neg(Box::new(other)),
        })
    }

    fn parse_primary(&mut self) -> Result<Expr, QueryError> {
        let pos = self.pos();
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error(pos, "expected a field, a number or a \"string\""));
        };
        self.at += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Number(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Sym("(") => {
                self.enter()?;
                let inner = self.parse_or()?;
                self.expect_sym(")", "to close the '('")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Name(word) if word == "AND" || word == "OR" => Err(self.error(
                pos,
                format!("expected a field, a number or a \"string\" before {word}"),
            )),
            Tok::Name(name) if self.peek_sym("(") => self.parse_call(name, pos),
            Tok::Name(name) => {
                self.fields.push((name.clone(), pos));
                Ok(Expr::Field(name))
            }
            Tok::Sym(s) => Err(self.error(
                pos,
                format!("expected a field, a number or a \"string\", found '{s}'"),
            )),
        }
    }

    /// A call `name(args)`; the name is consumed and the `(` is next.
    fn parse_call(&mut self, name: String, pos: usize) -> Result<Expr, QueryError> {
        self.at += 1;
        self.enter()?;
        let mut args = Vec::new();
        let mut arg_pos = Vec::new();
        if !self.peek_sym(")") {
            arg_pos.push(self.pos());
            args.push(self.parse_or()?);
            while self.peek_sym(",") {
                self.at += 1;
                arg_pos.push(self.pos());
                args.push(self.parse_or()?);
            }
        }
        self.expect_sym(")", &format!("to close {name}("))?;
        self.depth -= 1;
        if name != "in" && name != "notin" {
            self.substitute_kvpairs(&mut args, &arg_pos);
            // in_query_polygon names its kvpairs key in quotes, as the cloud documents it.
            if name == "in_query_polygon"
                && let Some(Expr::Str(key)) = args.first_mut()
                && let Some(value) = self.ctx.kvpairs.and_then(|kv| kv.get(key.as_str()))
            {
                *key = value.clone();
            }
            // Without a schema the argument types are unknown: the executor checks them.
            if let Some(schema) = self.ctx.schema
                && let Err(e) = resolve_call(&name, &args, |f| attribute_type(schema, f))
            {
                let at = e.arg.and_then(|i| arg_pos.get(i)).copied().unwrap_or(pos);
                return Err(self.ctx.error(e.code.unwrap_or(self.code), at, e.message));
            }
            return Ok(Expr::Call { name, args });
        }
        match <[Expr; 2]>::try_from(args) {
            Ok([expr, Expr::Str(list)]) => Ok(Expr::In {
                expr: Box::new(expr),
                values: list.split('|').map(str::to_string).collect(),
                negated: name == "notin",
            }),
            _ => Err(self.error(
                pos,
                format!("{name} takes a field and a double-quoted list: {name}(field, \"v1|v2\")"),
            )),
        }
    }

    /// Replaces each argument that names a kvpairs key (and no attribute field) with the key's
    /// value, as a quoted constant.
    fn substitute_kvpairs(&mut self, args: &mut [Expr], arg_pos: &[usize]) {
        let Some(kvpairs) = self.ctx.kvpairs else {
            return;
        };
        for (arg, pos) in args.iter_mut().zip(arg_pos) {
            let Expr::Field(name) = arg else {
                continue;
            };
            let attribute = self
                .ctx
                .schema
                .is_some_and(|s| attribute_type(s, name).is_some());
            if let Some(value) = kvpairs.get(name.as_str()).filter(|_| !attribute) {
                self.fields.retain(|(f, p)| !(p == pos && f == name));
                *arg = Expr::Str(value.clone());
            }
        }
    }

    /// 6135: `field` is a LITERAL attribute and `other` a constant that is not double-quoted.
    fn check_literal(
        &self,
        field: &Expr,
        other: &Expr,
        other_pos: usize,
    ) -> Result<(), QueryError> {
        let Some(schema) = self.ctx.schema else {
            return Ok(());
        };
        let Expr::Field(name) = field else {
            return Ok(());
        };
        if !matches!(
            attribute_type(schema, name),
            Some(FieldType::Literal | FieldType::LiteralArray)
        ) {
            return Ok(());
        }
        let unquoted = match other {
            Expr::Number(Number::Int(i)) => i.to_string(),
            Expr::Number(Number::Float(f)) => f.to_string(),
            Expr::Field(word) if attribute_type(schema, word).is_none() => word.clone(),
            _ => return Ok(()),
        };
        Err(self.ctx.error(
            codes::LITERAL_NOT_QUOTED,
            other_pos,
            format!(
                "'{name}' is a LITERAL field: put the constant in double quotes, as in {name}=\"{unquoted}\""
            ),
        ))
    }

    /// 6127: every field reference must be an attribute field.
    fn check_fields(&self) -> Result<(), QueryError> {
        let Some(schema) = self.ctx.schema else {
            return Ok(());
        };
        match self
            .fields
            .iter()
            .find(|(name, _)| attribute_type(schema, name).is_none())
        {
            Some((name, pos)) => Err(self.ctx.error(
                codes::NOT_ATTRIBUTE_FIELD,
                *pos,
                format!(
                    "'{name}' is not an attribute field (attribute fields: {})",
                    attribute_names(schema)
                ),
            )),
            None => Ok(()),
        }
    }
}

/// The single item itself, or the items joined by `join`.
fn one_or(mut items: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    join(items)
}

/// Parses the filter clause value.
pub(crate) fn parse_filter(ctx: &Ctx<'_>) -> Result<Expr, QueryError> {
    parse_expr(ctx, codes::FILTER, 0, ctx.text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::tests::demo_schema;
    use pier_model::Schema;

    fn parse_with(text: &str, schema: Option<&Schema>) -> Result<Expr, QueryError> {
        parse_filter(&Ctx {
            clause: "filter",
            text,
            schema,
            kvpairs: None,
        })
    }

    fn parse(text: &str) -> Expr {
        parse_with(text, None).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn field(name: &str) -> Box<Expr> {
        Box::new(Expr::Field(name.into()))
    }

    fn int(i: i64) -> Box<Expr> {
        Box::new(Expr::Number(Number::Int(i)))
    }

    fn cmp(op: CmpOp, left: Box<Expr>, right: Box<Expr>) -> Expr {
        Expr::Compare { op, left, right }
    }

    #[test]
    fn reads_the_spec_example() {
        assert_eq!(
            parse("price>100 AND (cat=1 OR cat=2)"),
            Expr::And(vec![
                cmp(CmpOp::Gt, field("price"), int(100)),
                Expr::Or(vec![
                    cmp(CmpOp::Eq, field("cat"), int(1)),
                    cmp(CmpOp::Eq, field("cat"), int(2)),
                ]),
            ])
        );
    }

    #[test]
    fn every_comparison_operator() {
        for (sym, op) in COMPARISONS {
            assert_eq!(
                parse(&format!("buy {sym} 5")),
                cmp(op, field("buy"), int(5)),
                "{sym}"
            );
        }
        assert_eq!(
            parse("tags=\"palace\""),
            cmp(
                CmpOp::Eq,
                field("tags"),
                Box::new(Expr::Str("palace".into()))
            )
        );
        assert_eq!(
            parse("price>-1.5"),
            cmp(
                CmpOp::Gt,
                field("price"),
                Box::new(Expr::Number(Number::Float(-1.5)))
            )
        );
    }

    #[test]
    fn arithmetic_binds_tighter_than_comparison_and_follows_c_precedence() {
        // category=2 AND (hit+sale)*rate>10000, from the filter clause docs.
        let e = parse("category=2 AND (hit+sale)*rate>10000");
        let Expr::And(items) = e else { panic!("{e:?}") };
        assert_eq!(
            items[1],
            cmp(
                CmpOp::Gt,
                Box::new(Expr::Arith {
                    op: ArithOp::Mul,
                    left: Box::new(Expr::Arith {
                        op: ArithOp::Add,
                        left: field("hit"),
                        right: field("sale")
                    }),
                    right: field("rate"),
                }),
                int(10000)
            )
        );
        // a | b ^ c & d + e * f  ==  a | (b ^ (c & (d + (e * f))))
        let e = parse("a|b^c&d+e*f");
        let Expr::Arith {
            op: ArithOp::BitOr,
            right,
            ..
        } = e
        else {
            panic!("{e:?}")
        };
        let Expr::Arith {
            op: ArithOp::BitXor,
            right,
            ..
        } = *right
        else {
            panic!()
        };
        let Expr::Arith {
            op: ArithOp::BitAnd,
            right,
            ..
        } = *right
        else {
            panic!()
        };
        let Expr::Arith {
            op: ArithOp::Add,
            right,
            ..
        } = *right
        else {
            panic!()
        };
        assert!(matches!(
            *right,
            Expr::Arith {
                op: ArithOp::Mul,
                ..
            }
        ));
        // Left-associative: a-b-c == (a-b)-c
        let Expr::Arith {
            op: ArithOp::Sub,
            left,
            right,
        } = parse("a-b-c")
        else {
            panic!()
        };
        assert_eq!(right, field("c"));
        assert!(matches!(
            *left,
            Expr::Arith {
                op: ArithOp::Sub,
                ..
            }
        ));
        assert_eq!(
            parse("-(a+b)<0"),
            cmp(
                CmpOp::Lt,
                Box::new(Expr::Neg(Box::new(Expr::Arith {
                    op: ArithOp::Add,
                    left: field("a"),
                    right: field("b")
                }))),
                int(0)
            )
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            parse("a=1 OR b=2 AND c=3"),
            Expr::Or(vec![
                cmp(CmpOp::Eq, field("a"), int(1)),
                Expr::And(vec![
                    cmp(CmpOp::Eq, field("b"), int(2)),
                    cmp(CmpOp::Eq, field("c"), int(3))
                ]),
            ])
        );
    }

    #[test]
    fn in_notin_and_function_calls() {
        assert_eq!(
            parse("in(cate_id, \"1|2|3\")"),
            Expr::In {
                expr: field("cate_id"),
                values: vec!["1".into(), "2".into(), "3".into()],
                negated: false
            }
        );
        assert_eq!(
            parse("notin(tags, \"a|b\") AND buy>0"),
            Expr::And(vec![
                Expr::In {
                    expr: field("tags"),
                    values: vec!["a".into(), "b".into()],
                    negated: true
                },
                cmp(CmpOp::Gt, field("buy"), int(0)),
            ])
        );
        assert_eq!(
            parse("distance(lon,lat,\"120.34256\",\"30.56982\")<10"),
            cmp(
                CmpOp::Lt,
                Box::new(Expr::Call {
                    name: "distance".into(),
                    args: vec![
                        Expr::Field("lon".into()),
                        Expr::Field("lat".into()),
                        Expr::Str("120.34256".into()),
                        Expr::Str("30.56982".into()),
                    ],
                }),
                int(10)
            )
        );
        assert_eq!(
            parse("fieldlen(tags)>0"),
            cmp(
                CmpOp::Gt,
                Box::new(Expr::Call {
                    name: "fieldlen".into(),
                    args: vec![Expr::Field("tags".into())]
                }),
                int(0)
            )
        );
        assert_eq!(
            parse("now()>0"),
            cmp(
                CmpOp::Gt,
                Box::new(Expr::Call {
                    name: "now".into(),
                    args: vec![]
                }),
                int(0)
            )
        );
        for bad in ["in(cate_id)", "in(cate_id, 1)", "notin(a, \"x\", \"y\")"] {
            assert_eq!(
                parse_with(bad, None).unwrap_err().code,
                codes::FILTER,
                "{bad}"
            );
        }
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        let cases = [
            ("price>100 and cat=1", "uppercase", "near 'and"),
            ("price>", "expected a field", "at the end"),
            ("(price>100", "expected ')'", "at the end"),
            ("price>100)", "unmatched ')'", "at position 9"),
            ("1<price<5", "chained", "at position 7"),
            ("price>>1", "expected a field", "at position 6"),
            ("AND price>1", "before AND", "at position 0"),
            ("", "expected a field", "at the end"),
            ("price=1 cat=2", "expected AND, OR", "near 'cat=2'"),
        ];
        for (text, what, place) in cases {
            let e = parse_with(text, None).unwrap_err();
            assert_eq!(e.code, codes::FILTER, "{text}");
            assert!(
                e.message.contains(what) && e.message.contains(place),
                "{text}: {}",
                e.message
            );
            assert!(e.message.starts_with("filter clause: "), "{}", e.message);
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{}a=1{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        assert!(
            parse_with(&deep, None)
                .unwrap_err()
                .message
                .contains("nested")
        );
        let ok = format!("{}a=1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse_with(&ok, None).is_ok());
        let calls = format!("{}1{}", "f(".repeat(100_000), ")".repeat(100_000));
        assert!(parse_with(&calls, None).is_err());
        let minus = format!("{}1", "-".repeat(100_000));
        assert!(parse_with(&minus, None).is_err());
    }

    #[test]
    fn function_arguments_are_checked_against_the_schema() {
        let s = demo_schema();
        for ok in [
            "fieldlen(cate_name)>0",
            "fieldlen(tags)>=2 AND fieldlen(ids)=0",
            "distance(lon,lat,\"120.34256\",\"30.56982\")<10",
            "distance(loc,\"120.3\",\"30.5\")<10",
            "distance(loc, 120.3, 30.5, \"dist\")<=5.5",
        ] {
            assert!(parse_with(ok, Some(&s)).is_ok(), "{ok}");
        }
        let cases = [
            (
                "buy>1 AND fieldlen(price)>0",
                codes::FILTER,
                "'price' is Double",
                "at position 19",
            ),
            (
                "fieldlen(cate_name, tags)>0",
                codes::FILTER,
                "found 2 arguments",
                "at position 0",
            ),
            (
                "distance(loc,\"120.3\",\"north\")<1",
                codes::FILTER,
                "\"north\" is not a number",
                "at position 21",
            ),
            (
                "distance(loc, \"200\", \"30\")<1",
                codes::FILTER,
                "longitude 200",
                "at position 14",
            ),
            (
                "distance(cate_name,lat,loc)<1",
                codes::FILTER,
                "'cate_name' is Literal",
                "at position 9",
            ),
            (
                "distance(loc)<1",
                codes::FILTER,
                "two points",
                "at position 0",
            ),
            (
                "distance(loc,nope)<1",
                codes::NOT_ATTRIBUTE_FIELD,
                "'nope'",
                "at position 13",
            ),
            (
                "now()>1",
                codes::FILTER,
                "now() is not supported",
                "at position 0",
            ),
        ];
        for (text, code, what, place) in cases {
            let e = parse_with(text, Some(&s)).unwrap_err();
            assert_eq!(e.code, code, "{text}: {}", e.message);
            assert!(
                e.message.contains(what) && e.message.contains(place),
                "{text}: {}",
                e.message
            );
        }
    }

    #[test]
    fn schema_checks_attribute_fields_and_literal_quotes() {
        let s = demo_schema();
        let ok = [
            "price>100 AND (cat=1 OR cat=2)",
            "cate_name=\"palace\"",
            "tags!=\"a\"",
            "cate_name=id",
            "in(cate_id, \"1|2\") AND distance(lon,lat,\"120.3\",\"30.5\")<10",
        ];
        for text in ok {
            assert!(parse_with(text, Some(&s)).is_ok(), "{text}");
        }
        let e = parse_with("cate_name=palace", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::LITERAL_NOT_QUOTED);
        assert!(
            e.message.contains("cate_name=\"palace\"") && e.message.contains("at position 10"),
            "{}",
            e.message
        );
        let e = parse_with("buy>1 AND 10=id", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::LITERAL_NOT_QUOTED);
        assert!(e.message.contains("at position 10"), "{}", e.message);
        assert_eq!(
            parse_with("tags=故宫", Some(&s)).unwrap_err().code,
            codes::LITERAL_NOT_QUOTED
        );
        let e = parse_with("price>1 AND title=\"x\"", Some(&s)).unwrap_err();
        assert_eq!(e.code, codes::NOT_ATTRIBUTE_FIELD);
        assert!(
            e.message.contains("'title'") && e.message.contains("at position 12"),
            "{}",
            e.message
        );
        assert_eq!(
            parse_with("nope>1", Some(&s)).unwrap_err().code,
            codes::NOT_ATTRIBUTE_FIELD
        );
        // Without a schema there is nothing to check against.
        assert!(parse_with("cate_name=palace", None).is_ok());
    }
}
