//! `GET /metrics`: Prometheus text format.
//!
//! Event metrics (pushes, documents, acknowledgement and search latency, index commit time) are
//! recorded where they happen through the `metrics` facade; state metrics (documents per table,
//! applier lag, log disk usage, sync sources) are read from the engine at scrape time, so they
//! never go stale when an app is deleted.

use crate::ServerState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write;
use std::sync::{Arc, OnceLock};

/// Latency buckets, in seconds: sub-millisecond searches up to multi-second waits.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder (one per process: tests start several servers in one process).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; then pier's own metrics are not recorded.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows state only");
        }
        handle
    })
}

/// A gauge read from a table's or a sync source's status: name, help text, value.
type Gauge<T> = (&'static str, &'static str, fn(&T) -> f64);

/// Escapes a label value (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`
pub async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    let mut out = handle().render();
    let gauge = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    let apps = state.engine.list_apps();
    let per_table: [Gauge<pier_engine::TableInfo>; 5] = [
        (
            "pier_table_documents",
            "Documents visible to searches.",
            |t| t.documents as f64,
        ),
        (
            "pier_table_lag_batches",
            "Batches received and not yet applied.",
            |t| t.lag_batches as f64,
        ),
        (
            "pier_table_lag_seconds",
            "Age of the applier's backlog, in seconds (0 when caught up).",
            |t| t.lag_seconds,
        ),
        (
            "pier_table_unapplied_bytes",
            "Bytes received and not yet applied.",
            |t| t.unapplied_bytes as f64,
        ),
        (
            "pier_table_log_bytes",
            "Operation log bytes on disk.",
            |t| t.log_bytes as f64,
        ),
    ];
    for (name, help, value) in per_table {
        gauge(&mut out, name, help);
        for app in &apps {
            for t in &app.tables {
                let _ = writeln!(
                    out,
                    "{name}{{app=\"{}\",table=\"{}\"}} {}",
                    label(&app.name),
                    label(&t.name),
                    value(t)
                );
            }
        }
    }
    let engine = state.engine.clone();
    let syncs = tokio::task::spawn_blocking(move || engine.list_syncs())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let per_sync: [Gauge<pier_engine::sync::SyncStatus>; 6] = [
        (
            "pier_sync_lag_seconds",
            "Seconds between the last binlog transaction read and now.",
            |s| s.lag_seconds as f64,
        ),
        ("pier_sync_lag_bytes", "Binlog bytes not read yet.", |s| {
            s.lag_bytes as f64
        }),
        (
            "pier_sync_snapshot_rows",
            "Rows loaded by the snapshot.",
            |s| s.snapshot_rows as f64,
        ),
        (
            "pier_sync_transactions",
            "Binlog transactions applied since start.",
            |s| s.transactions as f64,
        ),
        (
            "pier_sync_upserts",
            "Row upserts applied since start.",
            |s| s.upserts as f64,
        ),
        (
            "pier_sync_deletes",
            "Row deletes applied since start.",
            |s| s.deletes as f64,
        ),
    ];
    for (name, help, value) in per_sync {
        gauge(&mut out, name, help);
        for s in &syncs {
            let _ = writeln!(out, "{name}{{source=\"{}\"}} {}", label(&s.name), value(s));
        }
    }
    gauge(
        &mut out,
        "pier_sync_state",
        "1 for the source's current state.",
    );
    for s in &syncs {
        let _ = writeln!(
            out,
            "pier_sync_state{{source=\"{}\",state=\"{}\"}} 1",
            label(&s.name),
            label(&s.state)
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
