//! The query clause turned into a tantivy query: terms analysed with their index's analyzer,
//! phrases, numeric ranges, boosts and the four operators.

use super::SearchError;
use crate::TableIndex;
use crate::table_index::filter_field_name;
use pier_model::FieldType;
use pier_query::{DEFAULT_BOOST, Number, Query, codes};
use std::ops::Bound;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query as TantivyQuery,
    RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenStream;

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
