//! The last hour of every table's counters, for the overview's charts: documents, batches
//! appended (whose difference over time is the push rate) and applier lag, sampled every
//! [`INTERVAL`] in memory. Nothing is persisted: after a restart the charts start empty, which is
//! what an operator glancing at "the last hour" of a fresh process expects.

use crate::ServerState;
use parking_lot::Mutex;
use pier_engine::{Engine, Table};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Weak;
use std::time::Duration;

/// How often the counters are sampled.
pub const INTERVAL: Duration = Duration::from_secs(15);
/// How much history is kept.
pub const HISTORY: Duration = Duration::from_secs(3600);

/// One table's counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Documents visible to searches.
    pub documents: u64,
    /// Batches ever appended to the table's log (its last sequence).
    pub appended: u64,
    /// Applier lag in seconds.
    pub lag_seconds: f64,
}

impl Sample {
    /// The table's counters now.
    pub fn of(table: &Table, at_ms: u64) -> Sample {
        Sample {
            at_ms,
            documents: table.index.num_docs(),
            appended: table.log.last_seq(),
            lag_seconds: table.lag_seconds(),
        }
    }
}

/// Batches appended per second between consecutive samples (one value fewer than samples).
pub fn push_rates(samples: &[Sample]) -> Vec<f64> {
    samples
        .windows(2)
        .map(|w| {
            let secs = w[1].at_ms.saturating_sub(w[0].at_ms) as f64 / 1000.0;
            let batches = w[1].appended.saturating_sub(w[0].appended) as f64;
            if secs > 0.0 { batches / secs } else { 0.0 }
        })
        .collect()
}

/// Samples by (app id, table name): keyed by the app's id, never reused, so a re-created app
/// does not inherit the old one's history.
#[derive(Default)]
pub struct Sampler {
    series: Mutex<HashMap<(u64, String), VecDeque<Sample>>>,
}

impl Sampler {
    /// Samples every table now, forgets samples older than [`HISTORY`] and tables that are gone.
    pub fn record(&self, engine: &Engine, now_ms: u64) {
        let oldest = now_ms.saturating_sub(HISTORY.as_millis() as u64);
        let mut fresh = Vec::new();
        for info in engine.list_apps() {
            let Some(app) = engine.app(&info.name) else {
                continue;
            };
            for (name, table) in &app.tables {
                fresh.push(((app.id, name.clone()), Sample::of(table, now_ms)));
            }
        }
        let live: HashSet<_> = fresh.iter().map(|(k, _)| k.clone()).collect();
        let mut series = self.series.lock();
        series.retain(|k, _| live.contains(k));
        for (key, sample) in fresh {
            let q = series.entry(key).or_default();
            q.push_back(sample);
            while q.front().is_some_and(|s| s.at_ms < oldest) {
                q.pop_front();
            }
        }
    }

    /// A table's samples, oldest first.
    pub fn history(&self, app_id: u64, table: &str) -> Vec<Sample> {
        self.series
            .lock()
            .get(&(app_id, table.to_string()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Samples every [`INTERVAL`] (the first one at once) until the server state is dropped.
pub fn spawn(state: Weak<ServerState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            // Counting documents opens index readers: keep it off the async workers.
            let sampled = tokio::task::spawn_blocking(move || {
                state
                    .console
                    .sampler
                    .record(&state.engine, pier_engine::now_ms());
            })
            .await;
            if let Err(e) = sampled {
                tracing::warn!(error = %e, "console sampler failed; charts miss this sample");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, appended: u64) -> Sample {
        Sample {
            at_ms,
            documents: 0,
            appended,
            lag_seconds: 0.0,
        }
    }

    #[test]
    fn push_rate_is_batches_per_second_between_samples() {
        let s = [
            sample(0, 0),
            sample(15_000, 30),
            sample(30_000, 30),
            sample(30_000, 40),
        ];
        assert_eq!(push_rates(&s), vec![2.0, 0.0, 0.0]);
        assert!(push_rates(&s[..1]).is_empty());
    }
}
