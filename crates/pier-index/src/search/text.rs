//! The query clause turned into a tantivy query: terms analysed with their index's analyzer,
//! phrases, numeric ranges, boosts and the four operators.

use super::SearchError;
use crate::TableIndex;
use crate::table_index::filter_field_name;
use pier_model::FieldType;
use pier_query::{CmpOp, DEFAULT_BOOST, Expr, Number, Query, codes};
use std::ops::Bound;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, PhraseQuery,
    Query as TantivyQuery, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{MAX_TOKEN_LEN, TokenStream};

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

/// `query` with the terms [`implied_terms`] finds in `filter` as required, zero-scoring clauses
/// (so BM25 scores are unchanged); None when the filter implies no term.
pub fn narrow(
    index: &TableIndex,
    query: &dyn TantivyQuery,
    filter: &Expr,
) -> Option<Box<dyn TantivyQuery>> {
    let terms = implied_terms(index, filter);
    if terms.is_empty() {
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
    clauses.extend(terms.into_iter().enumerate().map(|(i, t)| {
        let required = TermQuery::new(t, IndexRecordOption::Basic);
        let score = if all && i == 0 { 1.0 } else { 0.0 };
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(required), score)) as Box<dyn TantivyQuery>,
        )
    }));
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// Terms every document passing `filter` has: one per top-level conjunct `field = constant`
/// where the field is an indexed INT attribute and the constant an integer, or a LITERAL
/// attribute and a quoted string. Requiring them in the tantivy query lets it intersect posting
/// lists instead of evaluating the filter on every match of the query; the filter itself is
/// still evaluated, so the result is the same. A multi-value field's `=` means "contains",
/// which the term implies too. Other comparisons (numbers across types, `"3" = 3`) compare
/// as numbers and have no single term, so they are left to the filter.
fn implied_terms(index: &TableIndex, filter: &Expr) -> Vec<Term> {
    let conjuncts = match filter {
        Expr::And(parts) => parts.iter().collect(),
        other => vec![other],
    };
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
