//! The synced table's columns, read from `information_schema` (the binlog only numbers them).

use crate::error::SetupProblem;
use crate::filter::Filter;
use mysql_async::binlog::events::TableMapEvent;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::*;
use std::collections::BTreeMap;

/// Character set of a text column, for decoding binlog bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4 / utf8mb3 / utf8 / ascii.
    Utf8,
    /// MySQL's latin1 (which is Windows-1252).
    Latin1,
}

/// How a column's values are mapped to JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// TINYINT..BIGINT (`bits` = 8, 16, 24, 32, 64) → JSON integer.
    Int {
        /// Width in bits.
        bits: u8,
        /// UNSIGNED.
        unsigned: bool,
    },
    /// DECIMAL/NUMERIC → JSON string with the exact digits, e.g. `"9.99"`.
    Decimal,
    /// FLOAT → JSON number (shortest decimal form of the f32).
    Float,
    /// DOUBLE → JSON number.
    Double,
    /// BIT(n) → JSON integer.
    Bit,
    /// YEAR → JSON integer (0 for `0000`).
    Year,
    /// DATE → epoch milliseconds of midnight UTC; zero dates → null.
    Date,
    /// DATETIME → epoch milliseconds, the value read as UTC; zero dates → null.
    DateTime,
    /// TIMESTAMP → epoch milliseconds; zero → null.
    Timestamp,
    /// TIME → string `[-]HH:MM:SS[.fraction]` with the column's fractional digits.
    Time {
        /// Fractional second digits (0..6).
        fsp: u8,
    },
    /// CHAR/VARCHAR/TEXT → JSON string.
    Text {
        /// Column charset.
        charset: Charset,
        /// CHAR (binlog strips trailing spaces, so does SELECT).
        fixed: bool,
    },
    /// BINARY/VARBINARY/BLOB → JSON string: the bytes as UTF-8 when valid, else standard base64.
    Binary {
        /// BINARY(n): values are zero-padded to n bytes.
        pad_to: Option<usize>,
    },
    /// JSON (MySQL's binary JSON type) → JSON text (compact serialization). MariaDB's JSON is
    /// a LONGTEXT and arrives as [`ColumnKind::Text`] with the text as stored.
    Json,
    /// ENUM → its label string ("" for the invalid value 0).
    Enum(Vec<String>),
    /// SET → its labels joined with `,`.
    Set(Vec<String>),
}

/// One column of the synced table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// `information_schema.COLUMNS.COLUMN_TYPE`, e.g. `int(10) unsigned`.
    pub column_type: String,
    /// How values are mapped.
    pub kind: ColumnKind,
}

/// The synced table as the source sees it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// All columns in ordinal order (the binlog's column order).
    pub columns: Vec<ColumnInfo>,
    /// Indexes into `columns` of the primary key, in key order.
    pub pk: Vec<usize>,
    /// Delivered columns: (index into `columns`, pier field name).
    pub output: Vec<(usize, String)>,
    pub(crate) filter: Option<Filter>,
    pub(crate) pk_separator: String,
}

impl TableInfo {
    /// `db.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

pub(crate) fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

pub(crate) fn parse_labels(column_type: &str) -> Vec<String> {
    // enum('a','b''c') / set('x','y')
    let Some(start) = column_type.find('(') else {
        return vec![];
    };
    let body = &column_type[start + 1..];
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') | None => break,
                    Some('\\') => {
                        if let Some(n) = chars.next() {
                            s.push(n);
                        }
                    }
                    Some(x) => s.push(x),
                }
            }
            out.push(s);
        } else if c == ')' {
            break;
        }
    }
    out
}

fn kind_of(
    data_type: &str,
    column_type: &str,
    charset: Option<&str>,
    octet_len: Option<u64>,
    fsp: Option<u64>,
) -> Result<ColumnKind, String> {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    let int = |bits| Ok(ColumnKind::Int { bits, unsigned });
    match data_type {
        "tinyint" => int(8),
        "smallint" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" => int(64),
        "decimal" | "numeric" => Ok(ColumnKind::Decimal),
        "float" => Ok(ColumnKind::Float),
        "double" | "real" | "double precision" => Ok(ColumnKind::Double),
        "bit" => Ok(ColumnKind::Bit),
        "year" => Ok(ColumnKind::Year),
        "date" => Ok(ColumnKind::Date),
        "datetime" => Ok(ColumnKind::DateTime),
        "timestamp" => Ok(ColumnKind::Timestamp),
        "time" => Ok(ColumnKind::Time {
            fsp: fsp.unwrap_or(0).min(6) as u8,
        }),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
            let cs = charset.unwrap_or("utf8mb4").to_ascii_lowercase();
            let charset = match cs.as_str() {
                "utf8mb4" | "utf8mb3" | "utf8" | "ascii" => Charset::Utf8,
                "latin1" => Charset::Latin1,
                "binary" => {
                    return Ok(ColumnKind::Binary { pad_to: None });
                }
                other => {
                    return Err(format!(
                        "character set {other} is not supported (supported: utf8mb4, utf8mb3, ascii, latin1)"
                    ));
                }
            };
            Ok(ColumnKind::Text {
                charset,
                fixed: data_type == "char",
            })
        }
        "binary" => Ok(ColumnKind::Binary {
            pad_to: octet_len.map(|n| n as usize),
        }),
        "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            Ok(ColumnKind::Binary { pad_to: None })
        }
        "json" => Ok(ColumnKind::Json),
        "enum" => Ok(ColumnKind::Enum(parse_labels(column_type))),
        "set" => Ok(ColumnKind::Set(parse_labels(column_type))),
        other => Err(format!("type {other} is not supported")),
    }
}

/// Read the table's columns and primary key. Problems (missing table, no primary key, mapped
/// columns that do not exist, unsupported types of delivered columns, bad filter) are appended
/// to `problems`; `None` when the table cannot be used at all.
pub(crate) async fn load_table(
    conn: &mut mysql_async::Conn,
    cfg: &crate::SourceConfig,
    problems: &mut Vec<SetupProblem>,
) -> Result<Option<TableInfo>, mysql_async::Error> {
    type ColRow = (
        String,
        String,
        String,
        Option<String>,
        Option<u64>,
        Option<u64>,
    );
    let rows: Vec<ColRow> = conn
        .exec(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(LOWER(DATA_TYPE) AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
             CAST(CHARACTER_SET_NAME AS CHAR), CHARACTER_OCTET_LENGTH, DATETIME_PRECISION \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (&cfg.database, &cfg.table),
        )
        .await?;
    let qualified = format!("{}.{}", cfg.database, cfg.table);
    if rows.is_empty() {
        problems.push(SetupProblem {
            what: format!("table {qualified} does not exist (or the user cannot see it)"),
            fix: format!(
                "create the table, or GRANT SELECT ON {}.{} TO the sync user",
                quote_ident(&cfg.database),
                quote_ident(&cfg.table)
            ),
        });
        return Ok(None);
    }
    let pk_names: Vec<String> = conn
        .exec(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
             ORDER BY ORDINAL_POSITION",
            (&cfg.database, &cfg.table),
        )
        .await?;

    let mut columns = Vec::with_capacity(rows.len());
    let mut kind_errors: BTreeMap<String, String> = BTreeMap::new();
    for (name, data_type, column_type, charset, octet, fsp) in rows {
        let kind = match kind_of(&data_type, &column_type, charset.as_deref(), octet, fsp) {
            Ok(k) => k,
            Err(e) => {
                kind_errors.insert(name.clone(), e);
                // Placeholder; only a problem if the column is delivered or filtered on.
                ColumnKind::Binary { pad_to: None }
            }
        };
        columns.push(ColumnInfo {
            name,
            column_type,
            kind,
        });
    }
    let index_of = |n: &str| columns.iter().position(|c| c.name.eq_ignore_ascii_case(n));
    let mut ok = true;
    let mut pk = Vec::new();
    for n in &pk_names {
        match index_of(n) {
            Some(i) => pk.push(i),
            None => ok = false,
        }
    }
    if pk.is_empty() {
        problems.push(SetupProblem {
            what: format!("table {qualified} has no PRIMARY KEY; rows cannot be identified"),
            fix: format!(
                "ALTER TABLE {}.{} ADD PRIMARY KEY (...)",
                quote_ident(&cfg.database),
                quote_ident(&cfg.table)
            ),
        });
        ok = false;
    }
    let mut output = Vec::new();
    if cfg.fields.is_empty() {
        for (i, c) in columns.iter().enumerate() {
            output.push((i, c.name.clone()));
        }
    } else {
        for (col, field) in &cfg.fields {
            match index_of(col) {
                Some(i) => output.push((i, field.clone())),
                None => {
                    problems.push(SetupProblem {
                        what: format!("mapped column '{col}' does not exist in {qualified}"),
                        fix: format!(
                            "use one of: {}",
                            columns
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                    ok = false;
                }
            }
        }
        output.sort_by_key(|(i, _)| *i);
    }
    let filter = match &cfg.filter {
        Some(f) if !f.trim().is_empty() => match Filter::parse(f, &columns) {
            Ok(f) => Some(f),
            Err(e) => {
                problems.push(SetupProblem {
                    what: format!("row filter {f:?} is invalid: {e}"),
                    fix: "write conjunctions of `column op literal` (op: = != <> < <= > >=, or IS [NOT] NULL), joined by AND".into(),
                });
                ok = false;
                None
            }
        },
        _ => None,
    };
    let mut used: Vec<usize> = output.iter().map(|(i, _)| *i).collect();
    used.extend(pk.iter().copied());
    if let Some(f) = &filter {
        used.extend(f.columns());
    }
    used.sort_unstable();
    used.dedup();
    for i in used {
        if let Some(e) = kind_errors.get(&columns[i].name) {
            problems.push(SetupProblem {
                what: format!("column '{}' of {qualified}: {e}", columns[i].name),
                fix: "leave the column out of `fields` (map only supported columns) or change its type (e.g. to utf8mb4 text)".into(),
            });
            ok = false;
        }
    }
    Ok(ok.then(|| TableInfo {
        database: cfg.database.clone(),
        table: cfg.table.clone(),
        columns,
        pk,
        output,
        filter,
        pk_separator: cfg.pk_separator.clone(),
    }))
}

/// Check a binlog table map against the columns from `information_schema`. `Err` says what
/// differs (the table changed in a way this reader does not know about).
pub(crate) fn check_table_map(info: &TableInfo, tme: &TableMapEvent<'_>) -> Result<(), String> {
    let n = tme.columns_count() as usize;
    if n != info.columns.len() {
        return Err(format!(
            "binlog row events have {n} columns but information_schema lists {}",
            info.columns.len()
        ));
    }
    use ColumnType::*;
    for (i, col) in info.columns.iter().enumerate() {
        let ty = match tme.get_column_type(i) {
            Ok(Some(t)) => t,
            _ => return Err(format!("column #{i} ('{}'): unknown binlog type", col.name)),
        };
        let ok = match &col.kind {
            ColumnKind::Int { bits, .. } => matches!(
                (bits, ty),
                (8, MYSQL_TYPE_TINY)
                    | (16, MYSQL_TYPE_SHORT)
                    | (24, MYSQL_TYPE_INT24)
                    | (32, MYSQL_TYPE_LONG)
                    | (64, MYSQL_TYPE_LONGLONG)
            ),
            ColumnKind::Decimal => ty == MYSQL_TYPE_NEWDECIMAL,
            ColumnKind::Float => ty == MYSQL_TYPE_FLOAT,
            ColumnKind::Double => ty == MYSQL_TYPE_DOUBLE,
            ColumnKind::Bit => ty == MYSQL_TYPE_BIT,
            ColumnKind::Year => ty == MYSQL_TYPE_YEAR,
            ColumnKind::Date => matches!(ty, MYSQL_TYPE_NEWDATE | MYSQL_TYPE_DATE),
            ColumnKind::DateTime => matches!(ty, MYSQL_TYPE_DATETIME2 | MYSQL_TYPE_DATETIME),
            ColumnKind::Timestamp => matches!(ty, MYSQL_TYPE_TIMESTAMP2 | MYSQL_TYPE_TIMESTAMP),
            ColumnKind::Time { .. } => matches!(ty, MYSQL_TYPE_TIME2 | MYSQL_TYPE_TIME),
            ColumnKind::Text { .. } | ColumnKind::Binary { .. } => matches!(
                ty,
                MYSQL_TYPE_VARCHAR
                    | MYSQL_TYPE_VAR_STRING
                    | MYSQL_TYPE_STRING
                    | MYSQL_TYPE_BLOB
                    | MYSQL_TYPE_TINY_BLOB
                    | MYSQL_TYPE_MEDIUM_BLOB
                    | MYSQL_TYPE_LONG_BLOB
                    | MYSQL_TYPE_GEOMETRY
            ),
            ColumnKind::Json => ty == MYSQL_TYPE_JSON,
            ColumnKind::Enum(_) => ty == MYSQL_TYPE_ENUM,
            ColumnKind::Set(_) => ty == MYSQL_TYPE_SET,
        };
        if !ok {
            return Err(format!(
                "column #{i} ('{}', {}) arrives in the binlog as {ty:?}",
                col.name, col.column_type
            ));
        }
    }
    // With binlog_row_metadata=FULL the table map also names the columns: compare them.
    if let Ok(meta) =
        mysql_async::binlog::events::OptionalMetaExtractor::new(tme.iter_optional_meta())
    {
        let names: Vec<String> = meta
            .iter_column_name()
            .filter_map(|r| r.ok())
            .map(|c| c.name().into_owned())
            .collect();
        if names.len() == info.columns.len() {
            for (n, c) in names.iter().zip(&info.columns) {
                if !n.eq_ignore_ascii_case(&c.name) {
                    return Err(format!(
                        "binlog names column '{n}' where information_schema has '{}'",
                        c.name
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(parse_labels("enum('a','b''c','')"), vec!["a", "b'c", ""]);
        assert_eq!(parse_labels("set('x,','y')"), vec!["x,", "y"]);
    }
}
