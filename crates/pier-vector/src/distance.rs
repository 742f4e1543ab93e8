//! Exact distances for the brute-force paths (small indexes, selective filters, candidate
//! lists). They must agree with the HNSW backend's metric so that a document gets the same
//! score whichever path found it; the loops use 8 independent accumulators so that the
//! compiler vectorises them even without target-specific flags.

use crate::Metric;

const LANES: usize = 8;

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = a.len() / LANES * LANES;
    for (ca, cb) in a[..chunks]
        .chunks_exact(LANES)
        .zip(b[..chunks].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        s += a[i] * b[i];
    }
    s
}

pub(crate) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = a.len() / LANES * LANES;
    for (ca, cb) in a[..chunks]
        .chunks_exact(LANES)
        .zip(b[..chunks].chunks_exact(LANES))
    {
        for i in 0..LANES {
            let d = ca[i] - cb[i];
            acc[i] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

/// A query prepared once for many exact comparisons (the cosine norm is computed once).
pub(crate) struct PreparedQuery<'a> {
    metric: Metric,
    query: &'a [f32],
    norm: f32,
}

impl<'a> PreparedQuery<'a> {
    pub(crate) fn new(metric: Metric, query: &'a [f32]) -> Self {
        let norm = match metric {
            Metric::Cosine => dot(query, query).sqrt(),
            _ => 0.0,
        };
        PreparedQuery {
            metric,
            query,
            norm,
        }
    }

    /// The score in the crate's public convention (see [`Metric`]).
    pub(crate) fn score(&self, v: &[f32]) -> f32 {
        match self.metric {
            Metric::L2 => l2sq(self.query, v),
            Metric::InnerProduct => dot(self.query, v),
            Metric::Cosine => {
                let nv = dot(v, v).sqrt();
                if self.norm == 0.0 || nv == 0.0 {
                    // Same convention as the backend: a zero vector is orthogonal to everything.
                    0.0
                } else {
                    dot(self.query, v) / (self.norm * nv)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_naive() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.11).cos()).collect();
        let nd: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let nl: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((dot(&a, &b) - nd).abs() < 1e-4);
        assert!((l2sq(&a, &b) - nl).abs() < 1e-4);
        let q = PreparedQuery::new(Metric::Cosine, &a);
        assert!((q.score(&a) - 1.0).abs() < 1e-5);
    }
}
