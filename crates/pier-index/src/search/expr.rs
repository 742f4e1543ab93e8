//! Filter-language expressions (`filter`, sort keys, `dist_filter`, `agg_filter`, aggregate
//! arguments) compiled against one segment's columns and evaluated per document.
//!
//! Compilation resolves field names to fast-field columns once per segment, so evaluation is a
//! walk over a small tree with no name lookups. A multi-value field compared with `=` means
//! "contains" (spec §4.2); in arithmetic it contributes its first value.

use super::SearchError;
use crate::table_index::filter_field_name;
use pier_model::{FieldSchema, FieldType};
use pier_query::bit_struct::BitStruct;
use pier_query::polygon::{Polygon, doc_polygons, first_containing};
use pier_query::{ArithOp, CmpOp, Expr, Function, Point, codes, resolve_call};
use std::borrow::Cow;
use std::cmp::Ordering;
use tantivy::columnar::{Cardinality, Column as NumColumn, StrColumn};
use tantivy::{DocId, SegmentReader};

/// A value produced while evaluating an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// The field has no value in this document.
    Null,
    /// An integer (INT fields, integer constants, TIMESTAMP).
    Int(i64),
    /// A double (FLOAT/DOUBLE fields, fractional constants, divisions).
    Float(f64),
    /// A string (LITERAL fields, quoted constants).
    Str(String),
    /// Several values of a multi-value field.
    Many(Vec<Val>),
}

impl Val {
    /// The value as a number (strings that read as numbers count; a multi-value field gives
    /// its first value).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Str(s) => s.parse().ok(),
            Val::Many(v) => v.first().and_then(Val::as_f64),
            Val::Null => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Float(f) => Some(*f as i64),
            Val::Str(s) => s.parse().ok(),
            Val::Many(v) => v.first().and_then(Val::as_i64),
            Val::Null => None,
        }
    }

    /// Whether the value counts as true in a boolean position (a non-zero number).
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Str(s) => !s.is_empty(),
            Val::Many(v) => !v.is_empty(),
            other => other.as_f64().is_some_and(|f| f != 0.0),
        }
    }

    /// The value as the cloud prints it in responses: numbers without a needless fraction.
    pub fn to_display(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => f.to_string(),
            Val::Str(s) => s.clone(),
            Val::Many(v) => v.iter().map(Val::to_display).collect::<Vec<_>>().join("\t"),
        }
    }

    /// A total order for sorting and grouping: nulls first, then numbers, then strings.
    pub fn total_cmp(&self, other: &Val) -> Ordering {
        fn rank(v: &Val) -> u8 {
            match v {
                Val::Null => 0,
                Val::Int(_) | Val::Float(_) => 1,
                Val::Str(_) => 2,
                Val::Many(_) => 3,
            }
        }
        match (self, other) {
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Float(a), Val::Float(b)) => a.total_cmp(b),
            (Val::Str(a), Val::Str(b)) => a.cmp(b),
            (Val::Many(a), Val::Many(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.total_cmp(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (a, b) if rank(a) == 1 && rank(b) == 1 => a
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b.as_f64().unwrap_or(0.0)),
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}

/// One attribute field's column in a segment.
enum Column {
    I64(NumColumn<i64>),
    F64(NumColumn<f64>),
    U64(NumColumn<u64>),
    Str(StrColumn),
    /// The field is declared but this segment holds no value for it.
    Missing,
}

impl Column {
    fn open(segment: &SegmentReader, field: &FieldSchema) -> Column {
        let name = filter_field_name(&field.name);
        let ff = segment.fast_fields();
        let column = match field.field_type.element().unwrap_or(field.field_type) {
            FieldType::Int => ff.i64(&name).map(Column::I64),
            FieldType::Float | FieldType::Double => ff.f64(&name).map(Column::F64),
            FieldType::Timestamp => ff.u64(&name).map(Column::U64),
            _ => ff
                .str(&name)
                .map(|c| c.map(Column::Str).unwrap_or(Column::Missing)),
        };
        // A segment none of whose documents has the field has no column for it.
        column.unwrap_or(Column::Missing)
    }

    fn value(&self, doc: DocId, multi: bool, buf: &mut String) -> Val {
        if !multi {
            // A single-valued field is read without collecting into a `Vec`: this runs once per
            // matching document for every filter, sort key and aggregate argument. Should a
            // document hold several values anyway, the last one counts, as it always has.
            return match self {
                Column::I64(c) => c.values_for_doc(doc).last().map_or(Val::Null, Val::Int),
                Column::F64(c) => c.values_for_doc(doc).last().map_or(Val::Null, Val::Float),
                Column::U64(c) => c
                    .values_for_doc(doc)
                    .last()
                    .map_or(Val::Null, |v| Val::Int(v as i64)),
                Column::Str(c) => match c.term_ords(doc).last() {
                    Some(ord) if matches!(c.ord_to_str(ord, buf), Ok(true)) => {
                        Val::Str(buf.clone())
                    }
                    _ => Val::Null,
                },
                Column::Missing => Val::Null,
            };
        }
        Val::Many(match self {
            Column::I64(c) => c.values_for_doc(doc).map(Val::Int).collect(),
            Column::F64(c) => c.values_for_doc(doc).map(Val::Float).collect(),
            Column::U64(c) => c.values_for_doc(doc).map(|v| Val::Int(v as i64)).collect(),
            Column::Str(c) => c
                .term_ords(doc)
                .filter_map(|ord| match c.ord_to_str(ord, buf) {
                    Ok(true) => Some(Val::Str(buf.clone())),
                    _ => None,
                })
                .collect(),
            Column::Missing => Vec::new(),
        })
    }

    /// Appends the raw values of `doc` to `out`, in column order: term ordinals for a string
    /// column, so grouping needs no string per document.
    fn atoms(&self, doc: DocId, out: &mut Vec<Atom>) {
        match self {
            Column::I64(c) => out.extend(c.values_for_doc(doc).map(Atom::Int)),
            Column::F64(c) => out.extend(c.values_for_doc(doc).map(Atom::Float)),
            Column::U64(c) => out.extend(c.values_for_doc(doc).map(|v| Atom::Int(v as i64))),
            Column::Str(c) => out.extend(c.term_ords(doc).map(Atom::Ord)),
            Column::Missing => {}
        }
    }
}

/// One raw value of a column, as grouping reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Atom {
    /// A term ordinal of a string column (segment-local: resolve it with
    /// [`SegmentColumns::atom_value`] before comparing across segments).
    Ord(u64),
    /// An integer (INT and TIMESTAMP columns).
    Int(i64),
    /// A double.
    Float(f64),
}

/// An expression compiled for one segment.
pub enum Compiled {
    /// A column, and whether the field is multi-valued.
    Field(usize, bool),
    /// A constant.
    Const(Val),
    /// Unary minus.
    Neg(Box<Compiled>),
    /// Arithmetic.
    Arith(ArithOp, Box<Compiled>, Box<Compiled>),
    /// Comparison.
    Compare(CmpOp, Box<Compiled>, Box<Compiled>),
    /// A single-valued numeric column (by slot) compared with a numeric constant: the
    /// commonest filter, evaluated without building a [`Val`].
    CompareConst(CmpOp, usize, NumConst),
    /// Conjunction.
    And(Vec<Compiled>),
    /// Disjunction.
    Or(Vec<Compiled>),
    /// Negation.
    Not(Box<Compiled>),
    /// `in` / `notin`.
    In(Box<Compiled>, Vec<Val>, bool),
    /// `[NOT] LIKE`: the pattern's characters (see [`like`]), case-insensitive, negated.
    Like(Box<Compiled>, Vec<LikeToken>, bool, bool),
    /// `IS [NOT] NULL`, negated.
    IsNull(Box<Compiled>, bool),
    /// A key path into JSON text.
    JsonPath(Box<Compiled>, Vec<String>),
    /// jsonb containment: JSON text, a key path into it, the other value, and whether the
    /// stored value is the contained one (`<@`) rather than the container (`@>`).
    JsonContains(Box<Compiled>, Vec<String>, serde_json::Value, bool),
    /// `fieldlen(field)`: the byte length of a string value, the number of values of a
    /// multi-value field, 0 for none.
    FieldLen(Box<Compiled>),
    /// `distance(a, b)` in kilometres.
    Distance(Box<[CompiledPoint; 2]>),
    /// `in_polygon(field, x, y)`: the polygons' field, the point, and whether the field uses
    /// the multi-polygon layout.
    InPolygon(Box<[Compiled; 3]>, bool),
    /// `in_query_polygon`: the request's polygons and the document's point field.
    InQueryPolygon(Vec<Polygon>, Box<Compiled>),
    /// `bit_struct`: the INT_ARRAY field and the parts and operations.
    BitStruct(Box<Compiled>, BitStruct),
    /// `multi_attr`: the array field, the position, and the value when there is none there.
    MultiAttr(Box<[Compiled; 2]>, Val),
}

/// A point of a compiled `distance` call.
pub enum CompiledPoint {
    /// A GEO_POINT field, whose values read `"lon lat"`.
    Geo(Compiled),
    /// A longitude and a latitude.
    LonLat(Compiled, Compiled),
}

/// The value at `path` (object keys, array indexes) in `v`.
fn json_at(mut v: serde_json::Value, path: &[String]) -> Option<serde_json::Value> {
    for key in path {
        v = match &mut v {
            serde_json::Value::Object(o) => o.remove(key)?,
            serde_json::Value::Array(a) => {
                let i = key.parse::<usize>().ok().filter(|i| *i < a.len())?;
                a.swap_remove(i)
            }
            _ => return None,
        };
    }
    Some(v)
}

/// PostgreSQL's jsonb `@>`: objects contain objects key by key, arrays contain arrays element
/// by element (in any order), scalars are equal; and, at the top level only, an array contains
/// a scalar it holds.
fn json_contains(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    match (have, want) {
        (serde_json::Value::Array(h), scalar) if !scalar.is_array() && !scalar.is_object() => {
            h.iter().any(|hv| json_equal(hv, scalar))
        }
        _ => json_contains_nested(have, want),
    }
}

fn json_contains_nested(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (have, want) {
        (J::Object(h), J::Object(w)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| json_contains_nested(hv, wv))),
        (J::Array(h), J::Array(w)) => w.iter().all(|wv| {
            h.iter().any(|hv| match (hv, wv) {
                (J::Array(_), J::Array(_)) | (J::Object(_), J::Object(_)) => {
                    json_contains_nested(hv, wv)
                }
                _ => json_equal(hv, wv),
            })
        }),
        _ => json_equal(have, want),
    }
}

/// Scalars equal as jsonb compares them (numbers by value).
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Mean radius of the Earth in kilometres, the unit of `distance()`.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// The great-circle (haversine) distance in kilometres between two `(lon, lat)` points in
/// degrees.
fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The numbers of a value: every value of a multi-value field, in order.
fn numbers(v: &Val) -> Vec<f64> {
    match v {
        Val::Many(items) => items.iter().filter_map(Val::as_f64).collect(),
        Val::Null => Vec::new(),
        other => other.as_f64().into_iter().collect(),
    }
}

/// The point of `in_query_polygon`'s document field: a numeric array of exactly two values
/// `[x, y]`, or a GEO_POINT / LITERAL `"x y"`.
fn doc_point(v: &Val) -> Option<(f64, f64)> {
    match v {
        Val::Many(items) if items.iter().all(|i| !matches!(i, Val::Str(_))) => match numbers(v)[..]
        {
            [x, y] => Some((x, y)),
            _ => None,
        },
        other => geo_point(other),
    }
}

/// A GEO_POINT value `"lon lat"` as numbers (a multi-value field gives its first point).
fn geo_point(v: &Val) -> Option<(f64, f64)> {
    match v {
        Val::Str(s) => {
            let mut parts = s.split_whitespace().map(str::parse::<f64>);
            match (parts.next(), parts.next(), parts.next()) {
                (Some(Ok(lon)), Some(Ok(lat)), None) => Some((lon, lat)),
                _ => None,
            }
        }
        Val::Many(items) => items.first().and_then(geo_point),
        _ => None,
    }
}

/// The value at `path` in the JSON text `text`: strings as [`Val::Str`], numbers as numbers,
/// booleans as `"true"`/`"false"`, objects and arrays as their JSON text; [`Val::Null`] when the
/// text is not JSON or the path is absent.
fn json_path(text: &str, path: &[String]) -> Val {
    let Some(v) = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| json_at(v, path))
    else {
        return Val::Null;
    };
    match v {
        serde_json::Value::Null => Val::Null,
        serde_json::Value::String(s) => Val::Str(s),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Val::Int)
            .unwrap_or_else(|| n.as_f64().map_or(Val::Null, Val::Float)),
        serde_json::Value::Bool(b) => Val::Str(b.to_string()),
        other => Val::Str(other.to_string()),
    }
}

/// One element of a compiled `LIKE` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum LikeToken {
    /// `%`: any run of characters.
    Any,
    /// `_`: one character.
    One,
    /// A literal character.
    Char(char),
}

/// Compiles a `LIKE` pattern (`\` escapes the next character), lower-cased when `fold`.
fn like_pattern(pattern: &str, fold: bool) -> Vec<LikeToken> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => LikeToken::Any,
            '_' => LikeToken::One,
            '\\' => LikeToken::Char(chars.next().unwrap_or('\\')),
            c => LikeToken::Char(c),
        });
    }
    if fold {
        for t in &mut out {
            if let LikeToken::Char(c) = t {
                *c = c.to_lowercase().next().unwrap_or(*c);
            }
        }
    }
    out
}

/// Whether `text` matches `pattern`, iteratively (no backtracking blow-up): the classic
/// wildcard match with one remembered `%`.
pub fn like(text: &str, pattern: &[LikeToken], fold: bool) -> bool {
    let text: Vec<char> = if fold {
        text.chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .collect()
    } else {
        text.chars().collect()
    };
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikeToken::One) => {
                t += 1;
                p += 1;
            }
            Some(LikeToken::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|x| *x == LikeToken::Any)
}

/// The constant of [`Compiled::CompareConst`], typed like the column it is compared with.
#[derive(Debug, Clone, Copy)]
pub enum NumConst {
    /// An integer constant against an INT column: compared exactly, as `Val::Int`s are.
    Int(i64),
    /// Any numeric constant against a FLOAT/DOUBLE column: compared as doubles, as mixed
    /// `Val`s are.
    Float(f64),
}

/// Whether `o` (a column value compared with a constant) satisfies `op`; None (NaN) never
/// does, except for `!=`.
fn holds(op: CmpOp, o: Option<Ordering>) -> bool {
    match op {
        CmpOp::Eq => o == Some(Ordering::Equal),
        CmpOp::Ne => o != Some(Ordering::Equal),
        CmpOp::Lt => o == Some(Ordering::Less),
        CmpOp::Le => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => o == Some(Ordering::Greater),
        CmpOp::Ge => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// `op` with its operands swapped (`3 < x` is `x > 3`).
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

/// The columns of one segment that a set of expressions reads, opened once, and a reusable
/// buffer for string values.
#[derive(Default)]
pub struct SegmentColumns {
    opened: Vec<(usize, Column)>,
    buf: String,
}

impl SegmentColumns {
    /// Compiles `expr` for `segment`, opening the columns of the table's attribute `fields` it
    /// reads. `clause` and `code` shape error messages.
    pub fn compile(
        &mut self,
        segment: &SegmentReader,
        fields: &[FieldSchema],
        expr: &Expr,
        clause: &str,
        code: u32,
    ) -> Result<Compiled, SearchError> {
        if let Expr::Field(name) = expr {
            return self.field(segment, fields, name, clause);
        }
        let mut sub = |e: &Expr| self.compile(segment, fields, e, clause, code);
        Ok(match expr {
            Expr::Field(_) => unreachable!("fields are compiled above"),
            Expr::Number(n) => Compiled::Const(match n {
                pier_query::Number::Int(i) => Val::Int(*i),
                pier_query::Number::Float(f) => Val::Float(*f),
            }),
            Expr::Str(s) => Compiled::Const(Val::Str(s.clone())),
            Expr::Neg(e) => Compiled::Neg(Box::new(sub(e)?)),
            Expr::Arith { op, left, right } => {
                Compiled::Arith(*op, Box::new(sub(left)?), Box::new(sub(right)?))
            }
            Expr::Compare { op, left, right } => {
                let (left, right) = (sub(left)?, sub(right)?);
                return Ok(self.compare(*op, left, right));
            }
            Expr::And(parts) => Compiled::And(parts.iter().map(sub).collect::<Result<_, _>>()?),
            Expr::Or(parts) => Compiled::Or(parts.iter().map(sub).collect::<Result<_, _>>()?),
            Expr::Not(e) => Compiled::Not(Box::new(sub(e)?)),
            Expr::In {
                expr,
                values,
                negated,
            } => Compiled::In(
                Box::new(sub(expr)?),
                values.iter().map(|v| constant(v)).collect(),
                *negated,
            ),
            Expr::Like {
                expr,
                pattern,
                case_insensitive,
                negated,
            } => Compiled::Like(
                Box::new(sub(expr)?),
                like_pattern(pattern, *case_insensitive),
                *case_insensitive,
                *negated,
            ),
            Expr::IsNull { expr, negated } => Compiled::IsNull(Box::new(sub(expr)?), *negated),
            Expr::JsonPath { expr, path } => Compiled::JsonPath(Box::new(sub(expr)?), path.clone()),
            Expr::JsonContains { expr, path, json } => {
                Compiled::JsonContains(Box::new(sub(expr)?), path.clone(), json.clone(), false)
            }
            Expr::JsonContainedBy { expr, path, json } => {
                Compiled::JsonContains(Box::new(sub(expr)?), path.clone(), json.clone(), true)
            }
            Expr::Call { name, args } => {
                let field_type = |f: &str| {
                    let bare = f.rsplit_once('.').map_or(f, |(_, f)| f);
                    fields.iter().find(|x| x.name == bare).map(|x| x.field_type)
                };
                let function = resolve_call(name, args, field_type).map_err(|e| SearchError {
                    code: e.code.unwrap_or(code),
                    message: format!("{clause} clause: {}", e.message),
                })?;
                match function {
                    Function::FieldLen(field) => {
                        Compiled::FieldLen(Box::new(self.field(segment, fields, field, clause)?))
                    }
                    Function::Distance(points) => {
                        let [a, b] = points;
                        let mut point = |p: Point<'_>| -> Result<CompiledPoint, SearchError> {
                            Ok(match p {
                                Point::Geo(field) => {
                                    CompiledPoint::Geo(self.field(segment, fields, field, clause)?)
                                }
                                Point::LonLat(lon, lat) => CompiledPoint::LonLat(
                                    self.compile(segment, fields, lon, clause, code)?,
                                    self.compile(segment, fields, lat, clause, code)?,
                                ),
                            })
                        };
                        Compiled::Distance(Box::new([point(a)?, point(b)?]))
                    }
                    Function::InPolygon { field, x, y, multi } => Compiled::InPolygon(
                        Box::new([
                            self.field(segment, fields, field, clause)?,
                            self.compile(segment, fields, x, clause, code)?,
                            self.compile(segment, fields, y, clause, code)?,
                        ]),
                        multi,
                    ),
                    Function::InQueryPolygon { polygons, point } => Compiled::InQueryPolygon(
                        polygons,
                        Box::new(self.field(segment, fields, point, clause)?),
                    ),
                    Function::BitStruct { field, spec } => Compiled::BitStruct(
                        Box::new(self.field(segment, fields, field, clause)?),
                        spec,
                    ),
                    Function::MultiAttr {
                        field,
                        pos,
                        default,
                    } => {
                        // Without a default: 0, or "" for strings (the cloud's
                        // `default_value=0|""`).
                        let strings = field_type(field)
                            .and_then(|t| t.element())
                            .is_some_and(|t| t == FieldType::Literal);
                        let default = match default {
                            Some(text) if strings => Val::Str(text.to_string()),
                            Some(text) => constant(text),
                            None if strings => Val::Str(String::new()),
                            None => Val::Int(0),
                        };
                        Compiled::MultiAttr(
                            Box::new([
                                self.field(segment, fields, field, clause)?,
                                self.compile(segment, fields, pos, clause, code)?,
                            ]),
                            default,
                        )
                    }
                }
            }
        })
    }

    /// `left op right`, as a [`Compiled::CompareConst`] when one side is a single-valued
    /// numeric column and the other a numeric constant.
    fn compare(&self, op: CmpOp, left: Compiled, right: Compiled) -> Compiled {
        let (slot, constant, op) = match (&left, &right) {
            (Compiled::Field(slot, false), Compiled::Const(c)) => (*slot, c, op),
            // `3 != x` holds where x is missing (only the left side's Null makes `!=` false).
            (Compiled::Const(c), Compiled::Field(slot, false)) if op != CmpOp::Ne => {
                (*slot, c, flip(op))
            }
            _ => return Compiled::Compare(op, Box::new(left), Box::new(right)),
        };
        let constant = match (&self.opened[slot].1, constant) {
            (Column::I64(_), Val::Int(i)) => NumConst::Int(*i),
            (Column::F64(_), Val::Int(i)) => NumConst::Float(*i as f64),
            (Column::F64(_), Val::Float(f)) => NumConst::Float(*f),
            _ => return Compiled::Compare(op, Box::new(left), Box::new(right)),
        };
        Compiled::CompareConst(op, slot, constant)
    }

    fn field(
        &mut self,
        segment: &SegmentReader,
        fields: &[FieldSchema],
        name: &str,
        clause: &str,
    ) -> Result<Compiled, SearchError> {
        let bare = name.rsplit_once('.').map_or(name, |(_, f)| f);
        let Some(index) = fields.iter().position(|f| f.name == bare) else {
            return Err(SearchError {
                code: codes::NOT_ATTRIBUTE_FIELD,
                message: format!(
                    "{clause} clause: '{name}' is not an attribute field of the primary table (declare it in indexes.filterFields)"
                ),
            });
        };
        let slot = match self.opened.iter().position(|(i, _)| *i == index) {
            Some(slot) => slot,
            None => {
                self.opened
                    .push((index, Column::open(segment, &fields[index])));
                self.opened.len() - 1
            }
        };
        Ok(Compiled::Field(
            slot,
            fields[index].field_type.element().is_some(),
        ))
    }
}

/// Documents whose first values [`first_vals`] decodes at a time (tantivy's collector blocks are
/// this long).
const BLOCK: usize = 64;

/// Calls `f` with the first value of `column`, if any, for each of `docs`.
fn first_vals<T>(column: &NumColumn<T>, docs: &[DocId], mut f: impl FnMut(T))
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    let mut buf = [None; BLOCK];
    for chunk in docs.chunks(BLOCK) {
        let vals = &mut buf[..chunk.len()];
        // Empty and multi-value columns leave the slots of documents without a value alone.
        vals.fill(None);
        column.first_vals(chunk, vals);
        vals.iter().flatten().for_each(|v| f(*v));
    }
}

/// A constant from an `in()` list: a number if it reads as one, else a string.
fn constant(text: &str) -> Val {
    if let Ok(i) = text.trim().parse::<i64>() {
        Val::Int(i)
    } else if let Ok(f) = text.trim().parse::<f64>() {
        Val::Float(f)
    } else {
        Val::Str(text.to_string())
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Many(items), other) | (other, Val::Many(items)) => {
            items.iter().any(|item| equal(item, other))
        }
        (Val::Null, _) | (_, Val::Null) => false,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

fn order(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Many(items), other) => items.first().and_then(|i| order(i, other)),
        (other, Val::Many(items)) => items.first().and_then(|i| order(other, i)),
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (x, y) => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}

fn arith(op: ArithOp, a: &Val, b: &Val) -> Val {
    let ints = matches!(
        (a, b),
        (Val::Int(_) | Val::Many(_), Val::Int(_) | Val::Many(_))
    );
    if matches!(op, ArithOp::BitAnd | ArithOp::BitOr | ArithOp::BitXor)
        || ints && op != ArithOp::Div
    {
        let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) else {
            return Val::Null;
        };
        return Val::Int(match op {
            ArithOp::Add => x.wrapping_add(y),
            ArithOp::Sub => x.wrapping_sub(y),
            ArithOp::Mul => x.wrapping_mul(y),
            ArithOp::BitAnd => x & y,
            ArithOp::BitOr => x | y,
            ArithOp::BitXor => x ^ y,
            ArithOp::Div => unreachable!("division is done in floating point"),
        });
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return Val::Null;
    };
    Val::Float(match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div if y == 0.0 => return Val::Null,
        ArithOp::Div => x / y,
        _ => unreachable!("bitwise operators are handled above"),
    })
}

impl SegmentColumns {
    /// The value of `expr` for `doc`.
    pub fn eval(&mut self, expr: &Compiled, doc: DocId) -> Val {
        match expr {
            Compiled::Field(slot, multi) => self.opened[*slot].1.value(doc, *multi, &mut self.buf),
            Compiled::Const(v) => v.clone(),
            Compiled::Neg(e) => match self.eval(e, doc) {
                Val::Int(i) => Val::Int(i.wrapping_neg()),
                other => other.as_f64().map_or(Val::Null, |f| Val::Float(-f)),
            },
            Compiled::Arith(op, l, r) => {
                let (l, r) = (self.operand(l, doc), self.operand(r, doc));
                arith(*op, &l, &r)
            }
            Compiled::JsonPath(e, path) => match self.eval(e, doc) {
                Val::Str(s) => json_path(&s, path),
                _ => Val::Null,
            },
            Compiled::FieldLen(_)
            | Compiled::Distance(_)
            | Compiled::InPolygon(..)
            | Compiled::InQueryPolygon(..)
            | Compiled::BitStruct(..)
            | Compiled::MultiAttr(..) => self.eval_function(expr, doc),
            Compiled::Compare(..)
            | Compiled::CompareConst(..)
            | Compiled::And(_)
            | Compiled::Or(_)
            | Compiled::Not(_)
            | Compiled::In(..)
            | Compiled::Like(..)
            | Compiled::IsNull(..)
            | Compiled::JsonContains(..) => Val::Int(self.test(expr, doc) as i64),
        }
    }

    /// The value of a function call for `doc`. Kept out of [`SegmentColumns::eval`] so that
    /// the commoner expressions' evaluation stays small.
    #[inline(never)]
    fn eval_function(&mut self, expr: &Compiled, doc: DocId) -> Val {
        match expr {
            Compiled::FieldLen(e) => Val::Int(match self.eval(e, doc) {
                Val::Str(s) => s.len() as i64,
                Val::Many(items) => items.len() as i64,
                _ => 0,
            }),
            Compiled::Distance(points) => {
                let [a, b] = &**points;
                match (self.point(a, doc), self.point(b, doc)) {
                    (Some(a), Some(b)) => Val::Float(haversine_km(a, b)),
                    _ => Val::Null,
                }
            }
            Compiled::InPolygon(args, multi) => {
                let [field, x, y] = &**args;
                let (Some(x), Some(y)) =
                    (self.operand(x, doc).as_f64(), self.operand(y, doc).as_f64())
                else {
                    return Val::Int(0);
                };
                let values = numbers(&self.eval(field, doc));
                Val::Int(doc_polygons(&values, *multi).map_or(0, |p| first_containing(&p, (x, y))))
            }
            Compiled::InQueryPolygon(polygons, point) => Val::Int(
                doc_point(&self.eval(point, doc)).map_or(0, |p| first_containing(polygons, p)),
            ),
            Compiled::BitStruct(field, spec) => Val::Int(match self.eval(field, doc) {
                Val::Many(items) => spec.find(items.iter().filter_map(Val::as_i64)),
                other => spec.find(other.as_i64()),
            }),
            Compiled::MultiAttr(args, default) => {
                let [field, pos] = &**args;
                let pos = self.operand(pos, doc).as_i64();
                let value = match self.eval(field, doc) {
                    Val::Many(mut items) => pos
                        .and_then(|p| usize::try_from(p).ok())
                        .filter(|p| *p < items.len())
                        .map(|p| items.swap_remove(p)),
                    Val::Null => None,
                    single => (pos == Some(0)).then_some(single),
                };
                value.unwrap_or_else(|| default.clone())
            }
            _ => self.eval(expr, doc),
        }
    }

    /// The `(lon, lat)` of a `distance` point for `doc`, if it has one.
    fn point(&mut self, point: &CompiledPoint, doc: DocId) -> Option<(f64, f64)> {
        match point {
            CompiledPoint::Geo(field) => geo_point(&self.eval(field, doc)),
            CompiledPoint::LonLat(lon, lat) => Some((
                self.operand(lon, doc).as_f64()?,
                self.operand(lat, doc).as_f64()?,
            )),
        }
    }

    /// The value of `expr` for `doc`, borrowing constants rather than cloning them per document.
    fn operand<'e>(&mut self, expr: &'e Compiled, doc: DocId) -> Cow<'e, Val> {
        match expr {
            Compiled::Const(v) => Cow::Borrowed(v),
            other => Cow::Owned(self.eval(other, doc)),
        }
    }

    /// Appends the raw values of the column `expr` reads to `out` (nothing unless `expr` is a
    /// field).
    pub fn atoms(&self, expr: &Compiled, doc: DocId, out: &mut Vec<Atom>) {
        if let Compiled::Field(slot, _) = expr {
            self.opened[*slot].1.atoms(doc, out);
        }
    }

    /// Calls `f` with the first value, if any, of the column `expr` reads for each of `docs`
    /// (nothing unless `expr` is a field), decoding the column a block at a time.
    pub fn first_atoms(&self, expr: &Compiled, docs: &[DocId], mut f: impl FnMut(Atom)) {
        let Compiled::Field(slot, _) = expr else {
            return;
        };
        match &self.opened[*slot].1 {
            Column::I64(c) => first_vals(c, docs, |v| f(Atom::Int(v))),
            Column::F64(c) => first_vals(c, docs, |v| f(Atom::Float(v))),
            Column::U64(c) => first_vals(c, docs, |v| f(Atom::Int(v as i64))),
            Column::Str(c) => first_vals(c.ords(), docs, |o| f(Atom::Ord(o))),
            Column::Missing => {}
        }
    }

    /// Whether no document of this segment holds several values in the column `expr` reads
    /// (false unless `expr` is a field).
    pub fn single_valued(&self, expr: &Compiled) -> bool {
        let Compiled::Field(slot, _) = expr else {
            return false;
        };
        let cardinality = match &self.opened[*slot].1 {
            Column::I64(c) => c.get_cardinality(),
            Column::F64(c) => c.get_cardinality(),
            Column::U64(c) => c.get_cardinality(),
            Column::Str(c) => c.ords().get_cardinality(),
            Column::Missing => return true,
        };
        cardinality != Cardinality::Multivalued
    }

    /// How many distinct strings the column `expr` reads holds in this segment (None unless it
    /// is a string column): the bound of its term ordinals.
    pub fn dictionary_len(&self, expr: &Compiled) -> Option<usize> {
        match expr {
            Compiled::Field(slot, _) => match &self.opened[*slot].1 {
                Column::Str(c) => Some(c.num_terms()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The least and greatest value of the integer column `expr` reads in this segment (None
    /// unless it is an INT column).
    pub fn int_bounds(&self, expr: &Compiled) -> Option<(i64, i64)> {
        match expr {
            Compiled::Field(slot, _) => match &self.opened[*slot].1 {
                Column::I64(c) => Some((c.min_value(), c.max_value())),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value an atom of the column `expr` reads stands for (None for an ordinal the
    /// dictionary cannot resolve).
    pub fn atom_value(&mut self, expr: &Compiled, atom: Atom) -> Option<Val> {
        Some(match atom {
            Atom::Int(i) => Val::Int(i),
            Atom::Float(f) => Val::Float(f),
            Atom::Ord(ord) => {
                let Compiled::Field(slot, _) = expr else {
                    return None;
                };
                let Column::Str(c) = &self.opened[*slot].1 else {
                    return None;
                };
                match c.ord_to_str(ord, &mut self.buf) {
                    Ok(true) => Val::Str(self.buf.clone()),
                    _ => return None,
                }
            }
        })
    }

    /// Whether `expr` holds for `doc`.
    pub fn test(&mut self, expr: &Compiled, doc: DocId) -> bool {
        match expr {
            Compiled::And(parts) => parts.iter().all(|p| self.test(p, doc)),
            Compiled::Or(parts) => parts.iter().any(|p| self.test(p, doc)),
            Compiled::Not(e) => !self.test(e, doc),
            Compiled::Compare(op, l, r) => {
                let (l, r) = (self.operand(l, doc), self.operand(r, doc));
                match op {
                    CmpOp::Eq => equal(&l, &r),
                    CmpOp::Ne => !equal(&l, &r) && *l != Val::Null,
                    CmpOp::Lt => order(&l, &r) == Some(Ordering::Less),
                    CmpOp::Le => matches!(order(&l, &r), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => order(&l, &r) == Some(Ordering::Greater),
                    CmpOp::Ge => {
                        matches!(order(&l, &r), Some(Ordering::Greater | Ordering::Equal))
                    }
                }
            }
            Compiled::CompareConst(op, slot, constant) => {
                // A missing value compares as Null: false for every operator, `!=` included.
                match (&self.opened[*slot].1, constant) {
                    (Column::I64(c), NumConst::Int(k)) => c
                        .values_for_doc(doc)
                        .last()
                        .is_some_and(|x| holds(*op, Some(x.cmp(k)))),
                    (Column::F64(c), NumConst::Float(k)) => c
                        .values_for_doc(doc)
                        .last()
                        .is_some_and(|x| holds(*op, x.partial_cmp(k))),
                    _ => unreachable!("compiled only for these column and constant types"),
                }
            }
            Compiled::In(e, values, negated) => {
                let v = self.eval(e, doc);
                values.iter().any(|c| equal(&v, c)) != *negated
            }
            Compiled::Like(e, pattern, fold, negated) => match self.eval(e, doc) {
                Val::Null => false,
                Val::Str(s) => like(&s, pattern, *fold) != *negated,
                Val::Many(items) => {
                    items
                        .iter()
                        .any(|i| matches!(i, Val::Str(s) if like(s, pattern, *fold)))
                        != *negated
                }
                _ => false,
            },
            Compiled::JsonContains(e, path, other, contained_by) => match self.eval(e, doc) {
                Val::Str(text) => serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| json_at(v, path))
                    .is_some_and(|v| {
                        if *contained_by {
                            json_contains(other, &v)
                        } else {
                            json_contains(&v, other)
                        }
                    }),
                _ => false,
            },
            Compiled::IsNull(e, negated) => {
                let null = match self.eval(e, doc) {
                    Val::Null => true,
                    Val::Many(items) => items.is_empty(),
                    _ => false,
                };
                null != *negated
            }
            other => self.eval(other, doc).truthy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_containment_follows_postgres() {
        let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let yes = [
            (r#"{"a":1,"b":{"c":[1,2,3]}}"#, r#"{"b":{"c":[3]}}"#),
            (r#"["x","y"]"#, r#"["y"]"#),
            (r#"["x","y"]"#, r#""x""#),
            (r#"[1,[2,3]]"#, r#"[[3]]"#),
            ("2", "2.0"),
            (r#"{"a":1}"#, "{}"),
        ];
        for (have, want) in yes {
            assert!(json_contains(&j(have), &j(want)), "{have} @> {want}");
        }
        let no = [
            (r#"{"a":1}"#, r#"{"a":2}"#),
            (r#"["x"]"#, r#"["x","z"]"#),
            (r#""x""#, r#"["x"]"#),
            (r#"{"a":[1]}"#, r#"{"a":1}"#),
        ];
        for (have, want) in no {
            assert!(!json_contains(&j(have), &j(want)), "not {have} @> {want}");
        }
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        assert_eq!(haversine_km((120.0, 30.0), (120.0, 30.0)), 0.0);
        // One degree of latitude is about 111.19 km on a sphere of radius 6371 km.
        let degree = haversine_km((0.0, 0.0), (0.0, 1.0));
        assert!((degree - 111.19).abs() < 0.01, "{degree}");
        // Beijing to Shanghai, about 1067 km.
        let d = haversine_km((116.4074, 39.9042), (121.4737, 31.2304));
        assert!((1060.0..1075.0).contains(&d), "{d}");
        // Antipodes: half the circumference, without NaN from rounding.
        let half = haversine_km((0.0, 0.0), (180.0, 0.0));
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn geo_points_read_lon_then_lat() {
        assert_eq!(
            geo_point(&Val::Str("120.5 30.25".into())),
            Some((120.5, 30.25))
        );
        assert_eq!(
            geo_point(&Val::Many(vec![
                Val::Str("1 2".into()),
                Val::Str("3 4".into())
            ])),
            Some((1.0, 2.0))
        );
        for bad in ["", "120.5", "a b", "1 2 3"] {
            assert_eq!(geo_point(&Val::Str(bad.into())), None, "{bad}");
        }
        assert_eq!(geo_point(&Val::Null), None);
    }

    #[test]
    fn json_paths() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let doc = r#"{"a":{"b":"x","n":3,"f":1.5,"t":true},"l":["p","q"]}"#;
        assert_eq!(json_path(doc, &path(&["a", "b"])), Val::Str("x".into()));
        assert_eq!(json_path(doc, &path(&["a", "n"])), Val::Int(3));
        assert_eq!(json_path(doc, &path(&["a", "f"])), Val::Float(1.5));
        assert_eq!(json_path(doc, &path(&["a", "t"])), Val::Str("true".into()));
        assert_eq!(json_path(doc, &path(&["l", "1"])), Val::Str("q".into()));
        assert_eq!(
            json_path(doc, &path(&["l"])),
            Val::Str(r#"["p","q"]"#.into())
        );
        assert_eq!(json_path(doc, &path(&["a", "missing"])), Val::Null);
        assert_eq!(json_path(doc, &path(&["l", "9"])), Val::Null);
        assert_eq!(json_path("not json", &path(&["a"])), Val::Null);
    }

    #[test]
    fn like_patterns() {
        let m = |text: &str, pattern: &str| like(text, &like_pattern(pattern, false), false);
        assert!(m("hello world", "%world"));
        assert!(m("hello world", "hello%"));
        assert!(m("hello world", "%lo w%"));
        assert!(m("hello", "h_llo"));
        assert!(m("", "%"));
        assert!(m("a%b", "a\\%b"));
        assert!(!m("axb", "a\\%b"));
        assert!(!m("hello", "h_lo"));
        assert!(!m("hello", "Hello"));
        assert!(m("aaa", "%a%a%a%"));
        assert!(!m("aa", "%a%a%a%"));
        assert!(m("中文标题", "中_标%"));
        let i = like_pattern("HEL%", true);
        assert!(like("hello", &i, true));
        assert!(!like("help", &like_pattern("hel_o%", false), false));
    }

    #[test]
    fn multi_value_equality_is_contains() {
        let many = Val::Many(vec![Val::Int(1), Val::Int(5)]);
        assert!(equal(&many, &Val::Int(5)));
        assert!(!equal(&many, &Val::Int(2)));
        assert!(equal(&Val::Str("a".into()), &Val::Str("a".into())));
        assert!(!equal(&Val::Null, &Val::Null));
    }

    #[test]
    fn arithmetic_keeps_integers_exact_and_divides_in_floating_point() {
        assert_eq!(
            arith(ArithOp::Add, &Val::Int(i64::MAX - 1), &Val::Int(1)),
            Val::Int(i64::MAX)
        );
        assert_eq!(
            arith(ArithOp::Div, &Val::Int(1), &Val::Int(2)),
            Val::Float(0.5)
        );
        assert_eq!(arith(ArithOp::Div, &Val::Int(1), &Val::Int(0)), Val::Null);
        assert_eq!(
            arith(ArithOp::BitAnd, &Val::Int(6), &Val::Int(3)),
            Val::Int(2)
        );
        assert_eq!(
            arith(ArithOp::Mul, &Val::Float(1.5), &Val::Int(2)),
            Val::Float(3.0)
        );
    }

    #[test]
    fn constant_comparisons_agree_with_the_general_ones() {
        let ops = [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ];
        let general = |op: CmpOp, l: &Val, r: &Val| match op {
            CmpOp::Eq => equal(l, r),
            CmpOp::Ne => !equal(l, r) && *l != Val::Null,
            CmpOp::Lt => order(l, r) == Some(Ordering::Less),
            CmpOp::Le => matches!(order(l, r), Some(Ordering::Less | Ordering::Equal)),
            CmpOp::Gt => order(l, r) == Some(Ordering::Greater),
            CmpOp::Ge => matches!(order(l, r), Some(Ordering::Greater | Ordering::Equal)),
        };
        for op in ops {
            for (x, k) in [(1, 2), (2, 2), (3, 2), (i64::MIN, i64::MAX)] {
                let fast = holds(op, Some(x.cmp(&k)));
                assert_eq!(
                    fast,
                    general(op, &Val::Int(x), &Val::Int(k)),
                    "{op:?} {x} {k}"
                );
                // `k op x`, the constant on the left, as it is compiled.
                let flipped = holds(flip(op), Some(x.cmp(&k)));
                if op != CmpOp::Ne {
                    assert_eq!(flipped, general(op, &Val::Int(k), &Val::Int(x)));
                }
            }
            for (x, k) in [(1.5, 2.0), (2.0, 2.0), (f64::NAN, 2.0), (3.0, -0.0)] {
                let fast = holds(op, x.partial_cmp(&k));
                assert_eq!(
                    fast,
                    general(op, &Val::Float(x), &Val::Float(k)),
                    "{op:?} {x} {k}"
                );
            }
        }
    }

    #[test]
    fn ordering_puts_nulls_first_and_compares_numbers_across_types() {
        assert_eq!(Val::Int(2).total_cmp(&Val::Float(1.5)), Ordering::Greater);
        assert_eq!(Val::Null.total_cmp(&Val::Int(-5)), Ordering::Less);
        assert_eq!(order(&Val::Int(3), &Val::Float(3.5)), Some(Ordering::Less));
        assert_eq!(order(&Val::Null, &Val::Int(1)), None);
    }
}
