//! Score arithmetic the dialect defines: hybrid search fusion (spec §2.5) and multi-query merging
//! (spec §2.4). Pure functions over ranked `(key, score)` lists; the executor produces the lists.

use crate::query::{MergeMode, Order, Rank};
use crate::response::Source;
use crate::schema::DistanceType;
use std::collections::HashMap;

/// A key and its score in one ranked list.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The primary key (canonical string).
    pub pk: String,
    /// The score.
    pub score: f64,
}

/// A fused hybrid-search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// The primary key.
    pub pk: String,
    /// The fused score.
    pub score: f64,
    /// Which list(s) found it.
    pub source: Source,
}

/// A raw knn score converted for weighted-sum fusion (spec §2.5): SquaredEuclidean `d` becomes
/// `1 / (1 + d²)` (the documented formula taken literally), InnerProduct `ip` becomes
/// `(1 + ip) / 2`.
pub fn knn_fusion_score(distance: DistanceType, raw: f64) -> f64 {
    match distance {
        DistanceType::SquaredEuclidean => 1.0 / (1.0 + raw * raw),
        DistanceType::InnerProduct => (1.0 + raw) / 2.0,
    }
}

fn sort_by(items: &mut [Fused], order: Order) {
    items.sort_by(|a, b| {
        let c = a.score.total_cmp(&b.score);
        let c = if order == Order::Desc { c.reverse() } else { c };
        c.then_with(|| a.pk.cmp(&b.pk))
    });
}

/// Fuses a search's knn and text lists, each best first, into one list in `order`:
/// weighted sum (`knn_fusion_score(d) × knn_weight + text_score × text_weight`, a list that did
/// not find a key adding nothing) or RRF (Σ `1 / (rank_constant + rank)`, ranks from 1). Ties
/// are broken by key. Page the result with `from` / `size`.
pub fn fuse(
    knn: &[Ranked],
    text: &[Ranked],
    distance: DistanceType,
    knn_weight: f64,
    text_weight: f64,
    rank: Rank,
    order: Order,
) -> Vec<Fused> {
    let mut acc: HashMap<&str, (f64, bool, bool)> = HashMap::new();
    for (i, r) in knn.iter().enumerate() {
        let s = match rank {
            Rank::WeightedSum => knn_fusion_score(distance, r.score) * knn_weight,
            Rank::Rrf { rank_constant } => 1.0 / (rank_constant + (i + 1) as f64),
        };
        let e = acc.entry(&r.pk).or_insert((0.0, false, false));
        if !e.1 {
            e.0 += s;
            e.1 = true;
        }
    }
    for (i, r) in text.iter().enumerate() {
        let s = match rank {
            Rank::WeightedSum => r.score * text_weight,
            Rank::Rrf { rank_constant } => 1.0 / (rank_constant + (i + 1) as f64),
        };
        let e = acc.entry(&r.pk).or_insert((0.0, false, false));
        if !e.2 {
            e.0 += s;
            e.2 = true;
        }
    }
    let mut out: Vec<Fused> = acc
        .into_iter()
        .map(|(pk, (score, k, t))| Fused {
            pk: pk.to_string(),
            score,
            source: match (k, t) {
                (true, true) => Source::Both,
                (true, false) => Source::Knn,
                _ => Source::Text,
            },
        })
        .collect();
    sort_by(&mut out, order);
    out
}

/// Merges multi-query sub-results (spec §2.4): each list's scores are multiplied by its weight
/// (`weight`, default 1), a key found by several lists combines per `mode`, and the result is
/// sorted in `order` (ties by key). Truncate to `topK` afterwards.
pub fn merge_multi_query(
    lists: &[(Vec<Ranked>, f64)],
    mode: MergeMode,
    order: Order,
) -> Vec<Ranked> {
    let mut acc: HashMap<&str, f64> = HashMap::new();
    for (list, weight) in lists {
        for r in list {
            let s = r.score * weight;
            acc.entry(&r.pk)
                .and_modify(|e| {
                    *e = match mode {
                        MergeMode::Sum => *e + s,
                        MergeMode::Max => e.max(s),
                        MergeMode::Min => e.min(s),
                    }
                })
                .or_insert(s);
        }
    }
    let mut out: Vec<Fused> = acc
        .into_iter()
        .map(|(pk, score)| Fused {
            pk: pk.to_string(),
            score,
            source: Source::Knn,
        })
        .collect();
    sort_by(&mut out, order);
    out.into_iter()
        .map(|f| Ranked {
            pk: f.pk,
            score: f.score,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pk: &str, score: f64) -> Ranked {
        Ranked {
            pk: pk.into(),
            score,
        }
    }

    #[test]
    fn weighted_sum_and_rrf() {
        let knn = [r("a", 0.0), r("b", 1.0)];
        let text = [r("b", 2.0), r("c", 1.0)];
        let out = fuse(
            &knn,
            &text,
            DistanceType::SquaredEuclidean,
            0.5,
            0.5,
            Rank::WeightedSum,
            Order::Desc,
        );
        // a: 1/(1+0)*0.5 = 0.5; b: 1/(1+1)*0.5 + 2*0.5 = 1.25; c: 0.5
        assert_eq!(
            out[0],
            Fused {
                pk: "b".into(),
                score: 1.25,
                source: Source::Both
            }
        );
        assert_eq!((out[1].pk.as_str(), out[1].source), ("a", Source::Knn));
        assert_eq!((out[2].pk.as_str(), out[2].source), ("c", Source::Text));
        let out = fuse(
            &knn,
            &text,
            DistanceType::InnerProduct,
            1.0,
            1.0,
            Rank::Rrf {
                rank_constant: 60.0,
            },
            Order::Desc,
        );
        assert_eq!(out[0].pk, "b");
        assert!((out[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
        assert_eq!(knn_fusion_score(DistanceType::InnerProduct, 0.5), 0.75);
        let asc = fuse(
            &knn,
            &[],
            DistanceType::InnerProduct,
            1.0,
            1.0,
            Rank::WeightedSum,
            Order::Asc,
        );
        assert_eq!(asc[0].pk, "a");
    }

    #[test]
    fn multi_query_modes() {
        let lists = vec![
            (vec![r("a", 1.0), r("b", 2.0)], 1.0),
            (vec![r("a", 3.0)], 2.0),
        ];
        let sum = merge_multi_query(&lists, MergeMode::Sum, Order::Asc);
        assert_eq!(sum, vec![r("b", 2.0), r("a", 7.0)]);
        let max = merge_multi_query(&lists, MergeMode::Max, Order::Desc);
        assert_eq!(max[0], r("a", 6.0));
        let min = merge_multi_query(&lists, MergeMode::Min, Order::Asc);
        assert_eq!(min[0], r("a", 1.0));
    }
}
