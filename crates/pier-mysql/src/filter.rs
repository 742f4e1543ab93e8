//! Row filter: which rows of the table are synced.
//!
//! Grammar (case-insensitive keywords):
//!
//! ```text
//! filter    := condition ( AND condition )*
//! condition := column op literal | column IS [NOT] NULL
//! op        := = | != | <> | < | <= | > | >=
//! column    := name | `quoted name`
//! literal   := number | 'string' (with '' for a quote) | TRUE | FALSE
//! ```
//!
//! Conditions are evaluated on the column values after type mapping, in the source (not by the
//! server), the same way for snapshot rows and binlog rows:
//! - numeric columns (integers, DECIMAL, FLOAT/DOUBLE, BIT, YEAR) compare numerically
//!   (integers exactly, others as f64); the literal must be a number;
//! - DATE/DATETIME/TIMESTAMP compare as epoch milliseconds; the literal is
//!   `'YYYY-MM-DD[ HH:MM:SS[.fff]]'` (read as UTC) or a number of milliseconds;
//! - every other column compares its JSON string byte-wise (binary collation, so `'a' <> 'A'`);
//! - as in SQL, a comparison with a NULL value is false (only `IS NULL` matches it).
//!
//! An UPDATE moving a row into the filter delivers an Upsert, out of it a Delete.

use crate::convert::parse_datetime_text;
use crate::schema::{ColumnInfo, ColumnKind};
use serde_json::Value as Json;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsNull,
    IsNotNull,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Num { f: f64, i: Option<i128> },
    Str(String),
    None,
}

#[derive(Debug, Clone, PartialEq)]
struct Cond {
    col: usize,
    op: Op,
    lit: Lit,
}

/// A parsed row filter (see the module docs for the grammar).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    conds: Vec<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Num(String),
    Op(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '`' {
            let mut t = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated `quoted` column name".into()),
                    Some('`') if c.get(i + 1) == Some(&'`') => {
                        t.push('`');
                        i += 2;
                    }
                    Some('`') => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        t.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Quoted(t));
        } else if ch == '\'' || ch == '"' {
            let q = ch;
            let mut t = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some(x) if *x == q && c.get(i + 1) == Some(&q) => {
                        t.push(q);
                        i += 2;
                    }
                    Some(x) if *x == q => {
                        i += 1;
                        break;
                    }
                    Some('\\') if i + 1 < c.len() => {
                        t.push(c[i + 1]);
                        i += 2;
                    }
                    Some(x) => {
                        t.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(t));
        } else if ch.is_ascii_digit()
            || ((ch == '-' || ch == '+' || ch == '.')
                && c.get(i + 1)
                    .is_some_and(|x| x.is_ascii_digit() || *x == '.'))
        {
            let start = i;
            i += 1;
            while i < c.len()
                && (c[i].is_ascii_alphanumeric()
                    || c[i] == '.'
                    || ((c[i] == '-' || c[i] == '+') && matches!(c[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Tok::Num(c[start..i].iter().collect()));
        } else if "=<>!".contains(ch) {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["<=", ">=", "<>", "!="].contains(&two.as_str()) {
                out.push(Tok::Op(two));
                i += 2;
            } else if ch == '!' {
                return Err("'!' must be followed by '='".into());
            } else {
                out.push(Tok::Op(ch.to_string()));
                i += 1;
            }
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character {ch:?}"));
        }
    }
    Ok(out)
}

fn kw(t: Option<&Tok>, k: &str) -> bool {
    matches!(t, Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(k))
}

fn is_numeric(kind: &ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::Int { .. }
            | ColumnKind::Decimal
            | ColumnKind::Float
            | ColumnKind::Double
            | ColumnKind::Bit
            | ColumnKind::Year
    )
}

fn is_temporal(kind: &ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::Date | ColumnKind::DateTime | ColumnKind::Timestamp
    )
}

fn num_lit(s: &str) -> Option<Lit> {
    let s = s.trim();
    let f: f64 = s.parse().ok()?;
    Some(Lit::Num {
        f,
        i: s.parse::<i128>().ok(),
    })
}

impl Filter {
    /// Parse `text` against the table's columns.
    pub(crate) fn parse(text: &str, columns: &[ColumnInfo]) -> Result<Filter, String> {
        let toks = tokenize(text)?;
        let mut conds = Vec::new();
        let mut i = 0;
        loop {
            let name = match toks.get(i) {
                Some(Tok::Ident(n)) | Some(Tok::Quoted(n)) => n.clone(),
                other => return Err(format!("expected a column name, found {other:?}")),
            };
            let col = columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(&name))
                .ok_or_else(|| format!("unknown column '{name}'"))?;
            let kind = &columns[col].kind;
            i += 1;
            let (op, lit) = if kw(toks.get(i), "IS") {
                i += 1;
                let not = kw(toks.get(i), "NOT");
                if not {
                    i += 1;
                }
                if !kw(toks.get(i), "NULL") {
                    return Err(format!("expected NULL after IS for '{name}'"));
                }
                i += 1;
                (if not { Op::IsNotNull } else { Op::IsNull }, Lit::None)
            } else {
                let op = match toks.get(i) {
                    Some(Tok::Op(o)) => match o.as_str() {
                        "=" => Op::Eq,
                        "!=" | "<>" => Op::Ne,
                        "<" => Op::Lt,
                        "<=" => Op::Le,
                        ">" => Op::Gt,
                        ">=" => Op::Ge,
                        _ => return Err(format!("unknown operator {o}")),
                    },
                    other => {
                        return Err(format!(
                            "expected an operator after '{name}', found {other:?}"
                        ));
                    }
                };
                i += 1;
                let raw = match toks.get(i) {
                    Some(Tok::Num(n)) => Tok::Num(n.clone()),
                    Some(Tok::Str(s)) => Tok::Str(s.clone()),
                    Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("TRUE") => Tok::Num("1".into()),
                    Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("FALSE") => Tok::Num("0".into()),
                    Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("NULL") => {
                        return Err(format!(
                            "compare with NULL using '{name} IS NULL' / 'IS NOT NULL'"
                        ));
                    }
                    other => return Err(format!("expected a literal, found {other:?}")),
                };
                i += 1;
                let lit = if is_numeric(kind) {
                    let s = match &raw {
                        Tok::Num(s) | Tok::Str(s) => s,
                        _ => unreachable!(),
                    };
                    num_lit(s)
                        .ok_or_else(|| format!("'{name}' is numeric; {s:?} is not a number"))?
                } else if is_temporal(kind) {
                    match &raw {
                        Tok::Num(s) => num_lit(s)
                            .ok_or_else(|| format!("{s:?} is not a number of milliseconds"))?,
                        Tok::Str(s) => match parse_datetime_text(s) {
                            Some(Some(ms)) => Lit::Num {
                                f: ms as f64,
                                i: Some(ms as i128),
                            },
                            _ => {
                                return Err(format!(
                                    "'{name}' is a date; write 'YYYY-MM-DD[ HH:MM:SS]', not {s:?}"
                                ));
                            }
                        },
                        _ => unreachable!(),
                    }
                } else {
                    match raw {
                        Tok::Num(s) | Tok::Str(s) => Lit::Str(s),
                        _ => unreachable!(),
                    }
                };
                (op, lit)
            };
            conds.push(Cond { col, op, lit });
            match toks.get(i) {
                None => break,
                t if kw(t, "AND") => i += 1,
                Some(other) => {
                    return Err(format!(
                        "expected AND or the end, found {other:?} (only AND is supported)"
                    ));
                }
            }
        }
        Ok(Filter { conds })
    }

    /// Column indexes the filter reads.
    pub(crate) fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.conds.iter().map(|c| c.col)
    }

    /// Does the row (converted values indexed like the table's columns) match?
    pub(crate) fn matches(&self, row: &[Json]) -> bool {
        self.conds.iter().all(|c| {
            let v = &row[c.col];
            match c.op {
                Op::IsNull => v.is_null(),
                Op::IsNotNull => !v.is_null(),
                _ => {
                    let Some(ord) = compare(v, &c.lit) else {
                        return false;
                    };
                    match c.op {
                        Op::Eq => ord == Ordering::Equal,
                        Op::Ne => ord != Ordering::Equal,
                        Op::Lt => ord == Ordering::Less,
                        Op::Le => ord != Ordering::Greater,
                        Op::Gt => ord == Ordering::Greater,
                        Op::Ge => ord != Ordering::Less,
                        Op::IsNull | Op::IsNotNull => unreachable!(),
                    }
                }
            }
        })
    }
}

fn compare(v: &Json, lit: &Lit) -> Option<Ordering> {
    match lit {
        Lit::Num { f, i } => {
            let (vf, vi) = match v {
                Json::Number(n) => (
                    n.as_f64()?,
                    n.as_i64()
                        .map(|x| x as i128)
                        .or(n.as_u64().map(|x| x as i128)),
                ),
                Json::String(s) => (s.trim().parse::<f64>().ok()?, s.trim().parse::<i128>().ok()),
                _ => return None,
            };
            match (vi, i) {
                (Some(a), Some(b)) => Some(a.cmp(b)),
                _ => vf.partial_cmp(f),
            }
        }
        Lit::Str(s) => match v {
            Json::String(x) => Some(x.as_bytes().cmp(s.as_bytes())),
            Json::Number(n) => Some(n.to_string().as_bytes().cmp(s.as_bytes())),
            _ => None,
        },
        Lit::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Charset;
    use serde_json::json;

    fn cols() -> Vec<ColumnInfo> {
        let c = |n: &str, kind| ColumnInfo {
            name: n.into(),
            column_type: String::new(),
            kind,
        };
        vec![
            c(
                "id",
                ColumnKind::Int {
                    bits: 64,
                    unsigned: false,
                },
            ),
            c(
                "status",
                ColumnKind::Text {
                    charset: Charset::Utf8,
                    fixed: false,
                },
            ),
            c("price", ColumnKind::Decimal),
            c("at", ColumnKind::DateTime),
        ]
    }

    #[test]
    fn parse_and_eval() {
        let f = Filter::parse(
            "id >= 10 and `status` <> 'gone' AND price < 9.5 AND at >= '2024-01-01'",
            &cols(),
        )
        .unwrap();
        let ms = 1_704_067_200_000i64;
        assert!(f.matches(&[json!(10), json!("ok"), json!("9.49"), json!(ms)]));
        assert!(!f.matches(&[json!(9), json!("ok"), json!("9.49"), json!(ms)]));
        assert!(!f.matches(&[json!(10), json!("gone"), json!("9.49"), json!(ms)]));
        assert!(!f.matches(&[json!(10), json!("ok"), json!("9.50"), json!(ms)]));
        assert!(!f.matches(&[json!(10), json!("ok"), json!("9.49"), json!(ms - 1)]));
        assert!(!f.matches(&[json!(10), Json::Null, json!("9.49"), json!(ms)]));
        let g = Filter::parse("status IS NOT NULL", &cols()).unwrap();
        assert!(!g.matches(&[json!(1), Json::Null, json!("1"), json!(0)]));
        assert!(Filter::parse("nope = 1", &cols()).is_err());
        assert!(Filter::parse("id = 'x'", &cols()).is_err());
        assert!(Filter::parse("id = 1 OR id = 2", &cols()).is_err());
        assert!(Filter::parse("id = NULL", &cols()).is_err());
    }
}
