//! Filter-language expressions (`filter`, sort keys, `dist_filter`, `agg_filter`, aggregate
//! arguments) compiled against one segment's columns and evaluated per document.
//!
//! Compilation resolves field names to fast-field columns once per segment, so evaluation is a
//! walk over a small tree with no name lookups. A multi-value field compared with `=` means
//! "contains" (spec §4.2); in arithmetic it contributes its first value.

use super::SearchError;
use crate::table_index::filter_field_name;
use pier_model::{FieldSchema, FieldType};
use pier_query::{ArithOp, CmpOp, Expr, codes};
use std::cmp::Ordering;
use tantivy::columnar::{Column as NumColumn, StrColumn};
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
        let mut values: Vec<Val> = match self {
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
        };
        if multi {
            Val::Many(values)
        } else {
            values.pop().unwrap_or(Val::Null)
        }
    }
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
    /// Conjunction.
    And(Vec<Compiled>),
    /// Disjunction.
    Or(Vec<Compiled>),
    /// `in` / `notin`.
    In(Box<Compiled>, Vec<Val>, bool),
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
                Compiled::Compare(*op, Box::new(sub(left)?), Box::new(sub(right)?))
            }
            Expr::And(parts) => Compiled::And(parts.iter().map(sub).collect::<Result<_, _>>()?),
            Expr::Or(parts) => Compiled::Or(parts.iter().map(sub).collect::<Result<_, _>>()?),
            Expr::In {
                expr,
                values,
                negated,
            } => Compiled::In(
                Box::new(sub(expr)?),
                values.iter().map(|v| constant(v)).collect(),
                *negated,
            ),
            Expr::Call { name, .. } => {
                return Err(SearchError {
                    code,
                    message: format!(
                        "{clause} clause: function {name}() is not supported by pier; supported: in(), notin()"
                    ),
                });
            }
        })
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
                let (l, r) = (self.eval(l, doc), self.eval(r, doc));
                arith(*op, &l, &r)
            }
            Compiled::Compare(..) | Compiled::And(_) | Compiled::Or(_) | Compiled::In(..) => {
                Val::Int(self.test(expr, doc) as i64)
            }
        }
    }

    /// Whether `expr` holds for `doc`.
    pub fn test(&mut self, expr: &Compiled, doc: DocId) -> bool {
        match expr {
            Compiled::And(parts) => parts.iter().all(|p| self.test(p, doc)),
            Compiled::Or(parts) => parts.iter().any(|p| self.test(p, doc)),
            Compiled::Compare(op, l, r) => {
                let (l, r) = (self.eval(l, doc), self.eval(r, doc));
                match op {
                    CmpOp::Eq => equal(&l, &r),
                    CmpOp::Ne => !equal(&l, &r) && l != Val::Null,
                    CmpOp::Lt => order(&l, &r) == Some(Ordering::Less),
                    CmpOp::Le => matches!(order(&l, &r), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => order(&l, &r) == Some(Ordering::Greater),
                    CmpOp::Ge => {
                        matches!(order(&l, &r), Some(Ordering::Greater | Ordering::Equal))
                    }
                }
            }
            Compiled::In(e, values, negated) => {
                let v = self.eval(e, doc);
                values.iter().any(|c| equal(&v, c)) != *negated
            }
            other => self.eval(other, doc).truthy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ordering_puts_nulls_first_and_compares_numbers_across_types() {
        assert_eq!(Val::Int(2).total_cmp(&Val::Float(1.5)), Ordering::Greater);
        assert_eq!(Val::Null.total_cmp(&Val::Int(-5)), Ordering::Less);
        assert_eq!(order(&Val::Int(3), &Val::Float(3.5)), Some(Ordering::Less));
        assert_eq!(order(&Val::Null, &Val::Int(1)), None);
    }
}
