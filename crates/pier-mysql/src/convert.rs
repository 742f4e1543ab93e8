//! Column values → JSON, the same way for snapshot rows (binary protocol) and binlog rows.

use crate::schema::{Charset, ColumnKind};
use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;
use serde_json::Value as Json;

/// Convert a value read by a prepared-statement SELECT (binary protocol, session time zone
/// `+00:00`, connection charset utf8mb4).
pub(crate) fn from_row_value(kind: &ColumnKind, v: Value) -> Result<Json, String> {
    if v == Value::NULL {
        return Ok(Json::Null);
    }
    match kind {
        ColumnKind::Int { unsigned, .. } => match v {
            Value::Int(i) if *unsigned && i < 0 => Err(format!("negative value {i} in UNSIGNED")),
            Value::Int(i) => Ok(Json::from(i)),
            Value::UInt(u) => Ok(Json::from(u)),
            Value::Bytes(b) => parse_int_text(&b),
            other => Err(format!("unexpected {other:?} for an integer column")),
        },
        ColumnKind::Decimal => match v {
            Value::Bytes(b) => Ok(Json::String(
                String::from_utf8(b).map_err(|e| format!("decimal: {e}"))?,
            )),
            other => Ok(Json::String(value_text(&other))),
        },
        ColumnKind::Float => match v {
            Value::Float(f) => Ok(float_json(f)),
            Value::Double(d) => Ok(float_json(d as f32)),
            Value::Bytes(b) => text_f64(&b),
            other => Err(format!("unexpected {other:?} for FLOAT")),
        },
        ColumnKind::Double => match v {
            Value::Double(d) => Ok(f64_json(d)),
            Value::Float(f) => Ok(f64_json(f as f64)),
            Value::Bytes(b) => text_f64(&b),
            other => Err(format!("unexpected {other:?} for DOUBLE")),
        },
        ColumnKind::Bit => match v {
            Value::Bytes(b) => Ok(Json::from(bits_u64(&b))),
            Value::Int(i) => Ok(Json::from(i)),
            Value::UInt(u) => Ok(Json::from(u)),
            other => Err(format!("unexpected {other:?} for BIT")),
        },
        ColumnKind::Year => match v {
            Value::Int(i) => Ok(Json::from(i)),
            Value::UInt(u) => Ok(Json::from(u)),
            Value::Bytes(b) => parse_int_text(&b),
            other => Err(format!("unexpected {other:?} for YEAR")),
        },
        ColumnKind::Date | ColumnKind::DateTime | ColumnKind::Timestamp => match v {
            Value::Date(y, mo, d, h, mi, s, us) => Ok(date_json(y, mo, d, h, mi, s, us)),
            Value::Bytes(b) => parse_datetime_text(&String::from_utf8_lossy(&b))
                .map(|o| o.map(Json::from).unwrap_or(Json::Null))
                .ok_or_else(|| "unparsable date".to_string()),
            other => Err(format!("unexpected {other:?} for a date column")),
        },
        ColumnKind::Time { fsp } => match v {
            Value::Time(neg, days, h, m, s, us) => Ok(Json::String(time_text(
                neg,
                days as u64 * 24 + h as u64,
                m,
                s,
                us,
                *fsp,
            ))),
            Value::Bytes(b) => Ok(Json::String(String::from_utf8_lossy(&b).into_owned())),
            other => Err(format!("unexpected {other:?} for TIME")),
        },
        // The server converted text to the connection charset (utf8mb4).
        ColumnKind::Text { .. } | ColumnKind::Enum(_) | ColumnKind::Set(_) => match v {
            Value::Bytes(b) => Ok(Json::String(utf8_text(b))),
            other => Ok(Json::String(value_text(&other))),
        },
        ColumnKind::Binary { .. } => match v {
            Value::Bytes(b) => Ok(Json::String(binary_text(b))),
            other => Ok(Json::String(value_text(&other))),
        },
        ColumnKind::Json => match v {
            Value::Bytes(b) => Ok(Json::String(normalize_json_text(b))),
            other => Ok(Json::String(value_text(&other))),
        },
    }
}

/// Convert a value decoded from a binlog row image.
pub(crate) fn from_binlog(kind: &ColumnKind, v: BinlogValue<'_>) -> Result<Json, String> {
    let v = match v {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            let dom = j.parse().map_err(|e| format!("JSON value: {e}"))?;
            let json: Json = dom.into();
            return Ok(Json::String(json.to_string()));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(
                "partial JSON update in the binlog; set binlog_row_value_options='' on the server"
                    .into(),
            );
        }
    };
    if v == Value::NULL {
        return Ok(Json::Null);
    }
    match kind {
        ColumnKind::Int { bits, unsigned } => match v {
            Value::Int(i) if *unsigned && i < 0 => {
                // Decoded as signed (no signedness in the table map): reinterpret the bits.
                let u = if *bits >= 64 {
                    i as u64
                } else {
                    (i as u64) & ((1u64 << bits) - 1)
                };
                Ok(Json::from(u))
            }
            // Decoded as unsigned for a signed column (e.g. MEDIUMINT): sign-extend.
            Value::Int(i) if !*unsigned && *bits < 64 && i >= 1i64 << (bits - 1) => {
                Ok(Json::from(i - (1i64 << bits)))
            }
            Value::Int(i) => Ok(Json::from(i)),
            Value::UInt(u) if !*unsigned => Ok(Json::from(u as i64)),
            Value::UInt(u) => Ok(Json::from(u)),
            other => Err(format!("unexpected {other:?} for an integer column")),
        },
        ColumnKind::Decimal => match v {
            Value::Bytes(b) => Ok(Json::String(
                String::from_utf8(b).map_err(|e| format!("decimal: {e}"))?,
            )),
            other => Err(format!("unexpected {other:?} for DECIMAL")),
        },
        ColumnKind::Float => match v {
            Value::Float(f) => Ok(float_json(f)),
            Value::Double(d) => Ok(float_json(d as f32)),
            other => Err(format!("unexpected {other:?} for FLOAT")),
        },
        ColumnKind::Double => match v {
            Value::Double(d) => Ok(f64_json(d)),
            Value::Float(f) => Ok(f64_json(f as f64)),
            other => Err(format!("unexpected {other:?} for DOUBLE")),
        },
        ColumnKind::Bit => match v {
            Value::Bytes(b) => Ok(Json::from(bits_u64(&b))),
            other => Err(format!("unexpected {other:?} for BIT")),
        },
        ColumnKind::Year => match v {
            // mysql_common decodes the stored byte as 1900 + n; n = 0 is YEAR 0000.
            Value::Bytes(b) => match parse_int_text(&b)? {
                Json::Number(n) if n.as_i64() == Some(1900) => Ok(Json::from(0)),
                j => Ok(j),
            },
            Value::Int(i) => Ok(Json::from(i)),
            other => Err(format!("unexpected {other:?} for YEAR")),
        },
        ColumnKind::Date | ColumnKind::DateTime => match v {
            Value::Date(y, mo, d, h, mi, s, us) => Ok(date_json(y, mo, d, h, mi, s, us)),
            other => Err(format!("unexpected {other:?} for a date column")),
        },
        ColumnKind::Timestamp => match v {
            // TIMESTAMP2: "seconds[.micros]" since the epoch; TIMESTAMP (old): Int seconds.
            Value::Bytes(b) => {
                let s = String::from_utf8_lossy(&b);
                let (sec, frac) = s.split_once('.').unwrap_or((&s, "0"));
                let sec: i64 = sec.parse().map_err(|_| format!("timestamp {s:?}"))?;
                let us: i64 = format!("{frac:0<6}")[..6]
                    .parse()
                    .map_err(|_| format!("timestamp {s:?}"))?;
                if sec == 0 && us == 0 {
                    Ok(Json::Null)
                } else {
                    Ok(Json::from(sec * 1000 + us / 1000))
                }
            }
            Value::Int(0) => Ok(Json::Null),
            Value::Int(sec) => Ok(Json::from(sec * 1000)),
            other => Err(format!("unexpected {other:?} for TIMESTAMP")),
        },
        ColumnKind::Time { fsp } => match v {
            Value::Time(neg, days, h, m, s, us) => Ok(Json::String(time_text(
                neg,
                days as u64 * 24 + h as u64,
                m,
                s,
                us,
                *fsp,
            ))),
            other => Err(format!("unexpected {other:?} for TIME")),
        },
        ColumnKind::Text { charset, fixed } => match v {
            Value::Bytes(b) => {
                let mut s = match charset {
                    Charset::Utf8 => utf8_text(b),
                    Charset::Latin1 => latin1_text(&b),
                };
                if *fixed {
                    // CHAR(n) values are read back without trailing spaces.
                    let t = s.trim_end_matches(' ').len();
                    s.truncate(t);
                }
                Ok(Json::String(s))
            }
            other => Err(format!("unexpected {other:?} for a text column")),
        },
        ColumnKind::Binary { pad_to } => match v {
            Value::Bytes(mut b) => {
                if let Some(n) = pad_to
                    && b.len() < *n
                {
                    b.resize(*n, 0);
                }
                Ok(Json::String(binary_text(b)))
            }
            other => Err(format!("unexpected {other:?} for a binary column")),
        },
        ColumnKind::Json => match v {
            Value::Bytes(b) => Ok(Json::String(normalize_json_text(b))),
            other => Err(format!("unexpected {other:?} for JSON")),
        },
        ColumnKind::Enum(labels) => match v {
            Value::Int(0) => Ok(Json::String(String::new())),
            Value::Int(i) => labels
                .get(i as usize - 1)
                .map(|l| Json::String(l.clone()))
                .ok_or_else(|| format!("ENUM index {i} out of range ({} labels)", labels.len())),
            other => Err(format!("unexpected {other:?} for ENUM")),
        },
        ColumnKind::Set(labels) => match v {
            Value::Bytes(b) => {
                let mask = bits_u64_le(&b);
                let picked: Vec<&str> = labels
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i < 64 && mask & (1u64 << i) != 0)
                    .map(|(_, l)| l.as_str())
                    .collect();
                Ok(Json::String(picked.join(",")))
            }
            other => Err(format!("unexpected {other:?} for SET")),
        },
    }
}

fn parse_int_text(b: &[u8]) -> Result<Json, String> {
    let s = std::str::from_utf8(b).map_err(|e| e.to_string())?.trim();
    if let Ok(i) = s.parse::<i64>() {
        Ok(Json::from(i))
    } else if let Ok(u) = s.parse::<u64>() {
        Ok(Json::from(u))
    } else {
        Err(format!("not an integer: {s:?}"))
    }
}

fn text_f64(b: &[u8]) -> Result<Json, String> {
    let s = std::str::from_utf8(b).map_err(|e| e.to_string())?;
    s.trim()
        .parse::<f64>()
        .map(f64_json)
        .map_err(|_| format!("not a number: {s:?}"))
}

fn float_json(f: f32) -> Json {
    // The shortest decimal that round-trips the f32 (what MySQL prints), then as f64:
    // 9.99f32 → 9.99, not 9.989999771118164.
    let d: f64 = f.to_string().parse().unwrap_or(f as f64);
    f64_json(d)
}

fn f64_json(d: f64) -> Json {
    serde_json::Number::from_f64(d)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

fn bits_u64(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .take(8)
        .rev()
        .fold(0u64, |acc, x| (acc << 8) | *x as u64)
}

fn bits_u64_le(b: &[u8]) -> u64 {
    b.iter()
        .take(8)
        .enumerate()
        .fold(0u64, |acc, (i, x)| acc | ((*x as u64) << (8 * i)))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn utf8_text(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// MySQL's latin1 is Windows-1252 (with the five undefined bytes passed through).
fn latin1_text(b: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}',
        '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}',
        '\u{178}',
    ];
    b.iter()
        .map(|&x| {
            if (0x80..0xA0).contains(&x) {
                HIGH[(x - 0x80) as usize]
            } else {
                x as char
            }
        })
        .collect()
}

/// Binary values: the text if the bytes are valid UTF-8, else standard base64 (with padding).
pub(crate) fn binary_text(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => base64(e.as_bytes()),
    }
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn normalize_json_text(b: Vec<u8>) -> String {
    match serde_json::from_slice::<Json>(&b) {
        Ok(j) => j.to_string(),
        Err(_) => utf8_text(b),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn date_json(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> Json {
    if mo == 0 || d == 0 {
        return Json::Null;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let ms =
        ((days * 24 + h as i64) * 60 + mi as i64) * 60_000 + s as i64 * 1000 + us as i64 / 1000;
    Json::from(ms)
}

/// Parse `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` as UTC epoch ms. `Some(None)` for zero dates.
pub(crate) fn parse_datetime_text(s: &str) -> Option<Option<i64>> {
    let s = s.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y: u16 = dp.next()?.parse().ok()?;
    let mo: u8 = dp.next()?.parse().ok()?;
    let d: u8 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || mo > 12 || d > 31 {
        return None;
    }
    let (mut h, mut mi, mut sec, mut us) = (0u8, 0u8, 0u8, 0u32);
    if let Some(t) = time {
        let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
        let mut tp = hms.split(':');
        h = tp.next()?.parse().ok()?;
        mi = tp.next()?.parse().ok()?;
        sec = tp.next().unwrap_or("0").parse().ok()?;
        if !frac.is_empty() {
            let f: String = frac.chars().take(6).collect();
            us = format!("{f:0<6}").parse().ok()?;
        }
    }
    match date_json(y, mo, d, h, mi, sec, us) {
        Json::Null => Some(None),
        j => Some(j.as_i64()),
    }
}

fn time_text(neg: bool, hours: u64, m: u8, s: u8, us: u32, fsp: u8) -> String {
    let mut out = format!(
        "{}{:02}:{:02}:{:02}",
        if neg { "-" } else { "" },
        hours,
        m,
        s
    );
    if fsp > 0 {
        let f = format!("{us:06}");
        out.push('.');
        out.push_str(&f[..fsp as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(
            parse_datetime_text("2024-02-29 12:34:56.789"),
            Some(Some(1_709_210_096_789))
        );
        assert_eq!(parse_datetime_text("0000-00-00 00:00:00"), Some(None));
        assert_eq!(
            parse_datetime_text("1969-12-31 23:59:59"),
            Some(Some(-1000))
        );
    }

    #[test]
    fn small_things() {
        assert_eq!(base64(b"\xff\x00\x01"), "/wAB");
        assert_eq!(base64(b"\xff"), "/w==");
        assert_eq!(latin1_text(b"caf\xe9 \x80"), "café €");
        assert_eq!(float_json(9.99f32), serde_json::json!(9.99));
        assert_eq!(bits_u64(&[0x01, 0x02]), 0x0102);
        assert_eq!(time_text(true, 838, 59, 59, 0, 0), "-838:59:59");
        assert_eq!(time_text(false, 1, 2, 3, 456_000, 3), "01:02:03.456");
        assert_eq!(
            from_binlog(
                &ColumnKind::Int {
                    bits: 8,
                    unsigned: true
                },
                BinlogValue::Value(Value::Int(-1))
            )
            .unwrap(),
            serde_json::json!(255)
        );
    }
}
