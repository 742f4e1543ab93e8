//! The ha3 filter language of `filter` (spec §2.1, §3.2) and the sort expressions of `sort` /
//! `sorts`.
//!
//! ```text
//! cate_id=2 AND price>10            tag="x"             in(cate_id, "1|2")
//! (a=1 OR b!=2) AND NOT c<=3        notin(tag, "a|b")   (price*2 + 1) >= 10 AND fieldlen(tags)>0
//! ```
//!
//! Grammar, lowest precedence first: `OR`, `AND`, `NOT`, one comparison (`= != < <= > >=`,
//! never chained), `|`, `^`, `&`, `+ -`, `* /`, unary `-`, then a primary: a number, a
//! double-quoted string (`\"` and `\\` escapes), a field name, a function call `name(args)`, or
//! a parenthesised expression. `AND`, `OR` and `NOT` are accepted in any letter case (ha3 writes
//! them upper case; `NOT` is a pier extension). `in(expr, "v1|v2")` / `notin(...)` are typed
//! ([`Expr::In`]); other calls are kept as [`Expr::Call`] for the executor. `=` on a multi-value
//! field means "contains".
//!
//! With a schema ([`Filter::resolve`]), every field must exist and not be a vector field (6127;
//! names are rewritten to their schema spelling; a TEXT field compares as its whole value), and a
//! STRING (TEXT, MULTI_STRING) field compared with a bare word, an unquoted number or an
//! arithmetic expression gets 6135 ("put string constants in double quotes": `title=1` or
//! `title=1+2` would otherwise compare the field's text as a number and silently match almost
//! nothing); a string field inside arithmetic (`title+1=3`) gets 6127 for the same reason.
//! Syntax errors are 6113 (6115 in sort expressions), with the character position.

use crate::codes::Code;
use crate::error::VseError;
use crate::query::Order;
use crate::schema::{FieldType, VectorTableSchema};

/// Deepest nesting of parentheses, calls, `NOT` and unary minus (deeper is an error, not a
/// stack overflow).
pub const MAX_NESTING: usize = 64;
/// Most arithmetic operators in one expression (they nest the tree one level each, so this and
/// [`MAX_NESTING`] bound its depth).
pub const MAX_OPERATORS: usize = 1024;
/// Longest filter or sort string, in bytes (design choice).
pub const MAX_EXPR_BYTES: usize = 64 * 1024;
/// The sort key that stands for the vector score.
pub const RANK: &str = "RANK";

/// A numeric constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer that fits i64.
    Int(i64),
    /// Any other number.
    Float(f64),
}

impl Number {
    /// The value as f64.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
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
    /// `&`
    BitAnd,
    /// `^`
    BitXor,
    /// `|`
    BitOr,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` (on a multi-value field: contains)
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

/// A filter or sort expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field, by name.
    Field(String),
    /// A numeric constant.
    Number(Number),
    /// A double-quoted string constant, unescaped.
    Str(String),
    /// Unary minus of a non-constant (`-(a+b)`); `-5` is `Number(-5)`.
    Neg(Box<Expr>),
    /// Arithmetic.
    Arith {
        /// Operator.
        op: ArithOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// A comparison.
    Compare {
        /// Operator.
        op: CmpOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// All hold (two or more).
    And(Vec<Expr>),
    /// Any holds (two or more).
    Or(Vec<Expr>),
    /// Does not hold.
    Not(Box<Expr>),
    /// `in(expr, "a|b")`, or `notin(...)` when `negated`.
    In {
        /// The tested value.
        expr: Box<Expr>,
        /// The listed values, split on `|`.
        values: Vec<String>,
        /// `notin`.
        negated: bool,
    },
    /// Another function call (`fieldlen(tags)`, `contain(tags,"a")`...), for the executor.
    Call {
        /// The name as written.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
    },
}

impl Expr {
    /// Whether this node yields true/false rather than a value (`Call` may be either).
    pub fn is_condition(&self) -> bool {
        matches!(
            self,
            Expr::Compare { .. }
                | Expr::And(_)
                | Expr::Or(_)
                | Expr::Not(_)
                | Expr::In { .. }
                | Expr::Call { .. }
        )
    }

    /// Every field name the expression uses, in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Field(f) = e {
                out.push(f.as_str());
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Neg(e) | Expr::Not(e) => e.visit(f),
            Expr::In { expr, .. } => expr.visit(f),
            Expr::Arith { left, right, .. } | Expr::Compare { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Expr::And(v) | Expr::Or(v) | Expr::Call { args: v, .. } => {
                for e in v {
                    e.visit(f);
                }
            }
            Expr::Field(_) | Expr::Number(_) | Expr::Str(_) => {}
        }
    }

    fn visit_mut(
        &mut self,
        f: &mut impl FnMut(&mut Expr) -> Result<(), VseError>,
    ) -> Result<(), VseError> {
        f(self)?;
        match self {
            Expr::Neg(e) | Expr::Not(e) => e.visit_mut(f),
            Expr::In { expr, .. } => expr.visit_mut(f),
            Expr::Arith { left, right, .. } | Expr::Compare { left, right, .. } => {
                left.visit_mut(f)?;
                right.visit_mut(f)
            }
            Expr::And(v) | Expr::Or(v) | Expr::Call { args: v, .. } => {
                v.iter_mut().try_for_each(|e| e.visit_mut(f))
            }
            Expr::Field(_) | Expr::Number(_) | Expr::Str(_) => Ok(()),
        }
    }
}

/// A parsed `filter`: the text as sent and its expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The filter string as sent.
    pub source: String,
    /// The parsed condition.
    pub expr: Expr,
}

impl Filter {
    /// Parses a filter string. Blank input is the caller's "no filter" and is refused here.
    pub fn parse(text: &str) -> Result<Filter, VseError> {
        let expr = parse_condition(text, Code::FILTER_SYNTAX, "filter")?;
        Ok(Filter {
            source: text.to_string(),
            expr,
        })
    }

    /// Checks the filter's fields against `schema` and rewrites them to their schema spelling.
    pub fn resolve(&mut self, schema: &VectorTableSchema) -> Result<(), VseError> {
        resolve_expr(&mut self.expr, schema, "filter")
    }
}

/// What a sort key orders by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortExpr {
    /// The vector score (`RANK`).
    Rank,
    /// An expression of fields.
    Expr(Expr),
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Direction.
    pub order: Order,
    /// What to order by.
    pub key: SortExpr,
}

/// Parses a ha3 sort string such as `+price;-RANK`: keys separated by `;`, each with an
/// optional `+` (ascending) or `-` (descending) sign. A key without a sign is descending
/// (design choice, the same as pier's V3 parser).
pub fn parse_sort(text: &str) -> Result<Vec<SortKey>, VseError> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(too_long("sort", text));
    }
    let mut keys = Vec::new();
    for piece in split_top_level(text, ';') {
        let p = piece.trim();
        if p.is_empty() {
            return Err(VseError::new(
                Code::SORT_SYNTAX,
                format!(
                    "sort {text:?}: empty sort key; write keys such as +price;-RANK separated by ';'"
                ),
            ));
        }
        let (order, body) = match p.as_bytes()[0] {
            b'+' => (Order::Asc, &p[1..]),
            b'-' => (Order::Desc, &p[1..]),
            _ => (Order::Desc, p),
        };
        keys.push(SortKey {
            order,
            key: sort_expr(body)?,
        });
    }
    Ok(keys)
}

/// Parses one `sorts[].expression` with its `order` (ASC/DESC, default DESC).
pub fn parse_sort_expression(expression: &str, order: Order) -> Result<SortKey, VseError> {
    if expression.len() > MAX_EXPR_BYTES {
        return Err(too_long("sorts expression", expression));
    }
    Ok(SortKey {
        order,
        key: sort_expr(expression)?,
    })
}

fn sort_expr(body: &str) -> Result<SortExpr, VseError> {
    let b = body.trim();
    if b.eq_ignore_ascii_case(RANK) {
        return Ok(SortExpr::Rank);
    }
    Ok(SortExpr::Expr(parse_value(b, Code::SORT_SYNTAX, "sort")?))
}

/// Checks sort keys' fields against `schema` and rewrites them to their schema spelling.
pub fn resolve_sort(keys: &mut [SortKey], schema: &VectorTableSchema) -> Result<(), VseError> {
    for k in keys {
        if let SortExpr::Expr(e) = &mut k.key {
            resolve_expr(e, schema, "sort")?;
        }
    }
    Ok(())
}

fn too_long(what: &str, text: &str) -> VseError {
    VseError::new(
        if what == "filter" {
            Code::FILTER_SYNTAX
        } else {
            Code::SORT_SYNTAX
        },
        format!(
            "the {what} is {} bytes; the limit is {MAX_EXPR_BYTES}",
            text.len()
        ),
    )
}

/// Splits on `sep` outside double-quoted strings and parentheses.
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc, mut start) = (0i32, false, false, 0);
    for (i, c) in text.char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth <= 0 => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn resolve_expr(expr: &mut Expr, schema: &VectorTableSchema, what: &str) -> Result<(), VseError> {
    // A STRING field compared with a bare word or a number: it was meant as a string constant.
    check_unquoted(expr, schema, what)?;
    check_string_arithmetic(expr, schema, what)?;
    expr.visit_mut(&mut |e| {
        let Expr::Field(name) = e else {
            return Ok(());
        };
        let Some(field) = schema.field(name) else {
            let names: Vec<&str> = schema
                .fields
                .iter()
                .filter(|f| usable(schema, &f.name, f.field_type))
                .map(|f| f.name.as_str())
                .collect();
            return Err(VseError::new(
                Code::BAD_FIELD,
                format!(
                    "{what}: field '{name}' is not in table '{}' (usable fields: {}); a string constant goes in double quotes",
                    schema.name,
                    names.join(", ")
                ),
            ));
        };
        if !usable(schema, &field.name, field.field_type) {
            return Err(VseError::new(
                Code::BAD_FIELD,
                format!(
                    "{what}: field '{}' is a vector field and cannot be used in filter or sort; use a vector query (or scoreThreshold) instead",
                    field.name
                ),
            ));
        }
        *name = field.name.clone();
        Ok(())
    })
}

/// Every field but a vector field can be filtered and sorted on; a TEXT field compares as its
/// whole string value (design choice: accept what an engine with attributes on every field
/// would accept).
fn usable(schema: &VectorTableSchema, name: &str, _t: FieldType) -> bool {
    !schema.is_vector_field(name)
}

/// 6135: a string field (STRING, TEXT or their multi-value forms) compared directly with a
/// constant that is not double-quoted: a bare word (not a field of the table), a number, or an
/// arithmetic expression. The
/// executor would compare the field's text as a number, which silently matches nothing for
/// text that is not numeric, so the request is refused (as ha3 and pier's V3 filters do).
fn check_unquoted(expr: &Expr, schema: &VectorTableSchema, what: &str) -> Result<(), VseError> {
    let mut result = Ok(());
    expr.visit(&mut |e| {
        if result.is_err() {
            return;
        }
        let Expr::Compare { left, right, .. } = e else {
            return;
        };
        for (a, b) in [(left, right), (right, left)] {
            let Expr::Field(f) = a.as_ref() else {
                continue;
            };
            let Some(field) = schema.field(f).filter(|x| x.field_type.is_string()) else {
                continue;
            };
            let (name, kind) = (&field.name, field.field_type.name());
            let unquoted = match b.as_ref() {
                Expr::Field(word) if schema.field(word).is_none() => word.clone(),
                Expr::Number(Number::Int(i)) => i.to_string(),
                Expr::Number(Number::Float(x)) => x.to_string(),
                Expr::Arith { .. } | Expr::Neg(_) => {
                    result = Err(VseError::new(
                        Code::LITERAL_NOT_QUOTED,
                        format!(
                            "{what}: field '{name}' is {kind}, so it cannot be compared with an arithmetic expression (its value is a number); compare it with a double-quoted string, as in {name}=\"text\""
                        ),
                    ));
                    return;
                }
                _ => continue,
            };
            result = Err(VseError::new(
                Code::LITERAL_NOT_QUOTED,
                format!(
                    "{what}: field '{name}' is {kind}, so the constant {unquoted} it is compared with must be a double-quoted string, as in {name}=\"{unquoted}\""
                ),
            ));
            return;
        }
    });
    result
}

/// 6127: a string field (STRING, TEXT or their multi-value forms) inside arithmetic, as in
/// `title+1=3` or `-title<0`. The executor would read the field's text as a number, which
/// silently matches nothing for text that is not numeric, so the request is refused.
fn check_string_arithmetic(
    expr: &Expr,
    schema: &VectorTableSchema,
    what: &str,
) -> Result<(), VseError> {
    let mut result = Ok(());
    expr.visit(&mut |e| {
        if result.is_err() {
            return;
        }
        let operands: &[&Expr] = match e {
            Expr::Arith { left, right, .. } => &[left.as_ref(), right.as_ref()],
            Expr::Neg(x) => &[x.as_ref()],
            _ => return,
        };
        for operand in operands {
            let Expr::Field(f) = operand else {
                continue;
            };
            if let Some(field) = schema.field(f).filter(|x| x.field_type.is_string()) {
                result = Err(VseError::new(
                    Code::BAD_FIELD,
                    format!(
                        "{what}: field '{name}' is {kind}, so it cannot be used in arithmetic (+ - * / & ^ |); compare it with a double-quoted string instead, as in {name}=\"text\"",
                        name = field.name,
                        kind = field.field_type.name()
                    ),
                ));
                return;
            }
        }
    });
    result
}

// ---- lexer ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(Number),
    Str(String),
    Sym(&'static str),
}

const SYMBOLS: [&str; 16] = [
    ">=", "<=", "!=", "=", ">", "<", "+", "-", "*", "/", "&", "^", "|", "(", ")", ",",
];

struct Lexed {
    toks: Vec<(Tok, usize)>,
}

fn syntax(code: Code, what: &str, text: &str, pos: usize, msg: &str) -> VseError {
    let at: String = text.get(pos..).unwrap_or("").chars().take(20).collect();
    let near = if at.is_empty() {
        "at the end".to_string()
    } else {
        format!("near {at:?}")
    };
    VseError::new(
        code,
        format!(
            "{what} {:?}: {msg} (at character {}, {near})",
            text.chars().take(200).collect::<String>(),
            text.get(..pos).map_or(0, |s| s.chars().count())
        ),
    )
}

fn lex(text: &str, code: Code, what: &str) -> Result<Lexed, VseError> {
    let mut toks = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            let mut j = i;
            let mut seen_e = false;
            while j < text.len() {
                let b = bytes[j];
                if b.is_ascii_digit() || b == b'.' {
                    j += 1;
                } else if (b == b'e' || b == b'E') && !seen_e {
                    seen_e = true;
                    j += 1;
                    if j < text.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                        j += 1;
                    }
                } else {
                    break;
                }
            }
            let lit = &text[i..j];
            let num = lit
                .parse::<i64>()
                .map(Number::Int)
                .ok()
                .or_else(|| {
                    lit.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(Number::Float)
                })
                .ok_or_else(|| syntax(code, what, text, i, &format!("'{lit}' is not a number")))?;
            if text[j..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                return Err(syntax(
                    code,
                    what,
                    text,
                    i,
                    "a name may not start with a digit",
                ));
            }
            toks.push((Tok::Num(num), i));
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            toks.push((Tok::Name(rest[..len].to_string()), i));
            i += len;
            continue;
        }
        if c == '"' {
            let mut s = String::new();
            let mut chars = rest.char_indices().skip(1);
            let mut end = None;
            while let Some((k, ch)) = chars.next() {
                match ch {
                    '\\' => match chars.next() {
                        Some((_, e)) => s.push(e),
                        None => break,
                    },
                    '"' => {
                        end = Some(k + 1);
                        break;
                    }
                    other => s.push(other),
                }
            }
            let Some(end) = end else {
                return Err(syntax(
                    code,
                    what,
                    text,
                    i,
                    "unterminated string: close it with '\"'",
                ));
            };
            toks.push((Tok::Str(s), i));
            i += end;
            continue;
        }
        if c == '\'' {
            return Err(syntax(
                code,
                what,
                text,
                i,
                "string constants are written in double quotes, e.g. tag=\"x\"",
            ));
        }
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(s) => {
                toks.push((Tok::Sym(s), i));
                i += s.len();
            }
            None => {
                return Err(syntax(
                    code,
                    what,
                    text,
                    i,
                    &format!("unexpected character '{c}'"),
                ));
            }
        }
    }
    Ok(Lexed { toks })
}

// ---- parser ----

struct Parser<'a> {
    text: &'a str,
    toks: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
    ops: usize,
    code: Code,
    what: &'a str,
}

const CMPS: [(&str, CmpOp); 6] = [
    ("=", CmpOp::Eq),
    ("!=", CmpOp::Ne),
    ("<", CmpOp::Lt),
    ("<=", CmpOp::Le),
    (">", CmpOp::Gt),
    (">=", CmpOp::Ge),
];

const ARITH: [&[(&str, ArithOp)]; 5] = [
    &[("|", ArithOp::BitOr)],
    &[("^", ArithOp::BitXor)],
    &[("&", ArithOp::BitAnd)],
    &[("+", ArithOp::Add), ("-", ArithOp::Sub)],
    &[("*", ArithOp::Mul), ("/", ArithOp::Div)],
];

fn parse_condition(text: &str, code: Code, what: &str) -> Result<Expr, VseError> {
    let e = parse_any(text, code, what)?;
    if !e.is_condition() {
        return Err(syntax(
            code,
            what,
            text,
            0,
            "a filter must be a condition such as cate_id=2, price>10 AND tag=\"x\" or in(cate_id, \"1|2\")",
        ));
    }
    Ok(e)
}

fn parse_value(text: &str, code: Code, what: &str) -> Result<Expr, VseError> {
    parse_any(text, code, what)
}

fn parse_any(text: &str, code: Code, what: &str) -> Result<Expr, VseError> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(too_long(what, text));
    }
    let lexed = lex(text, code, what)?;
    if lexed.toks.is_empty() {
        return Err(syntax(code, what, text, 0, "the expression is empty"));
    }
    let mut p = Parser {
        text,
        toks: lexed.toks,
        at: 0,
        depth: 0,
        ops: 0,
        code,
        what,
    };
    let e = p.or()?;
    if p.at < p.toks.len() {
        return Err(p.err("unexpected text: join conditions with AND / OR"));
    }
    Ok(e)
}

impl Parser<'_> {
    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(self.text.len(), |t| t.1)
    }

    fn err(&self, msg: &str) -> VseError {
        syntax(self.code, self.what, self.text, self.pos(), msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Name(x)) if x.eq_ignore_ascii_case(w)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), VseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(&format!("nested more than {MAX_NESTING} levels deep")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, VseError> {
        let mut items = vec![self.and()?];
        while self.eat_word("OR") {
            items.push(self.and()?);
        }
        self.logical(items, Expr::Or, "OR")
    }

    fn and(&mut self) -> Result<Expr, VseError> {
        let mut items = vec![self.not()?];
        while self.eat_word("AND") {
            items.push(self.not()?);
        }
        self.logical(items, Expr::And, "AND")
    }

    fn logical(
        &self,
        mut items: Vec<Expr>,
        make: fn(Vec<Expr>) -> Expr,
        word: &str,
    ) -> Result<Expr, VseError> {
        if items.len() == 1 {
            return Ok(items.remove(0));
        }
        if items.iter().any(|e| !e.is_condition()) {
            return Err(syntax(
                self.code,
                self.what,
                self.text,
                0,
                &format!(
                    "{word} joins conditions, e.g. a=1 {word} b>2; a bare value is not a condition"
                ),
            ));
        }
        Ok(make(items))
    }

    fn not(&mut self) -> Result<Expr, VseError> {
        if self.eat_word("NOT") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            if !inner.is_condition() {
                return Err(self.err("NOT applies to a condition, e.g. NOT cate_id=2"));
            }
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, VseError> {
        let left = self.arith(0)?;
        let Some(op) = CMPS
            .iter()
            .find(|(s, _)| matches!(self.peek(), Some(Tok::Sym(x)) if x == s))
            .map(|(_, op)| *op)
        else {
            return Ok(left);
        };
        self.at += 1;
        let right = self.arith(0)?;
        if CMPS
            .iter()
            .any(|(s, _)| matches!(self.peek(), Some(Tok::Sym(x)) if x == s))
        {
            return Err(self.err("comparisons cannot be chained: write a<b AND b<c"));
        }
        if left.is_condition() && !matches!(left, Expr::Call { .. })
            || right.is_condition() && !matches!(right, Expr::Call { .. })
        {
            return Err(self.err("compare values, not conditions: use AND / OR between conditions"));
        }
        Ok(Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    fn arith(&mut self, level: usize) -> Result<Expr, VseError> {
        if level == ARITH.len() {
            return self.unary();
        }
        let mut left = self.arith(level + 1)?;
        loop {
            let Some(op) = ARITH[level]
                .iter()
                .find(|(s, _)| matches!(self.peek(), Some(Tok::Sym(x)) if x == s))
                .map(|(_, op)| *op)
            else {
                return Ok(left);
            };
            self.at += 1;
            self.ops += 1;
            if self.ops > MAX_OPERATORS {
                return Err(self.err(&format!(
                    "more than {MAX_OPERATORS} arithmetic operators in one expression"
                )));
            }
            let right = self.arith(level + 1)?;
            if left.is_condition() && !matches!(left, Expr::Call { .. })
                || right.is_condition() && !matches!(right, Expr::Call { .. })
            {
                return Err(self.err("arithmetic applies to values, not conditions"));
            }
            left = Expr::Arith {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, VseError> {
        if self.eat_sym("-") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(match inner {
                Expr::Number(Number::Int(i)) => Expr::Number(
                    i.checked_neg()
                        .map_or(Number::Float(-(i as f64)), Number::Int),
                ),
                Expr::Number(Number::Float(f)) => Expr::Number(Number::Float(-f)),
                other => Expr::Neg(Box::new(other)),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, VseError> {
        let Some((tok, _)) = self.toks.get(self.at).cloned() else {
            return Err(self.err("the expression ends too early: a value is missing"));
        };
        match tok {
            Tok::Num(n) => {
                self.at += 1;
                Ok(Expr::Number(n))
            }
            Tok::Str(s) => {
                self.at += 1;
                Ok(Expr::Str(s))
            }
            Tok::Sym("(") => {
                self.at += 1;
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                if !self.eat_sym(")") {
                    return Err(self.err("missing ')'"));
                }
                Ok(e)
            }
            Tok::Name(name) => {
                if ["AND", "OR", "NOT"]
                    .iter()
                    .any(|w| name.eq_ignore_ascii_case(w))
                {
                    return Err(
                        self.err(&format!("'{name}' needs a condition before and after it"))
                    );
                }
                self.at += 1;
                if !self.eat_sym("(") {
                    return Ok(Expr::Field(name));
                }
                self.enter()?;
                let mut args = Vec::new();
                if !self.eat_sym(")") {
                    loop {
                        args.push(self.or()?);
                        if self.eat_sym(")") {
                            break;
                        }
                        if !self.eat_sym(",") {
                            return Err(self.err("expected ',' or ')' in the argument list"));
                        }
                    }
                }
                self.depth -= 1;
                let lower = name.to_ascii_lowercase();
                if lower == "in" || lower == "notin" {
                    return match <[Expr; 2]>::try_from(args) {
                        Ok([expr, Expr::Str(list)]) if !expr.is_condition() => Ok(Expr::In {
                            expr: Box::new(expr),
                            values: list.split('|').map(str::to_string).collect(),
                            negated: lower == "notin",
                        }),
                        _ => Err(self.err(&format!(
                            "{name}() takes a field and a double-quoted list of values separated by '|', e.g. {name}(cate_id, \"1|2\")"
                        ))),
                    };
                }
                Ok(Expr::Call { name, args })
            }
            Tok::Sym(s) => Err(self.err(&format!("unexpected '{s}': a value is missing"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> Expr {
        Filter::parse(s).unwrap().expr
    }
    fn field(s: &str) -> Box<Expr> {
        Box::new(Expr::Field(s.into()))
    }
    fn int(i: i64) -> Box<Expr> {
        Box::new(Expr::Number(Number::Int(i)))
    }
    fn cmp(op: CmpOp, l: Box<Expr>, r: Box<Expr>) -> Expr {
        Expr::Compare {
            op,
            left: l,
            right: r,
        }
    }

    #[test]
    fn parses_the_spec_examples() {
        assert_eq!(f("cate_id=2"), cmp(CmpOp::Eq, field("cate_id"), int(2)));
        assert_eq!(
            f("cate_id=2 AND price>10"),
            Expr::And(vec![
                cmp(CmpOp::Eq, field("cate_id"), int(2)),
                cmp(CmpOp::Gt, field("price"), int(10))
            ])
        );
        assert_eq!(
            f("tag=\"x\""),
            cmp(CmpOp::Eq, field("tag"), Box::new(Expr::Str("x".into())))
        );
        assert_eq!(
            f("in(f,\"1|2\")"),
            Expr::In {
                expr: field("f"),
                values: vec!["1".into(), "2".into()],
                negated: false
            }
        );
        assert_eq!(
            f("tag=\"x\" AND in(cate_id, \"1|2\")"),
            Expr::And(vec![
                cmp(CmpOp::Eq, field("tag"), Box::new(Expr::Str("x".into()))),
                Expr::In {
                    expr: field("cate_id"),
                    values: vec!["1".into(), "2".into()],
                    negated: false
                }
            ])
        );
        // LangChain writes numbers as `key op value` with spaces, strings as key="value".
        assert_eq!(
            f("price >= 1.5"),
            cmp(
                CmpOp::Ge,
                field("price"),
                Box::new(Expr::Number(Number::Float(1.5)))
            )
        );
        assert_eq!(f("cate_id>1"), cmp(CmpOp::Gt, field("cate_id"), int(1)));
    }

    #[test]
    fn precedence_and_operators() {
        assert_eq!(
            f("a=1 OR b=2 AND c=3"),
            Expr::Or(vec![
                cmp(CmpOp::Eq, field("a"), int(1)),
                Expr::And(vec![
                    cmp(CmpOp::Eq, field("b"), int(2)),
                    cmp(CmpOp::Eq, field("c"), int(3))
                ])
            ])
        );
        assert_eq!(
            f("not (a=1 or b!=-2)"),
            Expr::Not(Box::new(Expr::Or(vec![
                cmp(CmpOp::Eq, field("a"), int(1)),
                cmp(CmpOp::Ne, field("b"), int(-2))
            ])))
        );
        assert_eq!(
            f("(a+b)*2 <= 10"),
            cmp(
                CmpOp::Le,
                Box::new(Expr::Arith {
                    op: ArithOp::Mul,
                    left: Box::new(Expr::Arith {
                        op: ArithOp::Add,
                        left: field("a"),
                        right: field("b")
                    }),
                    right: int(2)
                }),
                int(10)
            )
        );
        assert_eq!(
            f("a&4=4"),
            cmp(
                CmpOp::Eq,
                Box::new(Expr::Arith {
                    op: ArithOp::BitAnd,
                    left: field("a"),
                    right: int(4)
                }),
                int(4)
            )
        );
        assert_eq!(
            f("notin(tag, \"a\")"),
            Expr::In {
                expr: field("tag"),
                values: vec!["a".into()],
                negated: true
            }
        );
        assert_eq!(
            f("fieldlen(tags)>0"),
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
            f("t=\"a \\\"q\\\" \\\\ 中文\""),
            cmp(
                CmpOp::Eq,
                field("t"),
                Box::new(Expr::Str("a \"q\" \\ 中文".into()))
            )
        );
        assert_eq!(
            f("x=1e3"),
            cmp(
                CmpOp::Eq,
                field("x"),
                Box::new(Expr::Number(Number::Float(1000.0)))
            )
        );
        assert_eq!(
            f("x=-(y)"),
            cmp(CmpOp::Eq, field("x"), Box::new(Expr::Neg(field("y"))))
        );
        assert_eq!(
            f("x=-9223372036854775807"),
            cmp(
                CmpOp::Eq,
                field("x"),
                Box::new(Expr::Number(Number::Int(-i64::MAX)))
            )
        );
        assert_eq!(
            f("x=18446744073709551616"),
            cmp(
                CmpOp::Eq,
                field("x"),
                Box::new(Expr::Number(Number::Float(1.8446744073709552e19)))
            )
        );
        assert_eq!(f("a=1 AND b=2").fields(), vec!["a", "b"]);
    }

    #[test]
    fn syntax_errors_say_where() {
        for (s, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("cate_id", "must be a condition"),
            ("a=1 AND", "ends too early"),
            ("a=1 b=2", "AND / OR"),
            ("a=", "ends too early"),
            ("(a=1", "missing ')'"),
            ("a=1)", "unexpected text"),
            ("a<b<c", "chained"),
            ("tag='x'", "double quotes"),
            ("tag=\"x", "unterminated"),
            ("a=1 AND 5", "joins conditions"),
            ("in(a)", "in(cate_id"),
            ("in(a, 1)", "in(cate_id"),
            ("a # 1", "unexpected character"),
            ("1abc=2", "may not start"),
            ("AND=1", "needs a condition"),
            ("NOT 5", "NOT applies"),
            ("(a=1)=(b=2)", "compare values"),
            ("(a=1)+2>1", "arithmetic"),
            ("f(a b)", "expected ','"),
            (")", "unexpected ')'"),
        ] {
            let e = Filter::parse(s).unwrap_err();
            assert_eq!(e.code, Code::FILTER_SYNTAX, "{s}");
            assert!(e.message.contains(needle), "{s}: {}", e.message);
            assert!(e.message.contains("at character"), "{s}: {}", e.message);
        }
        let deep = format!("{}a=1{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested"));
        assert!(Filter::parse(&"a=1 AND ".repeat(10_000)).is_err());
    }

    #[test]
    fn resolves_against_the_schema() {
        let schema = crate::push::tests::schema();
        let mut flt = Filter::parse("CATE_ID=2 AND in(Tags, \"a|b\") AND ns=\"x\"").unwrap();
        flt.resolve(&schema).unwrap();
        assert_eq!(flt.expr.fields(), vec!["cate_id", "tags", "ns"]);
        for (s, code) in [
            ("price>1", 6127),
            ("vector=1", 6127),
            ("ns=abc", 6135),
            ("abc=ns", 6135),
            ("ns=1", 6135),
            ("ns=1+2", 6135),
            ("-(cate_id*2)=ns", 6135),
            ("2.5<ns", 6135),
            ("cate_id=1 AND title!=-3", 6135),
            ("tags=7", 6135),
            ("ns+1=3", 6127),
            ("cate_id=1 AND 2*NS>1", 6127),
            ("-ns<0", 6127),
            ("(cate_id+(tags&1))=2", 6127),
        ] {
            let e = Filter::parse(s).unwrap().resolve(&schema).unwrap_err();
            assert_eq!(e.code.0, code, "{s}: {}", e.message);
        }
        // The message names the field, its type and the quoted constant to write instead.
        let e = Filter::parse("NS = 1")
            .unwrap()
            .resolve(&schema)
            .unwrap_err();
        assert!(
            e.message.contains("'ns' is STRING") && e.message.contains("ns=\"1\""),
            "{}",
            e.message
        );
        let e = Filter::parse("tags=7")
            .unwrap()
            .resolve(&schema)
            .unwrap_err();
        assert!(e.message.contains("MULTI_STRING"), "{}", e.message);
        // Quoted constants, fields on both sides and numbers against numeric fields pass; TEXT
        // compares whole.
        for ok in [
            "ns=\"1\"",
            "ns=title",
            "cate_id=1",
            "cate_id=\"1\"",
            "in(ns, \"1|2\")",
        ] {
            Filter::parse(ok).unwrap().resolve(&schema).unwrap();
        }
        Filter::parse("title=\"x\"")
            .unwrap()
            .resolve(&schema)
            .unwrap();
        let _ = json!(null);
    }

    #[test]
    fn sort_strings() {
        let keys = parse_sort("+id;-RANK").unwrap();
        assert_eq!(
            keys[0],
            SortKey {
                order: Order::Asc,
                key: SortExpr::Expr(Expr::Field("id".into()))
            }
        );
        assert_eq!(
            keys[1],
            SortKey {
                order: Order::Desc,
                key: SortExpr::Rank
            }
        );
        assert_eq!(parse_sort("price").unwrap()[0].order, Order::Desc);
        let keys = parse_sort("-(a+b);+f(x,\"a;b\")").unwrap();
        assert_eq!(keys.len(), 2);
        for bad in ["+id;;-RANK", "", "+", "-(a"] {
            assert_eq!(
                parse_sort(bad).unwrap_err().code,
                Code::SORT_SYNTAX,
                "{bad}"
            );
        }
        let mut keys = parse_sort("+CATE_ID").unwrap();
        resolve_sort(&mut keys, &crate::push::tests::schema()).unwrap();
        assert_eq!(keys[0].key, SortExpr::Expr(Expr::Field("cate_id".into())));
        let mut keys = parse_sort("+nope").unwrap();
        assert_eq!(
            resolve_sort(&mut keys, &crate::push::tests::schema())
                .unwrap_err()
                .code
                .0,
            6127
        );
        assert_eq!(
            parse_sort_expression("price", Order::Asc).unwrap().order,
            Order::Asc
        );
        assert_eq!(
            parse_sort_expression("rank", Order::Asc).unwrap().key,
            SortExpr::Rank
        );
    }
}
