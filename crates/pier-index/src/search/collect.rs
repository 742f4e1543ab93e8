//! The general collector: filter, sort keys, distinct keys and aggregates evaluated per matching
//! document, segment by segment; the page is chosen after merging.
//!
//! Without distinct, each segment keeps only its best `keep` candidates (trimmed in amortised
//! linear time), so memory stays bounded whatever the match count. Distinct needs the whole
//! ordered list, so it keeps every candidate.

use super::SearchError;
use super::expr::{Compiled, SegmentColumns, Val};
use pier_model::FieldSchema;
use pier_query::{AggFun, Aggregate, Distinct, Order, SearchRequest, SortExpr, codes};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// A matching document with what ordering and distinct need.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where the document is.
    pub address: DocAddress,
    /// Its relevance score (0 when nothing asked for it).
    pub score: Score,
    /// Its sort key values, one per sort key.
    pub keys: Vec<Val>,
    /// Its distinct key values, one per distinct spec (Null when exempt by `dist_filter`).
    pub distinct: Vec<Val>,
}

/// Per-function accumulators of one group.
#[derive(Debug, Clone)]
pub enum Acc {
    /// `count()`.
    Count(u64),
    /// `sum(..)`.
    Sum(f64),
    /// `max(..)`.
    Max(Option<f64>),
    /// `min(..)`.
    Min(Option<f64>),
    /// `distinct_count(..)`.
    Distinct(HashSet<String>),
}

impl Acc {
    fn new(f: &AggFun) -> Acc {
        match f {
            AggFun::Count => Acc::Count(0),
            AggFun::Sum(_) => Acc::Sum(0.0),
            AggFun::Max(_) => Acc::Max(None),
            AggFun::Min(_) => Acc::Min(None),
            AggFun::DistinctCount(_) => Acc::Distinct(HashSet::new()),
        }
    }

    /// Adds one document's argument value (None for `count()`).
    fn add(&mut self, value: Option<&Val>) {
        let number = value.and_then(Val::as_f64);
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) => *s += number.unwrap_or(0.0),
            Acc::Max(m) => *m = max_opt(*m, number, f64::max),
            Acc::Min(m) => *m = max_opt(*m, number, f64::min),
            Acc::Distinct(set) => {
                if let Some(v) = value.filter(|v| **v != Val::Null) {
                    set.insert(v.to_display());
                }
            }
        }
    }

    fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => *a += b,
            (Acc::Max(a), Acc::Max(b)) => *a = max_opt(*a, b, f64::max),
            (Acc::Min(a), Acc::Min(b)) => *a = max_opt(*a, b, f64::min),
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b),
            _ => {}
        }
    }

    /// The accumulated value as a number.
    pub fn value(&self) -> f64 {
        match self {
            Acc::Count(n) => *n as f64,
            Acc::Sum(s) => *s,
            Acc::Max(v) | Acc::Min(v) => v.unwrap_or(0.0),
            Acc::Distinct(set) => set.len() as f64,
        }
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(pick(x, y)),
        (x, y) => x.or(y),
    }
}

/// Groups of one aggregate spec: group value → (document count, accumulators).
pub type Groups = HashMap<String, (u64, Vec<Acc>)>;

/// What the collector returns.
#[derive(Debug, Default)]
pub struct Collected {
    /// Documents that matched the query and passed the filter.
    pub total: u64,
    /// The ordered candidates (all of them with distinct, the best `keep` otherwise).
    pub candidates: Vec<Candidate>,
    /// Groups per aggregate spec.
    pub groups: Vec<Groups>,
}

/// The collector for one request.
pub struct PlanCollector {
    /// The request being executed.
    pub request: Arc<SearchRequest>,
    /// The table's attribute fields.
    pub fields: Arc<[FieldSchema]>,
    /// Candidates to keep per segment (`usize::MAX` for all).
    pub keep: usize,
    /// A scroll page: documents in address order, without sort keys.
    pub scroll: bool,
    /// Only documents after this address (the scroll cursor).
    pub after: Option<DocAddress>,
}

impl PlanCollector {
    fn needs_score(&self) -> bool {
        !self.scroll
            && self
                .request
                .sort
                .iter()
                .any(|k| matches!(k.key, SortExpr::Rank))
    }
}

/// Compares two candidates by the request's sort keys, then by address for a stable order.
pub fn compare(orders: &[Order], a: &Candidate, b: &Candidate) -> Ordering {
    for (i, order) in orders.iter().enumerate() {
        let o = a.keys[i].total_cmp(&b.keys[i]);
        let o = if *order == Order::Desc {
            o.reverse()
        } else {
            o
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    (a.address.segment_ord, a.address.doc_id).cmp(&(b.address.segment_ord, b.address.doc_id))
}

/// Sort keys of one segment: the relevance score or a compiled expression.
enum KeyExpr {
    Rank,
    Expr(Compiled),
}

struct AggPlan {
    filter: Option<Compiled>,
    key: Compiled,
    range: Vec<f64>,
    /// Each function's empty accumulator and compiled argument.
    functions: Vec<(Acc, Option<Compiled>)>,
}

/// The collector's work in one segment.
pub struct PlanSegment {
    segment: SegmentOrdinal,
    columns: SegmentColumns,
    filter: Option<Compiled>,
    keys: Vec<KeyExpr>,
    orders: Arc<[Order]>,
    distinct: Vec<(Option<Compiled>, Compiled)>,
    aggs: Vec<AggPlan>,
    after: Option<DocId>,
    keep: usize,
    collected: Collected,
}

impl Collector for PlanCollector {
    type Fruit = Collected;
    type Child = PlanSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<PlanSegment> {
        self.plan_segment(segment_ord, segment).map_err(|e| {
            tantivy::TantivyError::InvalidArgument(format!("{}|{}", e.code, e.message))
        })
    }

    fn requires_scoring(&self) -> bool {
        self.needs_score()
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        let orders = self.orders();
        let mut merged = Collected {
            groups: vec![Groups::new(); self.request.aggregates.len()],
            ..Collected::default()
        };
        for fruit in fruits {
            merged.total += fruit.total;
            merged.candidates.extend(fruit.candidates);
            for (into, from) in merged.groups.iter_mut().zip(fruit.groups) {
                for (value, (count, accs)) in from {
                    match into.get_mut(&value) {
                        Some((c, existing)) => {
                            *c += count;
                            existing.iter_mut().zip(accs).for_each(|(a, b)| a.merge(b));
                        }
                        None => {
                            into.insert(value, (count, accs));
                        }
                    }
                }
            }
        }
        merged.candidates.sort_by(|a, b| compare(&orders, a, b));
        merged.candidates.truncate(self.keep);
        Ok(merged)
    }
}

impl PlanCollector {
    fn orders(&self) -> Arc<[Order]> {
        if self.scroll {
            return Arc::new([]);
        }
        self.request.sort.iter().map(|k| k.order).collect()
    }

    fn plan_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> Result<PlanSegment, SearchError> {
        let r = &self.request;
        let fields = &self.fields;
        let mut columns = SegmentColumns::default();
        let mut compile = |e: &pier_query::Expr, clause: &str, code: u32| {
            columns.compile(segment, fields, e, clause, code)
        };
        let filter = r
            .filter
            .as_ref()
            .map(|f| compile(f, "filter", codes::FILTER))
            .transpose()?;
        let keys = if self.scroll {
            Vec::new()
        } else {
            r.sort
                .iter()
                .map(|k| match &k.key {
                    SortExpr::Rank => Ok(KeyExpr::Rank),
                    SortExpr::Expr(e) => compile(e, "sort", codes::SORT).map(KeyExpr::Expr),
                })
                .collect::<Result<_, _>>()?
        };
        let distinct = r
            .distinct
            .iter()
            .map(|d: &Distinct| {
                let filter = d
                    .filter
                    .as_ref()
                    .map(|f| compile(f, "distinct", codes::DISTINCT))
                    .transpose()?;
                let key = compile(
                    &pier_query::Expr::Field(d.key.clone()),
                    "distinct",
                    codes::DISTINCT,
                )?;
                Ok((filter, key))
            })
            .collect::<Result<_, SearchError>>()?;
        let aggs = r
            .aggregates
            .iter()
            .map(|a: &Aggregate| {
                Ok(AggPlan {
                    filter: a
                        .filter
                        .as_ref()
                        .map(|f| compile(f, "aggregate", codes::AGGREGATE))
                        .transpose()?,
                    key: compile(
                        &pier_query::Expr::Field(a.group_key.clone()),
                        "aggregate",
                        codes::AGGREGATE,
                    )?,
                    range: a.range.iter().map(|n| n.as_f64()).collect(),
                    functions: a
                        .functions
                        .iter()
                        .map(|f| {
                            let arg = match f {
                                AggFun::Count => None,
                                AggFun::Sum(e)
                                | AggFun::Max(e)
                                | AggFun::Min(e)
                                | AggFun::DistinctCount(e) => {
                                    Some(compile(e, "aggregate", codes::AGGREGATE)?)
                                }
                            };
                            Ok((Acc::new(f), arg))
                        })
                        .collect::<Result<_, SearchError>>()?,
                })
            })
            .collect::<Result<_, SearchError>>()?;
        let after = self
            .after
            .and_then(|a| match a.segment_ord.cmp(&segment_ord) {
                // The cursor has not reached this segment.
                Ordering::Less => None,
                Ordering::Equal => Some(a.doc_id),
                // The cursor is past this segment: it is done.
                Ordering::Greater => Some(DocId::MAX),
            });
        Ok(PlanSegment {
            segment: segment_ord,
            columns,
            filter,
            keys,
            orders: self.orders(),
            distinct,
            aggs,
            after,
            keep: self.keep,
            collected: Collected {
                groups: vec![Groups::new(); r.aggregates.len()],
                ..Collected::default()
            },
        })
    }
}

/// The group a document's key value falls in: the value itself, or its range bucket.
fn group_label(value: &Val, range: &[f64]) -> Option<String> {
    if range.is_empty() {
        return match value {
            Val::Null => None,
            v => Some(v.to_display()),
        };
    }
    let x = match value {
        Val::Many(v) => v.first()?.clone(),
        v => v.clone(),
    };
    let x = match x {
        Val::Int(i) => i as f64,
        Val::Float(f) => f,
        _ => return None,
    };
    let fmt = |f: f64| Val::Float(f).to_display();
    let upper = range.iter().position(|b| x < *b);
    Some(match upper {
        Some(0) => format!("~{}", fmt(range[0])),
        Some(i) => format!("{}~{}", fmt(range[i - 1]), fmt(range[i])),
        None => format!("{}~", fmt(range[range.len() - 1])),
    })
}

impl SegmentCollector for PlanSegment {
    type Fruit = Collected;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.after.is_some_and(|after| doc <= after) {
            return;
        }
        if let Some(f) = &self.filter
            && !self.columns.test(f, doc)
        {
            return;
        }
        self.collected.total += 1;
        for (plan, groups) in self.aggs.iter().zip(&mut self.collected.groups) {
            if let Some(f) = &plan.filter
                && !self.columns.test(f, doc)
            {
                continue;
            }
            let key = self.columns.eval(&plan.key, doc);
            let labels: Vec<String> = match (&key, plan.range.is_empty()) {
                (Val::Many(items), true) => items
                    .iter()
                    .filter_map(|v| group_label(v, &plan.range))
                    .collect(),
                _ => group_label(&key, &plan.range).into_iter().collect(),
            };
            for label in labels {
                let (count, accs) = groups.entry(label).or_insert_with(|| {
                    (0, plan.functions.iter().map(|(a, _)| a.clone()).collect())
                });
                *count += 1;
                for (acc, (_, arg)) in accs.iter_mut().zip(&plan.functions) {
                    let v = arg.as_ref().map(|e| self.columns.eval(e, doc));
                    acc.add(v.as_ref());
                }
            }
        }
        let keys = self
            .keys
            .iter()
            .map(|k| match k {
                KeyExpr::Rank => Val::Float(f64::from(score)),
                KeyExpr::Expr(e) => self.columns.eval(e, doc),
            })
            .collect();
        let distinct = self
            .distinct
            .iter()
            .map(|(filter, key)| match filter {
                Some(f) if !self.columns.test(f, doc) => Val::Null,
                _ => self.columns.eval(key, doc),
            })
            .collect();
        self.collected.candidates.push(Candidate {
            address: DocAddress::new(self.segment, doc),
            score,
            keys,
            distinct,
        });
        let len = self.collected.candidates.len();
        if self.keep < usize::MAX / 4 && len >= 2 * self.keep + 1024 {
            self.trim();
        }
    }

    fn harvest(mut self) -> Collected {
        self.trim();
        self.collected
    }
}

impl PlanSegment {
    fn trim(&mut self) {
        let keep = self.keep;
        let candidates = &mut self.collected.candidates;
        if candidates.len() > keep {
            let orders = &self.orders;
            candidates.select_nth_unstable_by(keep, |a, b| compare(orders, a, b));
            candidates.truncate(keep);
        }
    }
}

/// Applies the distinct specs to the ordered `candidates` (spec §4.2): in each of `times`
/// rounds a key value keeps at most `count` documents; documents exempt by `dist_filter`
/// always stay. Returns the kept list (with the rest appended when `reserved`) and how many
/// documents were dropped.
pub fn apply_distinct(candidates: Vec<Candidate>, specs: &[Distinct]) -> (Vec<Candidate>, u64) {
    let mut list = candidates;
    let mut dropped = 0;
    for (i, spec) in specs.iter().enumerate() {
        let mut front = Vec::with_capacity(list.len());
        let mut remaining = list;
        for _ in 0..spec.times.max(1) {
            let mut taken: HashMap<String, u32> = HashMap::new();
            let mut next = Vec::new();
            for c in remaining {
                let key = &c.distinct[i];
                if *key == Val::Null {
                    front.push(c);
                    continue;
                }
                let n = taken.entry(key.to_display()).or_default();
                if *n < spec.count {
                    *n += 1;
                    front.push(c);
                } else {
                    next.push(c);
                }
            }
            remaining = next;
        }
        if spec.reserved {
            front.extend(remaining);
        } else if spec.update_total_hit {
            dropped += remaining.len() as u64;
        }
        list = front;
    }
    (list, dropped)
}
