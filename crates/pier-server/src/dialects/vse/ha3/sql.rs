//! The SQL form (wire spec §3.1, §3.3): `GET /query?sql=<"query=SELECT ...&&kvpair=k:v;...">`,
//! `POST /query?type=sql` and havenask's `GET /sql?query=SELECT ...&&kvpair=...`,
//! `POST /sql` / `POST /QrsService/searchSql` with `{"assemblyQuery": ...}`.
//!
//! pier reads a minimal SQL: `SELECT * | col, ... FROM table [WHERE cond] [ORDER BY col
//! [ASC|DESC], ...] [LIMIT n [OFFSET m]]`, where `cond` compares columns with numbers and
//! `'strings'` (`= != <> < <= > >=`), joined by `AND` / `OR` and parentheses, plus
//! `col [NOT] IN (...)` and `col BETWEEN a AND b`. It runs as a `/vector-service/fetch` scan of
//! the table (the condition as its ha3 filter, the order as its sort; primary key order without
//! one; 100 rows without a LIMIT). `MATCHINDEX('<vector index>', '<vectors>&n=10&sf=0.8')`,
//! ANDed at the top level of `WHERE`, makes it a `/vector-service/query` instead (the rest of the
//! condition its filter). Anything else is refused with a message naming it. The answer
//! is havenask's `json` (`sql_result` a JSON string) or `full_json` (`sql_result` an object)
//! format, chosen with `kvpair=formatType:...`.

use super::{OpenTable, invalid, table_names};
use pier_engine::Engine;
use pier_vse::{Code, FetchRequest, FieldType, Hit, QueryRequest, VseError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// The result formats pier writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SqlFormat {
    /// `json`: `sql_result` and `error_info` are JSON strings.
    Json,
    /// `full_json`: both are objects, plus `covered_percent`.
    FullJson,
}

/// An assembled SQL request: the statement and its `kvpair` options.
#[derive(Debug)]
pub(super) struct SqlRequest {
    sql: String,
    format: SqlFormat,
}

impl SqlRequest {
    /// Splits `query=<sql>&&kvpair=k:v;k:v` (a clause without a known name is the statement).
    pub(super) fn parse(assembly: &str) -> Result<SqlRequest, VseError> {
        let mut sql = None;
        let mut kvpairs = BTreeMap::new();
        for piece in pier_query::split_request(assembly) {
            let trimmed = piece.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(pairs) = trimmed.strip_prefix("kvpair=") {
                for pair in pairs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once(':').unwrap_or((pair, ""));
                    kvpairs.insert(k.trim().to_string(), v.trim().to_string());
                }
            } else {
                let text = trimmed.strip_prefix("query=").unwrap_or(trimmed);
                if sql.replace(text.to_string()).is_some() {
                    return Err(invalid(
                        "SQL: the request holds two statements (query= clauses): send one",
                    ));
                }
            }
        }
        let sql = sql.ok_or_else(|| {
            invalid("SQL: no statement: send query=SELECT ... FROM <table>&&kvpair=formatType:json")
        })?;
        let format = match kvpairs.get("formatType").map(String::as_str) {
            None | Some("" | "json") => SqlFormat::Json,
            Some("full_json") => SqlFormat::FullJson,
            Some(other) => {
                return Err(invalid(format!(
                    "SQL: formatType '{other}' is not supported by pier: use json or full_json"
                )));
            }
        };
        Ok(SqlRequest { sql, format })
    }

    /// The format requested (also for an error answer).
    pub(super) fn format(&self) -> SqlFormat {
        self.format
    }
}

/// The havenask answer format an unparsable request is answered in.
pub(super) fn format_of(assembly: &str) -> SqlFormat {
    if assembly.contains("formatType:full_json") {
        SqlFormat::FullJson
    } else {
        SqlFormat::Json
    }
}

/// Runs a statement; the answer is havenask's result JSON.
pub(super) fn run(
    engine: &Engine,
    request: &SqlRequest,
    started: Instant,
) -> Result<Value, VseError> {
    let select = Select::parse(&request.sql)?;
    let table = super::open_table(engine, &select.table).ok_or_else(|| {
        VseError::new(
            Code::RESOURCE_NOT_FOUND,
            format!(
                "SQL: table '{}' does not exist; the tables are: {}",
                select.table,
                table_names(engine).join(", ")
            ),
        )
    })?;
    let columns: Vec<String> = match &select.columns {
        None => table
            .schema
            .fields
            .iter()
            .filter(|f| !table.schema.is_vector_field(&f.name))
            .map(|f| f.name.clone())
            .collect(),
        Some(cols) => cols.clone(),
    };
    let mut types = Vec::new();
    for c in &columns {
        let field = table.schema.field(c).ok_or_else(|| {
            VseError::new(
                Code::BAD_FIELD,
                format!(
                    "SQL: table '{}' has no column '{c}'; its columns: {}",
                    table.schema.name,
                    table
                        .schema
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        types.push(column_type(&table, &field.name, field.field_type));
    }
    let include_vector = columns.iter().any(|c| table.schema.is_vector_field(c));
    let hits = match &select.matchindex {
        None => scan(engine, &table, &select, &columns, include_vector)?,
        Some((index, term)) => nearest(
            engine,
            &table,
            &select,
            index,
            term,
            &columns,
            include_vector,
        )?,
    };
    let data: Vec<Value> = hits
        .iter()
        .map(|hit| {
            Value::Array(
                columns
                    .iter()
                    .map(|c| {
                        if *c == table.schema.primary_key {
                            hit.id.clone()
                        } else if table.schema.is_vector_field(c) {
                            hit.vector.as_ref().map_or(Value::Null, |v| json!(v))
                        } else {
                            hit.fields.get(c).cloned().unwrap_or(Value::Null)
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    let result = json!({"column_name": columns, "column_type": types, "data": data});
    Ok(answer(request.format, started, data.len(), result, None))
}

/// The rows of a plain SELECT: a `/vector-service/fetch` scan.
fn scan(
    engine: &Engine,
    table: &OpenTable,
    select: &Select,
    columns: &[String],
    include_vector: bool,
) -> Result<Vec<Hit>, VseError> {
    let mut body = json!({
        "tableName": table.schema.name,
        "outputFields": columns,
        "includeVector": include_vector,
        "offset": select.offset,
    });
    if let Some(limit) = select.limit {
        body["limit"] = json!(limit);
    }
    if let Some(filter) = &select.filter {
        body["filter"] = Value::String(filter.clone());
    }
    if !select.order.is_empty() {
        body["sort"] = Value::String(select.order.clone());
    }
    let fetch = FetchRequest::parse(body.to_string().as_bytes()).map_err(sql_error)?;
    crate::dialects::vse::query::fetch(engine, fetch).map_err(sql_error)
}

/// The rows of a SELECT with `MATCHINDEX('<vector index>', '<vectors>&n=..&sf=..')`: a
/// `/vector-service/query` (the rest of WHERE its filter, ORDER BY its sort; best first
/// without one), top N `n` (default OFFSET + LIMIT), then paged with OFFSET / LIMIT.
fn nearest(
    engine: &Engine,
    table: &OpenTable,
    select: &Select,
    index: &str,
    term: &str,
    columns: &[String],
    include_vector: bool,
) -> Result<Vec<Hit>, VseError> {
    let index = super::vector_index_named(table, index).ok_or_else(|| {
        VseError::new(
            Code::INDEX_NOT_FOUND,
            format!(
                "SQL: MATCHINDEX('{index}', ...): table '{}' has no vector index '{index}'; its vector indexes: {}",
                table.schema.name,
                table
                    .schema
                    .vector_indexes
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let offset = usize::try_from(select.offset).unwrap_or(usize::MAX);
    let limit = select
        .limit
        .map_or(pier_vse::query::DEFAULT_FETCH_LIMIT, |l| {
            usize::try_from(l).unwrap_or(usize::MAX)
        });
    let mut body =
        super::vector::match_index_body(table, &index, term, offset.saturating_add(limit))
            .map_err(sql_error)?;
    body["outputFields"] = json!(columns);
    body["includeVector"] = json!(include_vector);
    if let Some(filter) = &select.filter {
        body["filter"] = Value::String(filter.clone());
    }
    if !select.order.is_empty() {
        body["sort"] = Value::String(select.order.clone());
    }
    let request = QueryRequest::parse(body.to_string().as_bytes()).map_err(sql_error)?;
    let hits = crate::dialects::vse::query::query(engine, request).map_err(sql_error)?;
    Ok(hits.into_iter().skip(offset).take(limit).collect())
}

fn sql_error(mut e: VseError) -> VseError {
    e.message = format!("SQL: {}", e.message);
    e
}

/// A column's havenask type: `int64`, `float`, `multi_char` (a string), `multi_int32`
/// (a multi-value field), `multi_multi_char` (several strings).
fn column_type(t: &OpenTable, name: &str, field_type: FieldType) -> String {
    if t.schema.is_vector_field(name) {
        return "multi_float".into();
    }
    match field_type {
        FieldType::String | FieldType::Text => "multi_char".into(),
        FieldType::MultiString => "multi_multi_char".into(),
        other => other.name().to_ascii_lowercase(),
    }
}

/// havenask's result JSON: `error` None on success.
pub(super) fn answer(
    format: SqlFormat,
    started: Instant,
    rows: usize,
    result: Value,
    error: Option<&VseError>,
) -> Value {
    let (code, name, message) = match error {
        None => (0, "ERROR_NONE", String::new()),
        Some(e) => (e.code.0, "ERROR_SQL", e.message.clone()),
    };
    let total_time = started.elapsed().as_secs_f64();
    match format {
        SqlFormat::Json => json!({
            "error_info": json!({"ErrorCode": code, "Error": name, "Message": message}).to_string(),
            "format_type": "json",
            "row_count": rows,
            "search_info": "{}",
            "sql_result": result.to_string(),
            "total_time": total_time,
            "trace": [],
        }),
        SqlFormat::FullJson => json!({
            "error_info": {"ErrorCode": code, "Error": name, "Message": message},
            "format_type": "full_json",
            "covered_percent": 1.0,
            "row_count": rows,
            "search_info": {},
            "sql_result": result,
            "total_time": total_time,
            "trace": [],
        }),
    }
}

/// An empty `sql_result`.
pub(super) fn empty_result() -> Value {
    json!({"column_name": [], "column_type": [], "data": []})
}

/// A SQL token.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A name or keyword (as written).
    Word(String),
    /// A number, as written.
    Num(String),
    /// A `'string'`, unescaped.
    Str(String),
    /// An operator or punctuation: `= != <> < <= > >= ( ) , * ;`.
    Sym(&'static str),
}

fn tokenize(sql: &str) -> Result<Vec<Tok>, VseError> {
    let mut out = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if c == '"' || c == '`' {
            // A quoted identifier.
            let end = chars[i + 1..].iter().position(|&x| x == c).ok_or_else(|| {
                invalid(format!("SQL: the identifier opened with {c} is not closed"))
            })?;
            out.push(Tok::Word(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c.is_ascii_digit()
            || (c == '-' || c == '.') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || (matches!(chars[i], '+' | '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if text.parse::<f64>().is_err() {
                return Err(invalid(format!("SQL: '{text}' is not a number")));
            }
            out.push(Tok::Num(text));
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(invalid("SQL: a 'string' is not closed")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = match two.as_str() {
                "!=" => Some("!="),
                "<>" => Some("<>"),
                "<=" => Some("<="),
                ">=" => Some(">="),
                _ => None,
            };
            if let Some(s) = sym {
                out.push(Tok::Sym(s));
                i += 2;
                continue;
            }
            out.push(Tok::Sym(match c {
                '=' => "=",
                '<' => "<",
                '>' => ">",
                '(' => "(",
                ')' => ")",
                ',' => ",",
                '*' => "*",
                ';' => ";",
                other => {
                    return Err(invalid(format!(
                        "SQL: unexpected character '{other}': pier's SQL takes SELECT cols FROM table [WHERE ...] [ORDER BY ...] [LIMIT n [OFFSET m]]"
                    )));
                }
            }));
            i += 1;
        }
    }
    Ok(out)
}

/// A parsed `SELECT`.
#[derive(Debug, PartialEq)]
struct Select {
    /// The selected columns (None: `*`).
    columns: Option<Vec<String>>,
    table: String,
    /// The condition in ha3 filter syntax.
    filter: Option<String>,
    /// The order in ha3 sort syntax (`+a;-b`), empty without ORDER BY.
    order: String,
    limit: Option<u64>,
    offset: u64,
    /// `MATCHINDEX('<vector index>', '<vectors>&n=..&sf=..')`, ANDed with the filter.
    matchindex: Option<(String, String)>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

/// The words that end a clause.
const CLAUSE_WORDS: [&str; 6] = ["FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP"];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_word(&mut self, w: &str) -> Result<(), VseError> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {w}")))
        }
    }

    fn unexpected(&self, what: &str) -> VseError {
        let near = match self.peek() {
            None => "the end".to_string(),
            Some(t) => format!("'{}'", show(t)),
        };
        invalid(format!(
            "SQL: {what} near {near}; pier's SQL takes SELECT * | col, ... FROM table [WHERE cond] [ORDER BY col [ASC|DESC], ...] [LIMIT n [OFFSET m]]"
        ))
    }

    fn ident(&mut self, what: &str) -> Result<String, VseError> {
        match self.peek() {
            Some(Tok::Word(w)) if !CLAUSE_WORDS.iter().any(|c| c.eq_ignore_ascii_case(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    fn number(&mut self, what: &str) -> Result<u64, VseError> {
        match self.next() {
            Some(Tok::Num(n)) => n
                .parse()
                .map_err(|_| invalid(format!("SQL: {what} must be a whole number, got {n}"))),
            _ => {
                self.pos -= 1;
                Err(self.unexpected(&format!("expected a number after {what}")))
            }
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) | Tok::Num(w) => w.clone(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Sym(s) => s.to_string(),
    }
}

impl Select {
    fn parse(sql: &str) -> Result<Select, VseError> {
        let mut p = Parser {
            toks: tokenize(sql)?,
            pos: 0,
        };
        if !p.eat_word("SELECT") {
            return Err(p.unexpected("only SELECT statements are supported"));
        }
        let columns = if matches!(p.peek(), Some(Tok::Sym("*"))) {
            p.pos += 1;
            None
        } else {
            let mut cols = vec![p.ident("a column name or *")?];
            while matches!(p.peek(), Some(Tok::Sym(","))) {
                p.pos += 1;
                cols.push(p.ident("a column name")?);
            }
            Some(cols)
        };
        if matches!(p.peek(), Some(Tok::Sym("("))) {
            return Err(
                p.unexpected("functions and aggregates in the select list are not supported")
            );
        }
        p.expect_word("FROM")?;
        let table = p.ident("a table name")?;
        let mut matchindex = None;
        let filter = if p.eat_word("WHERE") {
            condition(&mut p, &mut matchindex)?
        } else {
            None
        };
        let mut order = Vec::new();
        if p.eat_word("ORDER") {
            p.expect_word("BY")?;
            loop {
                let col = p.ident("a column name")?;
                let sign = if p.eat_word("DESC") {
                    '-'
                } else {
                    p.eat_word("ASC");
                    '+'
                };
                order.push(format!("{sign}{col}"));
                if !matches!(p.peek(), Some(Tok::Sym(","))) {
                    break;
                }
                p.pos += 1;
            }
        }
        let mut limit = None;
        let mut offset = 0;
        if p.eat_word("LIMIT") {
            limit = Some(p.number("LIMIT")?);
            if p.eat_word("OFFSET") {
                offset = p.number("OFFSET")?;
            }
        }
        if matches!(p.peek(), Some(Tok::Sym(";"))) {
            p.pos += 1;
        }
        if p.peek().is_some() {
            return Err(
                p.unexpected("unsupported SQL (GROUP BY, JOIN, HAVING, sub-queries ... are not)")
            );
        }
        Ok(Select {
            columns,
            table,
            filter,
            order: order.join(";"),
            limit,
            offset,
            matchindex,
        })
    }
}

/// The `WHERE` condition, rewritten in ha3 filter syntax, up to ORDER / LIMIT / the end
/// (None when it is only a `MATCHINDEX`, which goes to `matchindex`).
fn condition(
    p: &mut Parser,
    matchindex: &mut Option<(String, String)>,
) -> Result<Option<String>, VseError> {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut top_level_or = false;
    let start = p.pos;
    while let Some(tok) = p.peek().cloned() {
        match tok {
            Tok::Word(w)
                if ["ORDER", "LIMIT", "GROUP", "OFFSET"]
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(&w))
                    && depth == 0 =>
            {
                break;
            }
            Tok::Sym(";") => break,
            Tok::Word(w) if w.eq_ignore_ascii_case("AND") || w.eq_ignore_ascii_case("OR") => {
                top_level_or |= depth == 0 && w.eq_ignore_ascii_case("OR");
                out.push_str(&format!(" {} ", w.to_ascii_uppercase()));
                p.pos += 1;
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("MATCHINDEX") => {
                if depth > 0 || matchindex.is_some() || !(out.is_empty() || out.ends_with(" AND "))
                {
                    return Err(p.unexpected(
                        "MATCHINDEX goes once at the top level of WHERE, joined to the rest with AND",
                    ));
                }
                p.pos += 1;
                *matchindex = Some(match_args(p)?);
                if !p.eat_word("AND")
                    && !matches!(p.peek(), None | Some(Tok::Sym(";")))
                    && !["ORDER", "LIMIT"].iter().any(|w| p.is_word(w))
                {
                    return Err(p.unexpected("expected AND after MATCHINDEX(...)"));
                }
            }
            Tok::Word(w)
                if ["NOT", "LIKE", "IS", "NULL", "QUERY", "EXISTS", "SELECT"]
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(&w)) =>
            {
                return Err(p.unexpected(&format!("{} is not supported in WHERE (use = != < <= > >=, IN, NOT IN, BETWEEN, AND, OR)", w.to_ascii_uppercase())));
            }
            Tok::Word(col) => {
                p.pos += 1;
                let negated = p.eat_word("NOT");
                if p.eat_word("IN") {
                    out.push_str(&in_list(p, &col, negated)?);
                } else if negated {
                    return Err(p.unexpected("NOT goes with IN here (col NOT IN (...))"));
                } else if p.eat_word("BETWEEN") {
                    let low = value(p)?;
                    p.expect_word("AND")?;
                    let high = value(p)?;
                    out.push_str(&format!("({col}>={low} AND {col}<={high})"));
                } else {
                    out.push_str(&col);
                }
            }
            Tok::Num(n) => {
                out.push_str(&n);
                p.pos += 1;
            }
            Tok::Str(s) => {
                out.push_str(&quoted(&s));
                p.pos += 1;
            }
            Tok::Sym("(") => {
                depth += 1;
                out.push('(');
                p.pos += 1;
            }
            Tok::Sym(")") => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| p.unexpected("unbalanced ')'"))?;
                out.push(')');
                p.pos += 1;
            }
            Tok::Sym(op @ ("=" | "!=" | "<" | "<=" | ">" | ">=")) => {
                out.push_str(op);
                p.pos += 1;
            }
            Tok::Sym("<>") => {
                out.push_str("!=");
                p.pos += 1;
            }
            Tok::Sym(_) => return Err(p.unexpected("unexpected symbol in WHERE")),
        }
    }
    if p.pos == start {
        return Err(p.unexpected("WHERE needs a condition"));
    }
    if matchindex.is_some() && top_level_or {
        return Err(invalid(
            "SQL: MATCHINDEX is ANDed with the whole rest of WHERE: put conditions joined by OR in parentheses",
        ));
    }
    let out = out.strip_suffix(" AND ").unwrap_or(&out);
    Ok((!out.is_empty()).then(|| out.to_string()))
}

/// `('<index>', '<query>')` after MATCHINDEX.
fn match_args(p: &mut Parser) -> Result<(String, String), VseError> {
    let mut args = Vec::new();
    for expected in ["(", ",", ")"] {
        match p.next() {
            Some(Tok::Sym(s)) if s == expected => {}
            _ => {
                p.pos -= 1;
                return Err(
                    p.unexpected("expected MATCHINDEX('<vector index>', '0.1,0.2,...&n=10')")
                );
            }
        }
        if expected == ")" {
            break;
        }
        match p.next() {
            Some(Tok::Str(s)) => args.push(s),
            _ => {
                p.pos -= 1;
                return Err(p.unexpected(
                    "expected MATCHINDEX('<vector index>', '0.1,0.2,...&n=10') with 'quoted' arguments",
                ));
            }
        }
    }
    let text = args.pop().unwrap_or_default();
    Ok((args.pop().unwrap_or_default(), text))
}

/// A constant: a number, or a string in ha3's double quotes.
fn value(p: &mut Parser) -> Result<String, VseError> {
    match p.next() {
        Some(Tok::Num(n)) => Ok(n),
        Some(Tok::Str(s)) => Ok(quoted(&s)),
        _ => {
            p.pos -= 1;
            Err(p.unexpected("expected a number or a 'string'"))
        }
    }
}

/// `(a, b, ...)` after `col [NOT] IN` as `in(col, "a|b")` / `notin(...)`.
fn in_list(p: &mut Parser, col: &str, negated: bool) -> Result<String, VseError> {
    if !matches!(p.next(), Some(Tok::Sym("("))) {
        p.pos -= 1;
        return Err(p.unexpected("expected ( after IN"));
    }
    let mut items = Vec::new();
    loop {
        match p.next() {
            Some(Tok::Num(n)) => items.push(n),
            Some(Tok::Str(s)) if !s.contains('|') => items.push(s),
            Some(Tok::Str(_)) => {
                return Err(invalid(
                    "SQL: IN values cannot contain '|' (ha3's list separator)",
                ));
            }
            _ => {
                p.pos -= 1;
                return Err(p.unexpected("expected a number or a 'string' in IN (...)"));
            }
        }
        match p.next() {
            Some(Tok::Sym(",")) => {}
            Some(Tok::Sym(")")) => break,
            _ => {
                p.pos -= 1;
                return Err(p.unexpected("expected , or ) in IN (...)"));
            }
        }
    }
    let f = if negated { "notin" } else { "in" };
    Ok(format!("{f}({col}, {})", quoted(&items.join("|"))))
}

/// `s` as a ha3 double-quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_become_filters_sorts_and_pages() {
        let s = Select::parse(
            "select id, title from docs where cate_id = 1 and (title <> 'it''s' or id in (1, 2)) order by id desc, cate_id limit 10 offset 5;",
        )
        .unwrap();
        assert_eq!(
            s,
            Select {
                columns: Some(vec!["id".into(), "title".into()]),
                table: "docs".into(),
                filter: Some("cate_id=1 AND (title!=\"it's\" OR in(id, \"1|2\"))".into()),
                order: "-id;+cate_id".into(),
                limit: Some(10),
                offset: 5,
                matchindex: None,
            }
        );
        let s = Select::parse("SELECT * FROM t WHERE x NOT IN ('a','b') AND y BETWEEN -1.5 AND 2")
            .unwrap();
        assert_eq!(s.columns, None);
        assert_eq!(
            s.filter.as_deref(),
            Some("notin(x, \"a|b\") AND (y>=-1.5 AND y<=2)")
        );
        assert_eq!((s.limit, s.offset, s.order.as_str()), (None, 0, ""));
    }

    #[test]
    fn matchindex_is_taken_out_of_the_filter() {
        let s = Select::parse(
            "SELECT id FROM t WHERE cate_id = 1 AND MATCHINDEX('v', '0.1,0.2&n=5') AND (a = 1 OR b = 2) LIMIT 3",
        )
        .unwrap();
        assert_eq!(s.matchindex, Some(("v".into(), "0.1,0.2&n=5".into())));
        assert_eq!(s.filter.as_deref(), Some("cate_id=1 AND (a=1 OR b=2)"));
        let s = Select::parse("SELECT id FROM t WHERE MATCHINDEX('v', '1') ORDER BY id").unwrap();
        assert_eq!((s.filter, s.order.as_str()), (None, "+id"));
        let s = Select::parse("SELECT id FROM t WHERE a = 1 AND MATCHINDEX('v', '1')").unwrap();
        assert_eq!(s.filter.as_deref(), Some("a=1"));
    }

    #[test]
    fn unsupported_sql_is_named() {
        for (sql, hint) in [
            ("UPDATE t SET a = 1", "only SELECT"),
            ("SELECT count(*) FROM t", "functions"),
            ("SELECT a FROM t GROUP BY a", "GROUP BY"),
            ("SELECT a FROM t WHERE a LIKE 'x%'", "LIKE is not supported"),
            (
                "SELECT a FROM t WHERE a = 1 OR MATCHINDEX('v', '1,2')",
                "MATCHINDEX goes once at the top level",
            ),
            (
                "SELECT a FROM t WHERE MATCHINDEX('v', '1,2') AND a = 1 OR b = 2",
                "put conditions joined by OR in parentheses",
            ),
            (
                "SELECT a FROM t WHERE MATCHINDEX(v, '1,2')",
                "'quoted' arguments",
            ),
            ("SELECT a FROM t LIMIT x", "expected a number after LIMIT"),
            ("SELECT a FROM t WHERE a = 'x", "not closed"),
            ("SELECT a FROM", "expected a table name"),
            ("SELECT a FROM t WHERE (a = 1", ""),
        ] {
            match Select::parse(sql) {
                Err(e) => assert!(e.message.contains(hint), "{sql}: {}", e.message),
                Ok(s) if hint.is_empty() => assert_eq!(s.filter.as_deref(), Some("(a=1")),
                Ok(s) => panic!("{sql}: {s:?}"),
            }
        }
    }

    /// Statements cut and mangled every which way: the parser answers, never panics.
    #[test]
    fn never_panics_on_malformed_statements() {
        let seeds = [
            "SELECT id, \"title\" FROM docs WHERE cate_id = 1 AND (title <> 'it''s' OR id IN (1, 2)) ORDER BY id DESC LIMIT 10 OFFSET 5;",
            "select * from t where x not in ('a','b') and y between -1.5e3 and .2 and MATCHINDEX('v', '1,2&n=3')",
        ];
        for seed in seeds {
            let chars: Vec<char> = seed.chars().collect();
            for i in 0..=chars.len() {
                let head: String = chars[..i].iter().collect();
                let tail: String = chars[i..].iter().collect();
                let mut without = chars.clone();
                if i < chars.len() {
                    without.remove(i);
                }
                let without: String = without.into_iter().collect();
                for text in [head, tail, without] {
                    let _ = Select::parse(&text);
                    let _ = SqlRequest::parse(&text);
                }
            }
        }
    }

    #[test]
    fn assemblies_split_into_statement_and_format() {
        let r = SqlRequest::parse(
            "query=select * from test where id=1&&kvpair=__ops_request_id:9f59;formatType:full_json;timeout:1000",
        )
        .unwrap();
        assert_eq!(r.sql, "select * from test where id=1");
        assert_eq!(r.format, SqlFormat::FullJson);
        let r = SqlRequest::parse("select 1 from t").unwrap();
        assert_eq!(
            (r.sql.as_str(), r.format),
            ("select 1 from t", SqlFormat::Json)
        );
        let e = SqlRequest::parse("query=select a from t&&kvpair=formatType:string").unwrap_err();
        assert!(e.message.contains("formatType 'string'"), "{}", e.message);
    }
}
