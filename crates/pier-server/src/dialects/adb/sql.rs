//! AnalyticDB's SQL `WHERE` fragments (`Filter`, `CollectionDataFilter`; wire spec §6) as the
//! engine's filter tree: comparisons (`= <> != < <= > >=`), `AND`/`OR`/`NOT`, parentheses,
//! `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`, string literals (`'it''s'`), numbers and
//! `TRUE`/`FALSE`, `[NOT] LIKE` / `ILIKE`, `IS [NOT] NULL`, over `id` and the collection's
//! Metadata columns, `col->'key'` / `col->>'key'` paths into json/jsonb columns, jsonb
//! containment `@>` / `<@` with a JSON constant, and `::` casts. Array operators (`||`) are
//! refused with a message naming them.

use super::AdbError;
use super::collections::{Collection, Column, ID};
use pier_query::{CmpOp, Expr, Number};

/// Longest filter pier parses.
const MAX_FILTER_BYTES: usize = 64 << 10;
/// Deepest nesting of parentheses and `NOT`s.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

/// Parses `text` (the parameter `param`) against collection `c`.
pub fn parse(param: &str, text: &str, c: &Collection) -> Result<Expr, AdbError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(AdbError::invalid(
            param,
            format!("the filter is over {MAX_FILTER_BYTES} bytes"),
        ));
    }
    let tokens = tokenize(text).map_err(|m| AdbError::invalid(param, m))?;
    let mut p = Parser {
        tokens,
        pos: 0,
        c,
        depth: 0,
    };
    let e = p.or().map_err(|m| AdbError::invalid(param, m))?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(AdbError::invalid(
            param,
            format!("unexpected {} after a complete condition", show(t)),
        ));
    }
    Ok(e)
}

fn show(t: &Token) -> String {
    match t {
        Token::Ident(s) => format!("'{s}'"),
        Token::Str(s) => format!("string '{s}'"),
        Token::Num(s) => format!("number {s}"),
        Token::Op(o) => format!("'{o}'"),
        Token::LParen => "'('".into(),
        Token::RParen => "')'".into(),
        Token::Comma => "','".into(),
    }
}

const OPS: [&str; 14] = [
    "->>", "->", "::", "@>", "<@", "<>", "!=", "<=", ">=", "||", "=", "<", ">", "-",
];

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Token::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Token::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Token::Comma);
            i += 1;
        } else if ch == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a string literal is not closed: end it with '".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        v.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                }
            }
            out.push(Token::Str(v));
        } else if ch == '"' {
            let start = i + 1;
            let end = chars[start..]
                .iter()
                .position(|c| *c == '"')
                .ok_or("a quoted identifier is not closed: end it with \"")?;
            out.push(Token::Ident(chars[start..start + end].iter().collect()));
            i = start + end + 1;
        } else if ch.is_ascii_digit()
            || (ch == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Token::Num(chars[start..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if let Some(op) = OPS
            .iter()
            .find(|op| chars[i..].iter().take(op.len()).copied().eq(op.chars()))
        {
            out.push(Token::Op(op));
            i += op.len();
        } else {
            return Err(format!("unexpected character '{ch}'"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    c: &'a Collection,
    depth: usize,
}

/// An operand: a column, a key path into a JSON column, or a constant.
enum Operand {
    Field(String, Option<Column>),
    Path(String, Vec<String>),
    Str(String),
    Num(Number),
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(s)) if s.eq_ignore_ascii_case(k))
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        let yes = self.keyword(k);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect(&mut self, t: Token, what: &str) -> Result<(), String> {
        match self.peek() {
            Some(x) if *x == t => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!("expected {what}, found {}", show(x))),
            None => Err(format!("expected {what}, found the end of the filter")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.eat_keyword("OR") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.eat_keyword("AND") {
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the filter nests deeper than {MAX_DEPTH} levels"));
        }
        let e = if self.eat_keyword("NOT") {
            Expr::Not(Box::new(self.not()?))
        } else if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Token::RParen, "')'")?;
            e
        } else {
            self.predicate()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn predicate(&mut self) -> Result<Expr, String> {
        let left = self.operand()?;
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("IN") {
            self.expect(Token::LParen, "'(' after IN")?;
            let mut values = Vec::new();
            loop {
                values.push(match self.operand()? {
                    Operand::Str(s) => s,
                    Operand::Num(Number::Int(i)) => i.to_string(),
                    Operand::Num(Number::Float(f)) => f.to_string(),
                    Operand::Field(f, _) | Operand::Path(f, _) => {
                        return Err(format!("IN lists take constants, not the column '{f}'"));
                    }
                });
                if self.peek() == Some(&Token::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.expect(Token::RParen, "')' closing the IN list")?;
            return Ok(Expr::In {
                expr: Box::new(operand_expr(left, None)),
                values,
                negated,
            });
        }
        if self.eat_keyword("BETWEEN") {
            let low = self.operand()?;
            if !self.eat_keyword("AND") {
                return Err("BETWEEN needs AND between its bounds".into());
            }
            let high = self.operand()?;
            let column = column_of(&left);
            let field = operand_expr(left, None);
            let e = Expr::And(vec![
                compare(CmpOp::Ge, field.clone(), operand_expr(low, column)),
                compare(CmpOp::Le, field, operand_expr(high, column)),
            ]);
            return Ok(if negated { Expr::Not(Box::new(e)) } else { e });
        }
        for (keyword, case_insensitive) in [("LIKE", false), ("ILIKE", true)] {
            if self.eat_keyword(keyword) {
                let pattern = match self.operand()? {
                    Operand::Str(s) => s,
                    _ => return Err(format!("{keyword} takes a string pattern such as '%word%'")),
                };
                return Ok(Expr::Like {
                    expr: Box::new(operand_expr(left, None)),
                    pattern,
                    case_insensitive,
                    negated,
                });
            }
        }
        if negated {
            return Err("NOT here must be followed by IN, BETWEEN, LIKE or ILIKE".into());
        }
        if let Some(Token::Op(op @ ("@>" | "<@"))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.operand()?;
            return containment(op, left, right);
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            if !self.eat_keyword("NULL") {
                return Err("IS must be followed by NULL or NOT NULL".into());
            }
            return Ok(Expr::IsNull {
                expr: Box::new(operand_expr(left, None)),
                negated,
            });
        }
        let op = match self.peek() {
            Some(Token::Op("=")) => CmpOp::Eq,
            Some(Token::Op("<>" | "!=")) => CmpOp::Ne,
            Some(Token::Op("<")) => CmpOp::Lt,
            Some(Token::Op("<=")) => CmpOp::Le,
            Some(Token::Op(">")) => CmpOp::Gt,
            Some(Token::Op(">=")) => CmpOp::Ge,
            Some(t) => return Err(format!("expected a comparison operator, found {}", show(t))),
            None => {
                return Err("expected a comparison operator, found the end of the filter".into());
            }
        };
        self.pos += 1;
        let right = self.operand()?;
        let (lc, rc) = (column_of(&left), column_of(&right));
        Ok(compare(op, operand_expr(left, rc), operand_expr(right, lc)))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let t = self.peek().cloned();
        self.pos += 1;
        let operand = match t {
            Some(Token::Str(s)) => Operand::Str(s),
            Some(Token::Num(n)) => Operand::Num(number(&n)?),
            Some(Token::Op("-")) => match self.operand()? {
                Operand::Num(Number::Int(i)) => Operand::Num(Number::Int(-i)),
                Operand::Num(Number::Float(f)) => Operand::Num(Number::Float(-f)),
                _ => return Err("'-' must be followed by a number".into()),
            },
            Some(Token::Ident(s)) if s.eq_ignore_ascii_case("true") => Operand::Num(Number::Int(1)),
            Some(Token::Ident(s)) if s.eq_ignore_ascii_case("false") => {
                Operand::Num(Number::Int(0))
            }
            Some(Token::Ident(s)) => {
                let column = if s == ID {
                    None
                } else {
                    Some(self.c.column(&s).ok_or_else(|| {
                        format!(
                            "'{s}' is not a column of the collection; filter on id or a Metadata key ({})",
                            self.c.metadata.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    })?)
                };
                Operand::Field(s, column)
            }
            Some(t) => {
                return Err(format!(
                    "expected a column or a constant, found {}",
                    show(&t)
                ));
            }
            None => {
                return Err("expected a column or a constant, found the end of the filter".into());
            }
        };
        // `col::jsonb->'k'`, `col->>'k'::text`: casts keep the value as it is (values compare
        // by their own type, numbers numerically), and a path may follow a cast.
        let mut operand = self.json_path(operand)?;
        while self.peek() == Some(&Token::Op("::")) {
            self.pos += 1;
            match self.peek().cloned() {
                Some(Token::Ident(t)) if CASTS.contains(&t.to_ascii_lowercase().as_str()) => {
                    self.pos += 1;
                    // `double precision` is two words.
                    if t.eq_ignore_ascii_case("double") {
                        self.eat_keyword("precision");
                    }
                }
                other => {
                    return Err(format!(
                        "'::' takes a type ({}), found {}",
                        CASTS.join(", "),
                        other.as_ref().map_or("the end of the filter".into(), show)
                    ));
                }
            }
            operand = self.json_path(operand)?;
        }
        if self.peek() == Some(&Token::Op("||")) {
            return Err(
                "the operator '||' is not supported by pier; jsonb fields take col->'key', col->>'key', col @> '<json>' and col <@ '<json>'"
                    .into(),
            );
        }
        Ok(operand)
    }

    /// `col->'a'->>'b'` on a json/jsonb column: a [`Operand::Path`].
    fn json_path(&mut self, operand: Operand) -> Result<Operand, String> {
        let mut path = Vec::new();
        while let Some(Token::Op("->" | "->>")) = self.peek() {
            self.pos += 1;
            match self.peek().cloned() {
                Some(Token::Str(key)) => path.push(key),
                Some(Token::Num(n)) if n.parse::<usize>().is_ok() => path.push(n),
                _ => return Err("-> and ->> take a quoted key or an array index".into()),
            }
            self.pos += 1;
        }
        if path.is_empty() {
            return Ok(operand);
        }
        match operand {
            Operand::Field(f, Some(Column::Json)) => Ok(Operand::Path(f, path)),
            Operand::Field(f, _) => Err(format!(
                "'{f}' is not a json/jsonb column, so -> and ->> do not apply to it"
            )),
            _ => Err("-> and ->> apply to json/jsonb columns".into()),
        }
    }
}

/// jsonb containment `left @> right` or `left <@ right`: one side a json/jsonb column (or a
/// path into one), the other a quoted JSON constant, either way round. `a <@ b` is `b @> a`
/// (PostgreSQL), so a column on the containing side is [`Expr::JsonContains`] and a column on
/// the contained side [`Expr::JsonContainedBy`].
fn containment(op: &str, left: Operand, right: Operand) -> Result<Expr, String> {
    let (container, contained) = if op == "@>" {
        (left, right)
    } else {
        (right, left)
    };
    let (column, constant, column_contains) = match (container, contained) {
        (Operand::Str(text), column @ (Operand::Field(..) | Operand::Path(..))) => {
            (column, text, false)
        }
        (column, Operand::Str(text)) => (column, text, true),
        _ => {
            return Err(format!(
                "{op} compares a json/jsonb column with a quoted JSON constant such as '[\"a\"]'"
            ));
        }
    };
    let json = serde_json::from_str(&constant)
        .map_err(|e| format!("{op} takes a JSON constant such as '[\"a\"]': {e}"))?;
    let (field, path) = match column {
        Operand::Field(f, Some(Column::Json)) => (f, Vec::new()),
        Operand::Path(f, path) => (f, path),
        Operand::Field(f, _) => {
            return Err(format!(
                "'{f}' is not a json/jsonb column, so {op} does not apply to it"
            ));
        }
        _ => {
            return Err(format!(
                "{op} applies to json/jsonb columns and paths into them"
            ));
        }
    };
    let expr = Box::new(Expr::Field(field));
    Ok(if column_contains {
        Expr::JsonContains { expr, path, json }
    } else {
        Expr::JsonContainedBy { expr, path, json }
    })
}

/// The types a `::` cast may name.
const CASTS: &[&str] = &[
    "jsonb", "json", "text", "varchar", "int", "integer", "bigint", "smallint", "numeric", "real",
    "float", "float4", "float8", "double", "boolean", "bool",
];

fn number(s: &str) -> Result<Number, String> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Number::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Number::Float)
        .ok_or_else(|| format!("'{s}' is not a number"))
}

fn column_of(o: &Operand) -> Option<Column> {
    match o {
        Operand::Field(_, c) => *c,
        _ => None,
    }
}

/// An operand as an expression; a string compared with a numeric column is read as a number
/// (PostgreSQL casts the literal to the column's type).
fn operand_expr(o: Operand, other: Option<Column>) -> Expr {
    match o {
        Operand::Field(f, _) => Expr::Field(f),
        Operand::Path(f, path) => Expr::JsonPath {
            expr: Box::new(Expr::Field(f)),
            path,
        },
        Operand::Num(n) => Expr::Number(n),
        Operand::Str(s) => match other {
            Some(Column::Int | Column::Double | Column::IntArray | Column::DoubleArray) => {
                number(s.trim()).map(Expr::Number).unwrap_or(Expr::Str(s))
            }
            Some(Column::Bool) => match s.to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Expr::Number(Number::Int(1)),
                "f" | "false" | "n" | "no" | "off" | "0" => Expr::Number(Number::Int(0)),
                _ => Expr::Str(s),
            },
            _ => Expr::Str(s),
        },
    }
}

fn compare(op: CmpOp, left: Expr, right: Expr) -> Expr {
    Expr::Compare {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::adb::collections::Metric;

    fn collection() -> Collection {
        Collection {
            namespace: "ns".into(),
            collection: "c".into(),
            dimension: 2,
            metrics: Metric::L2,
            parser: "zh_cn".into(),
            full_text_retrieval_fields: vec![],
            metadata: vec![
                ("title".into(), "text".into()),
                ("page".into(), "int".into()),
                ("ok".into(), "boolean".into()),
                ("meta".into(), "jsonb".into()),
            ],
            index_options: Default::default(),
            vector_index_deleted: false,
        }
    }

    fn f(name: &str) -> Box<Expr> {
        Box::new(Expr::Field(name.into()))
    }

    #[test]
    fn parses_the_documented_forms() {
        let c = collection();
        let e = parse(
            "Filter",
            "page > 2 AND (title = 'it''s' OR NOT ok = true)",
            &c,
        )
        .unwrap();
        assert_eq!(
            e,
            Expr::And(vec![
                compare(
                    CmpOp::Gt,
                    Expr::Field("page".into()),
                    Expr::Number(Number::Int(2))
                ),
                Expr::Or(vec![
                    compare(
                        CmpOp::Eq,
                        Expr::Field("title".into()),
                        Expr::Str("it's".into())
                    ),
                    Expr::Not(Box::new(compare(
                        CmpOp::Eq,
                        Expr::Field("ok".into()),
                        Expr::Number(Number::Int(1))
                    ))),
                ]),
            ])
        );
        let e = parse("Filter", "id NOT IN ('a', 'b')", &c).unwrap();
        assert_eq!(
            e,
            Expr::In {
                expr: f("id"),
                values: vec!["a".into(), "b".into()],
                negated: true
            }
        );
        let e = parse("Filter", "page between '1' and -3.5", &c).unwrap();
        assert_eq!(
            e,
            Expr::And(vec![
                compare(
                    CmpOp::Ge,
                    Expr::Field("page".into()),
                    Expr::Number(Number::Int(1))
                ),
                compare(
                    CmpOp::Le,
                    Expr::Field("page".into()),
                    Expr::Number(Number::Float(-3.5))
                ),
            ])
        );
        assert_eq!(
            parse("Filter", "title NOT ILIKE '%a_%' OR title IS NOT NULL", &c).unwrap(),
            Expr::Or(vec![
                Expr::Like {
                    expr: f("title"),
                    pattern: "%a_%".into(),
                    case_insensitive: true,
                    negated: true
                },
                Expr::IsNull {
                    expr: f("title"),
                    negated: true
                },
            ])
        );
        assert_eq!(
            parse("Filter", "meta->'a'->>'b' IN ('x', 'y')", &c).unwrap(),
            Expr::In {
                expr: Box::new(Expr::JsonPath {
                    expr: f("meta"),
                    path: vec!["a".into(), "b".into()]
                }),
                values: vec!["x".into(), "y".into()],
                negated: false
            }
        );
        assert!(matches!(
            parse("Filter", "page <> 1", &c).unwrap(),
            Expr::Compare { op: CmpOp::Ne, .. }
        ));
        // What LlamaIndex sends for a list filter, casts included.
        assert_eq!(
            parse("Filter", r#"meta::jsonb->'tags' @> '["art"]'::jsonb"#, &c).unwrap(),
            Expr::JsonContains {
                expr: f("meta"),
                path: vec!["tags".into()],
                json: serde_json::json!(["art"]),
            }
        );
        // `<@` is `@>` with the operands swapped, and either side may hold the column.
        let contained_by = Expr::JsonContainedBy {
            expr: f("meta"),
            path: vec!["tags".into()],
            json: serde_json::json!(["art", "x"]),
        };
        for filter in [
            r#"meta->'tags' <@ '["art","x"]'"#,
            r#"'["art","x"]'::jsonb @> meta::jsonb->'tags'"#,
        ] {
            assert_eq!(
                parse("Filter", filter, &c).unwrap(),
                contained_by,
                "{filter}"
            );
        }
        assert_eq!(
            parse("Filter", r#"'["art"]' <@ meta->'tags'"#, &c).unwrap(),
            parse("Filter", r#"meta->'tags' @> '["art"]'"#, &c).unwrap(),
        );
        assert_eq!(
            parse(
                "Filter",
                "meta->>'n'::int >= 2 AND page::double precision < 3",
                &c
            )
            .unwrap(),
            parse("Filter", "meta->>'n' >= 2 AND page < 3", &c).unwrap(),
        );
    }

    #[test]
    fn refuses_what_it_cannot_do_with_a_reason() {
        let c = collection();
        for (filter, says) in [
            ("title LIKE 3", "string pattern"),
            ("title IS 3", "NULL or NOT NULL"),
            ("nope = 1", "not a column"),
            ("metadata_->>'k' = 'v'", "not a column"),
            ("title->>'k' = 'v'", "not a json/jsonb column"),
            ("meta->'k' @> 1", "quoted JSON constant"),
            ("meta @> '[1'", "JSON constant"),
            ("title @> '[1]'", "not a json/jsonb column"),
            ("meta::vector = 'v'", "'::' takes a type"),
            ("meta || '[1]'", "'||' is not supported"),
            ("meta <@ page", "quoted JSON constant"),
            ("'[1]' <@ title", "not a json/jsonb column"),
            ("title = 'open", "not closed"),
            ("page >", "end of the filter"),
            ("page = 1 page", "unexpected"),
            ("(page = 1", "')'"),
        ] {
            let e = parse("Filter", filter, &c).unwrap_err();
            assert_eq!(e.code, "InvalidParameter", "{filter}");
            assert!(e.message.contains(says), "{filter}: {}", e.message);
        }
        let deep = format!("{}page = 1{}", "(".repeat(100), ")".repeat(100));
        assert!(
            parse("Filter", &deep, &c)
                .unwrap_err()
                .message
                .contains("deeper")
        );
    }
}
