//! The general collector: filter, sort keys, distinct keys and aggregates evaluated per matching
//! document, segment by segment; the page is chosen after merging.
//!
//! Without distinct, each segment keeps only its best `keep` candidates (trimmed in amortised
//! linear time), so memory stays bounded whatever the match count. Distinct needs the whole
//! ordered list, so it keeps every candidate.

use super::SearchError;
use super::expr::{Atom, Compiled, SegmentColumns, Val};
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

/// The accumulator of one function of one group; `count()` has none, a group's document count
/// is its value.
#[derive(Debug, Clone)]
pub enum Acc {
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
    /// The empty accumulator of `f` and the expression it accumulates; None for `count()`.
    fn new(f: &AggFun) -> Option<(Acc, &pier_query::Expr)> {
        Some(match f {
            AggFun::Count => return None,
            AggFun::Sum(e) => (Acc::Sum(0.0), e),
            AggFun::Max(e) => (Acc::Max(None), e),
            AggFun::Min(e) => (Acc::Min(None), e),
            AggFun::DistinctCount(e) => (Acc::Distinct(HashSet::new()), e),
        })
    }

    /// Adds one document's argument value.
    fn add(&mut self, value: &Val) {
        let number = value.as_f64();
        match self {
            Acc::Sum(s) => *s += number.unwrap_or(0.0),
            Acc::Max(m) => *m = max_opt(*m, number, f64::max),
            Acc::Min(m) => *m = max_opt(*m, number, f64::min),
            Acc::Distinct(set) => {
                if *value != Val::Null {
                    set.insert(value.to_display());
                }
            }
        }
    }

    fn merge(&mut self, other: Acc) {
        match (self, other) {
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
        // Without candidates to keep (only the total and groups), scores are never read.
        !self.scroll
            && self.keep > 0
            && self
                .request
                .sort
                .iter()
                .any(|k| matches!(k.key, SortExpr::Rank))
    }
}

/// Compares two candidates by the request's sort keys, then by address for a stable order.
pub fn compare(orders: &[Order], a: &Candidate, b: &Candidate) -> Ordering {
    compare_keys(orders, (&a.keys[..], a.address), (&b.keys[..], b.address))
}

/// [`compare`] on sort key values and addresses, so a document can be ranked against the kept
/// candidates before a [`Candidate`] is built for it.
fn compare_keys(orders: &[Order], a: (&[Val], DocAddress), b: (&[Val], DocAddress)) -> Ordering {
    for (i, order) in orders.iter().enumerate() {
        let o = a.0[i].total_cmp(&b.0[i]);
        let o = if *order == Order::Desc {
            o.reverse()
        } else {
            o
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    (a.1.segment_ord, a.1.doc_id).cmp(&(b.1.segment_ord, b.1.doc_id))
}

/// Sort keys of one segment: the relevance score or a compiled expression.
enum KeyExpr {
    Rank,
    Expr(Compiled),
}

struct AggPlan {
    filter: Option<Compiled>,
    key: Compiled,
    /// The keys of a `group_by` aggregate (then `key` is unused).
    group_by: Option<Vec<Compiled>>,
    range: Vec<f64>,
    /// The empty accumulator and compiled argument of each function but `count()`.
    functions: Vec<(Acc, Compiled)>,
}

/// Most term ordinals (or range buckets) a segment's groups are kept for in a dense array;
/// larger dictionaries use a hash map so a query never allocates in proportion to them.
const DENSE_GROUPS: usize = 1 << 16;

/// A group of one segment, keyed by what the column holds rather than by its label, so
/// grouping allocates nothing per document. Labels are made once per group at harvest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SegKey {
    /// A term ordinal of a string key, a range bucket's index, or an integer key's offset
    /// from the segment's least value ([`SegGroups::base`]).
    Slot(u64),
    /// An integer key.
    Int(i64),
    /// A double key, by its bits (labels that print alike are merged at harvest).
    Float(u64),
}

/// One group's document count and accumulators.
type GroupAcc = (u64, Vec<Acc>);

/// The groups of one aggregate spec within one segment.
struct SegGroups {
    /// Groups of slots below its length, indexed by slot (a count of 0 is an empty group).
    dense: Vec<GroupAcc>,
    /// Every other group.
    sparse: HashMap<SegKey, GroupAcc>,
    /// The groups of a `group_by` aggregate, by the displayed values of its keys (None: no
    /// value).
    composite: HashMap<Vec<Option<String>>, GroupAcc>,
    /// For an integer key whose values span fewer than [`DENSE_GROUPS`] in this segment: the
    /// least value; keys are slots offset from it.
    base: Option<i64>,
}

impl SegGroups {
    /// The groups of `plan` in the segment of `columns`: dense for range buckets, small string
    /// dictionaries and narrow integer spans, hashed otherwise.
    fn new(plan: &AggPlan, columns: &SegmentColumns) -> SegGroups {
        let small = |n: usize| n <= DENSE_GROUPS;
        let (dense, base) = if !plan.range.is_empty() {
            (plan.range.len() + 1, None)
        } else if let Some(n) = columns.dictionary_len(&plan.key).filter(|n| small(*n)) {
            (n, None)
        } else if let Some((lo, hi)) = columns
            .int_bounds(&plan.key)
            .filter(|(lo, hi)| hi.abs_diff(*lo) < DENSE_GROUPS as u64)
        {
            (hi.abs_diff(lo) as usize + 1, Some(lo))
        } else {
            (0, None)
        };
        SegGroups {
            dense: vec![(0, Vec::new()); dense],
            sparse: HashMap::new(),
            composite: HashMap::new(),
            base,
        }
    }

    /// The segment group a key value falls in: the value itself, or its range bucket (strings
    /// have none).
    fn key(&self, atom: Atom, range: &[f64]) -> Option<SegKey> {
        if range.is_empty() {
            return Some(match (atom, self.base) {
                (Atom::Ord(o), _) => SegKey::Slot(o),
                // Every value of the column lies in [base, base + dense.len()).
                (Atom::Int(i), Some(base)) => SegKey::Slot(i.abs_diff(base)),
                (Atom::Int(i), None) => SegKey::Int(i),
                (Atom::Float(f), _) => SegKey::Float(f.to_bits()),
            });
        }
        let x = match atom {
            Atom::Int(i) => i as f64,
            Atom::Float(f) => f,
            Atom::Ord(_) => return None,
        };
        Some(SegKey::Slot(bucket(x, range) as u64))
    }

    /// The group of `key`, created with a copy of `empty` accumulators when new.
    fn entry(&mut self, key: SegKey, empty: &[(Acc, Compiled)]) -> &mut GroupAcc {
        let group = match key {
            SegKey::Slot(i) if (i as usize) < self.dense.len() => &mut self.dense[i as usize],
            key => self.sparse.entry(key).or_default(),
        };
        if group.0 == 0 && group.1.is_empty() {
            group.1 = empty.iter().map(|(a, _)| a.clone()).collect();
        }
        group
    }
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
    /// Per aggregate spec, its groups in this segment.
    groups: Vec<SegGroups>,
    /// Reused buffer of a document's group key values.
    atoms: Vec<Atom>,
    /// Reused buffer of a document's sort key values.
    scratch: Vec<Val>,
    /// After a trim: the sort keys and address of the worst candidate kept. A document that
    /// does not rank before it cannot reach the page, so no candidate is built for it.
    worst: Option<(Vec<Val>, DocAddress)>,
    after: Option<DocId>,
    keep: usize,
    /// Only the total and aggregates of `count()` alone over single-valued keys, without
    /// filters: blocks of documents are counted straight from the columns.
    count_only: bool,
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
                    merge_group(into, value, count, accs);
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
        let aggs: Vec<AggPlan> = r
            .aggregates
            .iter()
            .map(|a: &Aggregate| {
                let group_by = a
                    .group_by
                    .as_ref()
                    .map(|keys| {
                        keys.iter()
                            .map(|k| {
                                compile(
                                    &pier_query::Expr::Field(k.clone()),
                                    "aggregate",
                                    codes::AGGREGATE,
                                )
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?;
                Ok(AggPlan {
                    filter: a
                        .filter
                        .as_ref()
                        .map(|f| compile(f, "aggregate", codes::AGGREGATE))
                        .transpose()?,
                    key: if group_by.is_some() {
                        Compiled::Const(Val::Null)
                    } else {
                        compile(
                            &pier_query::Expr::Field(a.group_key.clone()),
                            "aggregate",
                            codes::AGGREGATE,
                        )?
                    },
                    group_by,
                    range: a.range.iter().map(|n| n.as_f64()).collect(),
                    functions: a
                        .functions
                        .iter()
                        .filter_map(Acc::new)
                        .map(|(acc, e)| Ok((acc, compile(e, "aggregate", codes::AGGREGATE)?)))
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
        let groups = aggs.iter().map(|a| SegGroups::new(a, &columns)).collect();
        let count_only = filter.is_none()
            && self.keep == 0
            && after.is_none()
            && aggs.iter().all(|a| {
                a.filter.is_none() && a.functions.is_empty() && columns.single_valued(&a.key)
            });
        Ok(PlanSegment {
            segment: segment_ord,
            columns,
            filter,
            keys,
            orders: self.orders(),
            distinct,
            aggs,
            groups,
            atoms: Vec::new(),
            scratch: Vec::new(),
            worst: None,
            after,
            keep: self.keep,
            count_only,
            collected: Collected {
                groups: vec![Groups::new(); r.aggregates.len()],
                ..Collected::default()
            },
        })
    }
}

/// The index of the range bucket `x` falls in: 0 below the first bound, `range.len()` from
/// the last bound up.
fn bucket(x: f64, range: &[f64]) -> usize {
    range.iter().position(|b| x < *b).unwrap_or(range.len())
}

/// The label of range bucket `i` (`~10`, `10~50`, `50~`).
fn bucket_label(i: usize, range: &[f64]) -> String {
    let fmt = |f: f64| Val::Float(f).to_display();
    match i {
        0 => format!("~{}", fmt(range[0])),
        i if i < range.len() => format!("{}~{}", fmt(range[i - 1]), fmt(range[i])),
        _ => format!("{}~", fmt(range[range.len() - 1])),
    }
}

impl SegmentCollector for PlanSegment {
    type Fruit = Collected;

    /// tantivy hands over blocks of matches when nothing is scored and nothing is deleted.
    fn collect_block(&mut self, docs: &[DocId]) {
        if !self.count_only {
            for doc in docs {
                self.collect(*doc, 0.0);
            }
            return;
        }
        self.collected.total += docs.len() as u64;
        for (plan, groups) in self.aggs.iter().zip(&mut self.groups) {
            self.columns.first_atoms(&plan.key, docs, |atom| {
                if let Some(key) = groups.key(atom, &plan.range) {
                    groups.entry(key, &[]).0 += 1;
                }
            });
        }
    }

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
        for (plan, groups) in self.aggs.iter().zip(&mut self.groups) {
            if let Some(f) = &plan.filter
                && !self.columns.test(f, doc)
            {
                continue;
            }
            if let Some(keys) = &plan.group_by {
                let label: Vec<Option<String>> = keys
                    .iter()
                    .map(|k| match self.columns.eval(k, doc) {
                        Val::Null => None,
                        v => Some(v.to_display()),
                    })
                    .collect();
                let (count, accs) = groups.composite.entry(label).or_insert_with(|| {
                    (0, plan.functions.iter().map(|(a, _)| a.clone()).collect())
                });
                *count += 1;
                for (acc, (_, arg)) in accs.iter_mut().zip(&plan.functions) {
                    acc.add(&self.columns.eval(arg, doc));
                }
                continue;
            }
            self.atoms.clear();
            self.columns.atoms(&plan.key, doc, &mut self.atoms);
            // Which values make groups: every value of a multi-value field, but only the first
            // for range buckets; the last (the only) value of a single-valued field.
            let multi = matches!(plan.key, Compiled::Field(_, true));
            let picked = match (multi, plan.range.is_empty()) {
                (true, true) => &self.atoms[..],
                (true, false) => &self.atoms[..self.atoms.len().min(1)],
                (false, _) => &self.atoms[self.atoms.len().saturating_sub(1)..],
            };
            for atom in picked {
                let Some(key) = groups.key(*atom, &plan.range) else {
                    continue;
                };
                let (count, accs) = groups.entry(key, &plan.functions);
                *count += 1;
                for (acc, (_, arg)) in accs.iter_mut().zip(&plan.functions) {
                    acc.add(&self.columns.eval(arg, doc));
                }
            }
        }
        if self.keep == 0 {
            // Only the total and the groups were asked for.
            return;
        }
        let address = DocAddress::new(self.segment, doc);
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        keys.extend(self.keys.iter().map(|k| match k {
            KeyExpr::Rank => Val::Float(f64::from(score)),
            KeyExpr::Expr(e) => self.columns.eval(e, doc),
        }));
        if let Some((worst_keys, worst_address)) = &self.worst
            && compare_keys(
                &self.orders,
                (&keys[..], address),
                (&worst_keys[..], *worst_address),
            ) != Ordering::Less
        {
            self.scratch = keys;
            return;
        }
        let distinct = self
            .distinct
            .iter()
            .map(|(filter, key)| match filter {
                Some(f) if !self.columns.test(f, doc) => Val::Null,
                _ => self.columns.eval(key, doc),
            })
            .collect();
        self.collected.candidates.push(Candidate {
            address,
            score,
            keys,
            distinct,
        });
        let len = self.collected.candidates.len();
        // Trimming to the best `keep` early sets `worst`, after which most documents are
        // rejected before a candidate is built; each trim is linear in the list and halves it.
        if self.keep < usize::MAX / 4 && len >= 2 * self.keep.max(32) {
            self.trim();
        }
    }

    fn harvest(mut self) -> Collected {
        self.trim();
        for ((plan, groups), into) in self
            .aggs
            .iter()
            .zip(std::mem::take(&mut self.groups))
            .zip(&mut self.collected.groups)
        {
            let dense = groups
                .dense
                .into_iter()
                .enumerate()
                .filter(|(_, (count, _))| *count > 0)
                .map(|(i, group)| (SegKey::Slot(i as u64), group));
            for (key, (count, accs)) in dense.chain(groups.sparse) {
                let label = match key {
                    SegKey::Slot(i) if !plan.range.is_empty() => {
                        bucket_label(i as usize, &plan.range)
                    }
                    SegKey::Slot(i) => match groups.base {
                        Some(base) => Val::Int(base.wrapping_add(i as i64)).to_display(),
                        None => match self.columns.atom_value(&plan.key, Atom::Ord(i)) {
                            Some(v) => v.to_display(),
                            None => continue,
                        },
                    },
                    SegKey::Int(i) => Val::Int(i).to_display(),
                    SegKey::Float(bits) => Val::Float(f64::from_bits(bits)).to_display(),
                };
                merge_group(into, label, count, accs);
            }
            for (keys, (count, accs)) in groups.composite {
                merge_group(into, composite_label(&keys), count, accs);
            }
        }
        self.collected
    }
}

/// The label of a `group_by` group: its keys' values as a JSON array (strings and nulls), which
/// [`composite_keys`] reads back.
fn composite_label(keys: &[Option<String>]) -> String {
    serde_json::to_string(keys).unwrap_or_default()
}

/// The keys' values of a `group_by` group from its label.
pub fn composite_keys(label: &str) -> Vec<Option<String>> {
    serde_json::from_str(label).unwrap_or_default()
}

/// Adds a group's count and accumulators to the group of `label` in `into`.
fn merge_group(into: &mut Groups, label: String, count: u64, accs: Vec<Acc>) {
    match into.get_mut(&label) {
        Some((c, existing)) => {
            *c += count;
            existing.iter_mut().zip(accs).for_each(|(a, b)| a.merge(b));
        }
        None => {
            into.insert(label, (count, accs));
        }
    }
}

impl PlanSegment {
    fn trim(&mut self) {
        let keep = self.keep;
        let candidates = &mut self.collected.candidates;
        if keep > 0 && candidates.len() > keep {
            let orders = &self.orders;
            candidates.select_nth_unstable_by(keep - 1, |a, b| compare(orders, a, b));
            candidates.truncate(keep);
            // The pivot is now the worst candidate kept.
            let worst = &candidates[keep - 1];
            self.worst = Some((worst.keys.clone(), worst.address));
        }
    }
}

/// Applies the distinct specs to the ordered `candidates` (spec §4.2): in each of `times`
/// rounds a key value keeps at most `count` documents (per score band when the spec has
/// `grade` boundaries); documents exempt by `dist_filter` always stay, among the first round's.
/// Returns the kept list (with the rest appended when `reserved`) and how many documents were
/// dropped.
pub fn apply_distinct(candidates: Vec<Candidate>, specs: &[Distinct]) -> (Vec<Candidate>, u64) {
    let mut list = candidates;
    let mut dropped = 0;
    for (i, spec) in specs.iter().enumerate() {
        let mut front = Vec::with_capacity(list.len());
        let mut remaining = list;
        for _ in 0..spec.times.max(1) {
            let mut taken: HashMap<(usize, String), u32> = HashMap::new();
            let mut next = Vec::new();
            for c in remaining {
                let key = &c.distinct[i];
                if *key == Val::Null {
                    front.push(c);
                    continue;
                }
                let grade = bucket(f64::from(c.score), &spec.grades);
                let n = taken.entry((grade, key.to_display())).or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Candidates in list order: (score, distinct key; None for exempt).
    fn list(items: &[(f32, Option<&str>)]) -> Vec<Candidate> {
        items
            .iter()
            .enumerate()
            .map(|(i, (score, key))| Candidate {
                address: DocAddress::new(0, i as DocId),
                score: *score,
                keys: Vec::new(),
                distinct: vec![key.map_or(Val::Null, |k| Val::Str(k.into()))],
            })
            .collect()
    }

    fn spec(count: u32, times: u32, reserved: bool, grades: &[f64]) -> Distinct {
        Distinct {
            key: "k".into(),
            count,
            times,
            reserved,
            update_total_hit: true,
            filter: None,
            grades: grades.to_vec(),
        }
    }

    fn order(out: &[Candidate]) -> Vec<DocId> {
        out.iter().map(|c| c.address.doc_id).collect()
    }

    #[test]
    fn rounds_take_count_per_key_and_exempt_documents_join_the_first() {
        let docs = [
            (9.0, Some("a")),
            (8.0, Some("a")),
            (7.0, Some("a")),
            (6.0, None),
            (5.0, Some("b")),
            (4.0, Some("b")),
        ];
        let (out, dropped) = apply_distinct(list(&docs), &[spec(1, 1, false, &[])]);
        assert_eq!((order(&out), dropped), (vec![0, 3, 4], 3));
        let (out, dropped) = apply_distinct(list(&docs), &[spec(1, 2, false, &[])]);
        assert_eq!((order(&out), dropped), (vec![0, 3, 4, 1, 5], 1));
        let (out, dropped) = apply_distinct(list(&docs), &[spec(2, 1, true, &[])]);
        assert_eq!((order(&out), dropped), (vec![0, 1, 3, 4, 5, 2], 0));
    }

    #[test]
    fn grades_de_duplicate_each_score_band_on_its_own() {
        // Bands: [5, ∞) holds documents 0-2, [3, 5) documents 3-4, below 3 document 5.
        let docs = [
            (9.0, Some("a")),
            (8.0, Some("a")),
            (5.0, Some("b")),
            (4.0, Some("a")),
            (3.0, Some("b")),
            (1.0, Some("a")),
        ];
        let (out, dropped) = apply_distinct(list(&docs), &[spec(1, 1, false, &[3.0, 5.0])]);
        assert_eq!((order(&out), dropped), (vec![0, 2, 3, 4, 5], 1));
        // Without grades, one document per key in all.
        let (out, _) = apply_distinct(list(&docs), &[spec(1, 1, false, &[])]);
        assert_eq!(order(&out), vec![0, 2]);
    }
}
