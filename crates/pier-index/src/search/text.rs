//! The query clause turned into a tantivy query: terms analysed with their index's analyzer,
//! phrases, numeric ranges, boosts and the four operators.

use super::SearchError;
use crate::TableIndex;
use crate::table_index::filter_field_name;
use pier_model::FieldType;
use pier_query::{CmpOp, DEFAULT_BOOST, Expr, Number, Query, codes};
use std::ops::Bound;
use tantivy::columnar::{Cardinality, Column as NumColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery,
    Query as TantivyQuery, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{MAX_TOKEN_LEN, TokenStream};
use tantivy::{Searcher, Term};

/// Builds the tantivy query for `query` over `index`.
pub fn build(index: &TableIndex, query: &Query) -> Result<Box<dyn TantivyQuery>, SearchError> {
    Ok(match query {
        Query::Term {
            index: name,
            text,
            boost,
            phrase,
        } => {
            let field = search_field(index, name)?;
            let terms = analyse(index, field, text)?;
            let inner: Box<dyn TantivyQuery> = match terms.len() {
                // `query=''` (what the Java SDK sends when no query is set) lists every document.
                0 if text.trim().is_empty() => Box::new(AllQuery),
                // Only stop words or punctuation: nothing can match.
                0 => Box::new(EmptyQuery),
                1 => Box::new(term_query(terms.into_iter().next().unwrap())),
                _ if *phrase => Box::new(PhraseQuery::new(terms)),
                // Multi-word terms are analysed and ANDed (spec §4.2).
                _ => Box::new(BooleanQuery::new(
                    terms
                        .into_iter()
                        .map(|t| {
                            (
                                Occur::Must,
                                Box::new(term_query(t)) as Box<dyn TantivyQuery>,
                            )
                        })
                        .collect(),
                )),
            };
            if *boost == DEFAULT_BOOST {
                inner
            } else {
                Box::new(BoostQuery::new(
                    inner,
                    f32::from(*boost) / f32::from(DEFAULT_BOOST),
                ))
            }
        }
        Query::Range {
            index: name,
            lower,
            upper,
            lower_inclusive,
            upper_inclusive,
        } => range(
            index,
            name,
            *lower,
            *upper,
            *lower_inclusive,
            *upper_inclusive,
        )?,
        Query::And(parts) => boolean(index, parts.iter().map(|p| (Occur::Must, p)))?,
        Query::Or(parts) => boolean(index, parts.iter().map(|p| (Occur::Should, p)))?,
        Query::AndNot(a, b) => boolean(index, [(Occur::Must, &**a), (Occur::MustNot, &**b)])?,
        // The right side only adds to the score of documents the left side matches.
        Query::Rank(a, b) => boolean(index, [(Occur::Must, &**a), (Occur::Should, &**b)])?,
    })
}

fn boolean<'q>(
    index: &TableIndex,
    parts: impl IntoIterator<Item = (Occur, &'q Query)>,
) -> Result<Box<dyn TantivyQuery>, SearchError> {
    let clauses = parts
        .into_iter()
        .map(|(occur, q)| Ok((occur, build(index, q)?)))
        .collect::<Result<Vec<_>, SearchError>>()?;
    Ok(Box::new(BooleanQuery::new(clauses)))
}

fn term_query(term: Term) -> TermQuery {
    TermQuery::new(term, IndexRecordOption::WithFreqs)
}

fn search_field(index: &TableIndex, name: &str) -> Result<Field, SearchError> {
    index.search_field(name).ok_or_else(|| SearchError {
        code: codes::INDEX_NOT_EXIST,
        message: format!(
            "query clause: the app has no search index '{name}'; its indexes are: {}",
            index.search_index_names().join(", ")
        ),
    })
}

/// The terms of `text` as the field's analyzer produces them.
pub fn analyse(index: &TableIndex, field: Field, text: &str) -> Result<Vec<Term>, SearchError> {
    let mut analyzer = index
        .tantivy()
        .tokenizer_for_field(field)
        .map_err(SearchError::internal)?;
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while stream.advance() {
        terms.push(Term::from_field_text(field, &stream.token().text));
    }
    Ok(terms)
}

/// `index:[a,b]`: a range over the numeric attribute field the index is built on.
fn range(
    index: &TableIndex,
    name: &str,
    lower: Option<Number>,
    upper: Option<Number>,
    lower_inclusive: bool,
    upper_inclusive: bool,
) -> Result<Box<dyn TantivyQuery>, SearchError> {
    search_field(index, name)?;
    let not_numeric = || SearchError {
        code: codes::SYNTAX,
        message: format!(
            "query clause: a range needs an index over one numeric field that is also a filter field; '{name}' is not"
        ),
    };
    let source = index.search_index_fields(name);
    let [field_name] = source.as_slice() else {
        return Err(not_numeric());
    };
    let Some(attr) = index.filter_field(field_name) else {
        return Err(not_numeric());
    };
    let field = index
        .tantivy()
        .schema()
        .get_field(&filter_field_name(field_name))
        .map_err(SearchError::internal)?;
    let bound = |n: Option<Number>, inclusive: bool, term: &dyn Fn(Number) -> Term| match n {
        None => Bound::Unbounded,
        Some(n) if inclusive => Bound::Included(term(n)),
        Some(n) => Bound::Excluded(term(n)),
    };
    let term: Box<dyn Fn(Number) -> Term> = match attr.element().unwrap_or(attr) {
        FieldType::Int => Box::new(move |n| match n {
            Number::Int(i) => Term::from_field_i64(field, i),
            Number::Float(f) => Term::from_field_i64(field, f as i64),
        }),
        FieldType::Float | FieldType::Double => {
            Box::new(move |n: Number| Term::from_field_f64(field, n.as_f64()))
        }
        FieldType::Timestamp => {
            Box::new(move |n: Number| Term::from_field_u64(field, n.as_f64().max(0.0) as u64))
        }
        _ => return Err(not_numeric()),
    };
    Ok(Box::new(RangeQuery::new(
        bound(lower, lower_inclusive, &*term),
        bound(upper, upper_inclusive, &*term),
    )))
}

/// `query` with the terms [`implied_terms`] finds in `filter` and the `ranges` of
/// [`push_down`] as required, zero-scoring clauses (so BM25 scores are unchanged); None when
/// there is neither.
pub fn narrow(
    index: &TableIndex,
    query: &dyn TantivyQuery,
    filter: &Expr,
    ranges: Vec<Box<dyn TantivyQuery>>,
) -> Option<Box<dyn TantivyQuery>> {
    let terms = implied_terms(index, filter);
    if terms.is_empty() && ranges.is_empty() {
        return None;
    }
    // tantivy drops an `AllQuery` from a conjunction, and its score (1) with it: the first
    // term scores 1 instead.
    let all = query.is::<AllQuery>();
    let mut clauses = if all {
        Vec::new()
    } else {
        vec![(Occur::Must, query.box_clone())]
    };
    let required = terms
        .into_iter()
        .map(|t| Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn TantivyQuery>)
        .chain(ranges);
    clauses.extend(required.enumerate().map(|(i, q)| {
        let score = if all && i == 0 { 1.0 } else { 0.0 };
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(q, score)) as Box<dyn TantivyQuery>,
        )
    }));
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// What [`push_down`] took out of a filter.
pub struct PushedDown {
    /// Range queries over fast fields, each matching exactly the documents that pass the
    /// conjunct it replaces (those every document of the snapshot passes are left out).
    pub ranges: Vec<Box<dyn TantivyQuery>>,
    /// The rest of the filter, evaluated per document as before; None when nothing is left.
    pub residual: Option<Expr>,
}

/// Takes out of `filter` the top-level conjuncts tantivy answers exactly from the index:
/// `field op number` with `op` one of `< <= > >= =` on a single-valued INT attribute (integer
/// constant) or FLOAT/DOUBLE attribute (any number). Ranges become fast-field range queries
/// (`=` on an INT is the term [`implied_terms`] already requires); None when no conjunct
/// qualifies.
///
/// Exactness: a document without a value passes no such comparison and matches no range; NaN
/// passes none and lies outside every bounded range (both ends are bounded, by ±infinity at
/// worst); -0.0 equals 0.0 (bounds at zero are widened to take both); multi-value fields are
/// left to the filter (it compares their first value, a range any value), and so is a field
/// any segment holds several values of.
pub fn push_down(index: &TableIndex, searcher: &Searcher, filter: &Expr) -> Option<PushedDown> {
    let mut conjuncts = Vec::new();
    flatten_and(filter, &mut conjuncts);
    let mut ranges = Vec::new();
    let mut residual = Vec::new();
    let mut pushed = false;
    for conjunct in conjuncts {
        match exact_range(index, searcher, conjunct) {
            Some(Pushed::Always) => pushed = true,
            Some(Pushed::Term) => pushed = true,
            Some(Pushed::Range(q)) => {
                pushed = true;
                ranges.push(q);
            }
            None => residual.push(conjunct.clone()),
        }
    }
    if !pushed {
        return None;
    }
    let residual = match residual.len() {
        0 => None,
        1 => residual.pop(),
        _ => Some(Expr::And(residual)),
    };
    Some(PushedDown { ranges, residual })
}

/// The conjuncts of `e`, nested `AND`s flattened.
fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(parts) => parts.iter().for_each(|p| flatten_and(p, out)),
        other => out.push(other),
    }
}

/// How a conjunct is answered without evaluating it.
enum Pushed {
    /// Every document of the snapshot passes it.
    Always,
    /// The term [`implied_terms`] requires matches exactly the passing documents.
    Term,
    /// This query matches exactly the passing documents.
    Range(Box<dyn TantivyQuery>),
}

/// A comparison's bounds on one numeric field.
struct Bounds<T> {
    lower: Bound<T>,
    upper: Bound<T>,
}

/// `field op constant` as a range over the field's values.
fn bounds<T: Copy>(op: CmpOp, k: T, min: T, max: T) -> Option<Bounds<T>> {
    let (lower, upper) = match op {
        CmpOp::Lt => (Bound::Included(min), Bound::Excluded(k)),
        CmpOp::Le => (Bound::Included(min), Bound::Included(k)),
        CmpOp::Gt => (Bound::Excluded(k), Bound::Included(max)),
        CmpOp::Ge => (Bound::Included(k), Bound::Included(max)),
        CmpOp::Eq => (Bound::Included(k), Bound::Included(k)),
        CmpOp::Ne => return None,
    };
    Some(Bounds { lower, upper })
}

fn exact_range(index: &TableIndex, searcher: &Searcher, e: &Expr) -> Option<Pushed> {
    let Expr::Compare { op, left, right } = e else {
        return None;
    };
    let (name, constant, op) = match (&**left, &**right) {
        (Expr::Field(name), Expr::Number(n)) => (name, *n, *op),
        (Expr::Number(n), Expr::Field(name)) if *op != CmpOp::Ne => (name, *n, flip(*op)),
        _ => return None,
    };
    let bare = name.rsplit_once('.').map_or(name.as_str(), |(_, f)| f);
    let attr = index.filter_field(bare)?;
    let column_name = filter_field_name(bare);
    let schema = index.tantivy().schema();
    let field = schema.get_field(&column_name).ok()?;
    if !schema.get_field_entry(field).is_fast() {
        return None;
    }
    let segments = searcher.segment_readers();
    match (attr, constant) {
        (FieldType::Int, Number::Int(k)) => {
            let columns = segments
                .iter()
                .map(|s| s.fast_fields().i64(&column_name).ok())
                .collect::<Vec<_>>();
            single_valued(&columns)?;
            if op == CmpOp::Eq {
                // The term is only required where the attribute is indexed.
                let indexed = schema.get_field_entry(field).is_indexed();
                return indexed.then_some(Pushed::Term);
            }
            let b = bounds(op, k, i64::MIN, i64::MAX)?;
            if covers_all(&columns, &b) {
                return Some(Pushed::Always);
            }
            let term = |v: i64| Term::from_field_i64(field, v);
            Some(Pushed::Range(Box::new(RangeQuery::new(
                b.lower.map(term),
                b.upper.map(term),
            ))))
        }
        (FieldType::Float | FieldType::Double, n) => {
            let k = n.as_f64();
            if k.is_nan() {
                return None;
            }
            let columns = segments
                .iter()
                .map(|s| s.fast_fields().f64(&column_name).ok())
                .collect::<Vec<_>>();
            single_valued(&columns)?;
            let b = bounds(op, k, f64::NEG_INFINITY, f64::INFINITY)?;
            // tantivy orders -0.0 just before 0.0; the filter holds them equal (a `0.0` pattern
            // matches both).
            let b = Bounds {
                lower: match b.lower {
                    Bound::Included(0.0) => Bound::Included(-0.0),
                    Bound::Excluded(0.0) => Bound::Excluded(0.0),
                    other => other,
                },
                upper: match b.upper {
                    Bound::Included(0.0) => Bound::Included(0.0),
                    Bound::Excluded(0.0) => Bound::Excluded(-0.0),
                    other => other,
                },
            };
            if covers_all(&columns, &b) {
                return Some(Pushed::Always);
            }
            let term = |v: f64| Term::from_field_f64(field, v);
            Some(Pushed::Range(Box::new(RangeQuery::new(
                b.lower.map(term),
                b.upper.map(term),
            ))))
        }
        _ => None,
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

/// Some when no segment's column (None: the segment has no values) holds several values
/// for one document.
fn single_valued<T>(columns: &[Option<NumColumn<T>>]) -> Option<()>
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    columns
        .iter()
        .flatten()
        .all(|c| c.get_cardinality() != Cardinality::Multivalued)
        .then_some(())
}

/// Whether every document of every segment has a value within `b` (so the comparison holds
/// everywhere and needs no clause).
fn covers_all<T>(columns: &[Option<NumColumn<T>>], b: &Bounds<T>) -> bool
where
    T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static,
{
    columns.iter().all(|c| {
        c.as_ref().is_some_and(|c| {
            let (min, max) = (c.min_value(), c.max_value());
            c.get_cardinality() == Cardinality::Full
                && match b.lower {
                    Bound::Included(l) => min >= l,
                    Bound::Excluded(l) => min > l,
                    Bound::Unbounded => true,
                }
                && match b.upper {
                    Bound::Included(u) => max <= u,
                    Bound::Excluded(u) => max < u,
                    Bound::Unbounded => true,
                }
        })
    })
}

/// Terms every document passing `filter` has: one per conjunct `field = constant`
/// where the field is an indexed INT attribute and the constant an integer, or a LITERAL
/// attribute and a quoted string. Requiring them in the tantivy query lets it intersect posting
/// lists instead of evaluating the filter on every match of the query; the filter itself is
/// still evaluated, so the result is the same. A multi-value field's `=` means "contains",
/// which the term implies too. Other comparisons (numbers across types, `"3" = 3`) compare
/// as numbers and have no single term, so they are left to the filter.
fn implied_terms(index: &TableIndex, filter: &Expr) -> Vec<Term> {
    let mut conjuncts = Vec::new();
    flatten_and(filter, &mut conjuncts);
    let schema = index.tantivy().schema();
    conjuncts
        .into_iter()
        .filter_map(|e| {
            let Expr::Compare {
                op: CmpOp::Eq,
                left,
                right,
            } = e
            else {
                return None;
            };
            let (name, constant) = match (&**left, &**right) {
                (Expr::Field(name), c) | (c, Expr::Field(name)) => (name, c),
                _ => return None,
            };
            let bare = name.rsplit_once('.').map_or(name.as_str(), |(_, f)| f);
            let attr = index.filter_field(bare)?;
            let field = schema.get_field(&filter_field_name(bare)).ok()?;
            // An index created before attributes were indexed has no postings to intersect.
            if !schema.get_field_entry(field).is_indexed() {
                return None;
            }
            match (attr.element().unwrap_or(attr), constant) {
                (FieldType::Int, Expr::Number(Number::Int(i))) => {
                    Some(Term::from_field_i64(field, *i))
                }
                // tantivy does not index longer tokens (the column still holds the value).
                (FieldType::Literal, Expr::Str(s)) if s.len() < MAX_TOKEN_LEN => {
                    Some(Term::from_field_text(field, s))
                }
                _ => None,
            }
        })
        .collect()
}
