//! Executes a parsed V3 search request ([`pier_query::SearchRequest`]) over a table's index
//! snapshot: the query clause becomes a tantivy query scored with BM25, then filter, sort,
//! distinct and aggregates run over the matches' fast fields, and the page's stored documents
//! are read back, with highlighted summaries on request.
//!
//! A request with only a query (and the default `-RANK` sort) takes tantivy's top-k path with
//! block-max WAND pruning; so does the page of a single term with only aggregates, whose groups
//! come from a second pass that scores nothing. Anything else goes through
//! [`collect::PlanCollector`], with the filter's `field = constant` conjuncts added to the
//! tantivy query as required terms.

mod collect;
mod expr;
mod keys;
mod suggest;
#[cfg(test)]
mod tests;
mod text;

pub use expr::Val;

use crate::TableIndex;
use collect::{Acc, Candidate, PlanCollector, apply_distinct};
use pier_query::{AggFun, MAX_START_PLUS_HIT, SearchRequest, SortExpr, default_sort};
use serde_json::{Map, Value};
use std::sync::Arc;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::TermQuery;
use tantivy::schema::Value as _;
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Searcher, TantivyDocument};

/// Code of an internal failure (spec §3: 1000, retryable).
const INTERNAL: u32 = 1000;

/// A search the executor refused or failed: a V3 error code and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    /// The V3 error code.
    pub code: u32,
    /// What is wrong, in words that say what to fix.
    pub message: String,
}

impl SearchError {
    fn internal(e: impl std::fmt::Display) -> SearchError {
        SearchError {
            code: INTERNAL,
            message: format!("internal error while searching: {e}"),
        }
    }

    /// The collector reports plan errors through tantivy's error type; this recovers them.
    fn from_tantivy(e: tantivy::TantivyError) -> SearchError {
        if let tantivy::TantivyError::InvalidArgument(text) = &e
            && let Some((code, message)) = text.split_once('|')
            && let Ok(code) = code.parse()
        {
            return SearchError {
                code,
                message: message.to_string(),
            };
        }
        SearchError::internal(e)
    }
}

/// The `summary` parameter for one field: a highlighted excerpt replaces the field's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The field to summarise.
    pub field: String,
    /// Most characters of the excerpt.
    pub len: usize,
    /// Text put before each highlighted term (`<em>` by default).
    pub prefix: String,
    /// Text put after each highlighted term (`</em>` by default).
    pub postfix: String,
    /// Appended when the excerpt is shorter than the value.
    pub ellipsis: String,
}

/// What page of the results to return.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Page {
    /// Results `start..start + hit` in the request's order.
    Ranked {
        /// First result.
        start: usize,
        /// Number of results.
        hit: usize,
    },
    /// The next `hit` documents after a scroll cursor, in index order.
    Scroll {
        /// The last document of the previous page, if any.
        after: Option<DocAddress>,
        /// Number of results.
        hit: usize,
    },
}

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Where it is in the snapshot (scroll cursors are addresses).
    pub address: DocAddress,
    /// Relevance score (BM25; 0 when the request did not rank).
    pub score: f32,
    /// The stored document.
    pub fields: Map<String, Value>,
    /// The values of the sort expressions, in sort-clause order.
    pub sort_values: Vec<Val>,
}

/// One group of an aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct FacetItem {
    /// The group's key value (or range bucket such as `10~50`).
    pub value: String,
    /// Documents in the group.
    pub count: u64,
    /// Each aggregate function's name and value, in clause order (`count` included).
    pub values: Vec<(&'static str, f64)>,
    /// For a `group_by` aggregate, the value of each key as displayed (None: the document has
    /// none), in `group_by` order; empty otherwise.
    pub keys: Vec<Option<String>>,
}

/// The groups of one aggregate spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Facet {
    /// The `group_key` field.
    pub key: String,
    /// Groups, largest count first.
    pub items: Vec<FacetItem>,
}

/// A search's answer.
#[derive(Debug, Clone)]
pub struct SearchOutput {
    /// Documents that match the query and filter (less those dropped by distinct with
    /// `update_total_hit`).
    pub total: u64,
    /// How many results ranked pages can reach: `total` less every document distinct
    /// discarded (with or without `update_total_hit`), at most [`MAX_VIEW_TOTAL`].
    pub viewtotal: u64,
    /// The requested page.
    pub hits: Vec<Hit>,
    /// One facet per aggregate spec.
    pub facets: Vec<Facet>,
}

impl TableIndex {
    /// Runs `request` on `searcher` (a snapshot from [`TableIndex::searcher`]) and returns
    /// `page`, with `summaries` applied to the page's fields.
    pub fn search(
        &self,
        searcher: &Searcher,
        request: &Arc<SearchRequest>,
        page: Page,
        summaries: &[Summary],
    ) -> Result<SearchOutput, SearchError> {
        let query = text::build(self, &request.query)?;
        // The filter's exact numeric comparisons become range clauses of the tantivy query and
        // leave the filter: what remains of it is evaluated per document.
        let pushed = request
            .filter
            .as_ref()
            .and_then(|f| text::push_down(self, searcher, f));
        let original = request;
        let (ranges, request) = match pushed {
            Some(p) => {
                let mut residual = (**request).clone();
                residual.filter = p.residual;
                (p.ranges, Arc::new(residual))
            }
            None => (Vec::new(), Arc::clone(request)),
        };
        let request = &request;
        let simple = request.filter.is_none()
            && request.distinct.is_empty()
            && request.aggregates.is_empty()
            && request.sort == default_sort();
        // The collectors see the query narrowed by the filter's `field = constant` terms and
        // ranges; the page's highlighting still uses the query alone.
        let narrowed = match &original.filter {
            Some(f) => text::narrow(self, &*query, f, ranges),
            None => None,
        };
        let collect_query: &dyn tantivy::query::Query = narrowed.as_deref().unwrap_or(&*query);
        let (total, picked) = match page {
            Page::Ranked { start, hit } if simple => {
                top_by_score(searcher, collect_query, start, hit)?
            }
            Page::Ranked { start, hit } => {
                // Aggregates of a term ranked by relevance: the page comes from tantivy's top-k
                // (WAND), and the groups from a second pass that scores nothing. A term is
                // cheap to evaluate twice; other queries are collected once.
                let split = request.filter.is_none()
                    && request.distinct.is_empty()
                    && request.sort == default_sort()
                    && collect_query.is::<TermQuery>();
                let keep = if split {
                    0
                } else if request.distinct.is_empty() {
                    start + hit
                } else {
                    usize::MAX
                };
                let collector = PlanCollector {
                    request: request.clone(),
                    fields: self.filter_fields().into(),
                    keep,
                    scroll: false,
                    after: None,
                };
                let collected = searcher
                    .search(collect_query, &collector)
                    .map_err(SearchError::from_tantivy)?;
                let (ordered, dropped) = apply_distinct(collected.candidates, &request.distinct);
                // Without distinct, only the page's candidates were kept.
                let reachable = if request.distinct.is_empty() {
                    collected.total
                } else {
                    ordered.len() as u64
                };
                let picked = if split {
                    top_by_score(searcher, collect_query, start, hit)?.1
                } else {
                    ordered.into_iter().skip(start).take(hit).collect()
                };
                let facets = facets(request, collected.groups);
                let hits = self.fetch(searcher, &query, picked, request, summaries)?;
                return Ok(SearchOutput {
                    total: collected.total - dropped.min(collected.total),
                    viewtotal: reachable.min(MAX_VIEW_TOTAL),
                    hits,
                    facets,
                });
            }
            Page::Scroll { after, hit } => {
                let collector = PlanCollector {
                    request: request.clone(),
                    fields: self.filter_fields().into(),
                    keep: hit,
                    scroll: true,
                    after,
                };
                let collected = searcher
                    .search(collect_query, &collector)
                    .map_err(SearchError::from_tantivy)?;
                (collected.total, collected.candidates)
            }
        };
        let hits = self.fetch(searcher, &query, picked, request, summaries)?;
        Ok(SearchOutput {
            total,
            viewtotal: total.min(MAX_VIEW_TOTAL),
            hits,
            facets: Vec::new(),
        })
    }

    /// Reads the stored documents of the page and applies the summaries.
    fn fetch(
        &self,
        searcher: &Searcher,
        query: &dyn tantivy::query::Query,
        picked: Vec<Candidate>,
        request: &SearchRequest,
        summaries: &[Summary],
    ) -> Result<Vec<Hit>, SearchError> {
        let generators = summaries
            .iter()
            .filter_map(|s| {
                let field = self.search_field_for(&s.field)?;
                let mut generator = SnippetGenerator::create(searcher, query, field).ok()?;
                generator.set_max_num_chars(s.len.max(1));
                Some((s, generator))
            })
            .collect::<Vec<_>>();
        let ranked = request
            .sort
            .iter()
            .map(|k| matches!(k.key, SortExpr::Rank))
            .collect::<Vec<_>>();
        picked
            .into_iter()
            .map(|c| {
                let doc: TantivyDocument =
                    searcher.doc(c.address).map_err(SearchError::internal)?;
                let source = doc
                    .get_first(self.source_field())
                    .and_then(|v| v.as_str())
                    .unwrap_or("{}");
                let mut fields: Map<String, Value> =
                    serde_json::from_str(source).map_err(SearchError::internal)?;
                for (summary, generator) in &generators {
                    if let Some(Value::String(text)) = fields.get(&summary.field) {
                        let excerpt = highlight(generator, summary, text);
                        fields.insert(summary.field.clone(), Value::String(excerpt));
                    }
                }
                // Scroll pages have no sort keys; ranked pages report each key's value.
                let sort_values = if c.keys.len() == ranked.len() {
                    c.keys
                } else {
                    Vec::new()
                };
                Ok(Hit {
                    address: c.address,
                    score: c.score,
                    fields,
                    sort_values,
                })
            })
            .collect()
    }
}

/// The total and the page `start..start + hit` of `query` by relevance, with tantivy's top-k
/// collector (block-max WAND for a term).
fn top_by_score(
    searcher: &Searcher,
    query: &dyn tantivy::query::Query,
    start: usize,
    hit: usize,
) -> Result<(u64, Vec<Candidate>), SearchError> {
    // tantivy refuses (panics on) a limit of 0: such a page only counts (the branch below).
    let top_docs = TopDocs::with_limit(hit.max(1))
        .and_offset(start)
        .order_by_score();
    // A term's count is its document frequency (O(1) without deletes), and top-k alone can skip
    // blocks (WAND); any other query would be evaluated twice, so it is counted in the same
    // pass as the top k.
    let (total, top) = if hit == 0 {
        let total = query.count(searcher).map_err(SearchError::internal)?;
        (total, Vec::new())
    } else if query.is::<TermQuery>() {
        let total = query.count(searcher).map_err(SearchError::internal)?;
        let top = searcher
            .search(query, &top_docs)
            .map_err(SearchError::internal)?;
        (total, top)
    } else {
        let (top, total) = searcher
            .search(query, &(top_docs, Count))
            .map_err(SearchError::internal)?;
        (total, top)
    };
    let picked = top
        .into_iter()
        .map(|(score, address)| Candidate {
            address,
            score,
            keys: vec![Val::Float(f64::from(score))],
            distinct: Vec::new(),
        })
        .collect();
    Ok((total as u64, picked))
}

/// The excerpt of `text` around the query's terms, highlighted as `summary` says; the value's
/// beginning when no term occurs in it.
fn highlight(generator: &SnippetGenerator, summary: &Summary, text: &str) -> String {
    let snippet = generator.snippet(text);
    let fragment = snippet.fragment();
    if fragment.is_empty() {
        let head: String = text.chars().take(summary.len).collect();
        return if head.len() < text.len() {
            head + &summary.ellipsis
        } else {
            head
        };
    }
    // Analyzers that emit overlapping tokens (jieba's 北京 / 大学 / 北京大学) give overlapping
    // ranges: merge them so each character is highlighted once.
    let mut ranges: Vec<std::ops::Range<usize>> = snippet.highlighted().to_vec();
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut out = String::with_capacity(fragment.len() + 32);
    let mut at = 0;
    for range in merged {
        out.push_str(&fragment[at..range.start]);
        out.push_str(&summary.prefix);
        out.push_str(&fragment[range.start..range.end]);
        out.push_str(&summary.postfix);
        at = range.end;
    }
    out.push_str(&fragment[at..]);
    if fragment.len() < text.len() {
        out.push_str(&summary.ellipsis);
    }
    out
}

/// The aggregate groups as facets: largest groups first, at most `max_group` of them.
fn facets(request: &SearchRequest, groups: Vec<collect::Groups>) -> Vec<Facet> {
    request
        .aggregates
        .iter()
        .zip(groups)
        .map(|(spec, groups)| {
            let mut items: Vec<FacetItem> = groups
                .into_iter()
                .map(|(value, (count, accs))| {
                    // Accumulators are kept for every function but count(), in clause order.
                    let mut accs = accs.iter().map(Acc::value);
                    let values = spec
                        .functions
                        .iter()
                        .map(|f| match f {
                            AggFun::Count => (f.name(), count as f64),
                            _ => (f.name(), accs.next().unwrap_or(0.0)),
                        })
                        .collect();
                    let keys = if spec.group_by.is_some() {
                        collect::composite_keys(&value)
                    } else {
                        Vec::new()
                    };
                    FacetItem {
                        value,
                        count,
                        values,
                        keys,
                    }
                })
                .collect();
            items.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            items.truncate(spec.max_group as usize);
            Facet {
                key: spec.group_key.clone(),
                items,
            }
        })
        .collect()
}

/// Most results a ranked page can reach (`viewtotal` caps at this).
pub const MAX_VIEW_TOTAL: u64 = MAX_START_PLUS_HIT as u64;
