//! Processing outcomes: what happened to each request and each failed document, where users can
//! see it. Keys are derived from the log position, so replaying a batch after a crash rewrites the
//! same records instead of adding duplicates.

use fjall::Keyspace;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// One document that could not be processed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocFailure {
    /// When the batch was received, ms since the epoch.
    pub time_ms: u64,
    /// App name.
    pub app: String,
    /// Table name.
    pub table: String,
    /// The push that carried the document.
    pub request_id: String,
    /// Position of the document in the push body.
    pub index: u32,
    /// Primary key.
    pub pk: String,
    /// The 7xxx code.
    pub code: u32,
    /// What was wrong.
    pub message: String,
}

/// What processing did with one push.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestOutcome {
    /// The request id.
    pub request_id: String,
    /// App name.
    pub app: String,
    /// Table name.
    pub table: String,
    /// Log sequence of the batch in its table's log.
    pub seq: u64,
    /// Receive time, ms since the epoch.
    pub received_ms: u64,
    /// Documents in the push.
    pub documents: u32,
    /// Documents that failed, with their errors.
    pub failed: Vec<DocFailure>,
}

/// The outcome store: requests by id, document errors by app, newest first.
#[derive(Clone)]
pub struct Outcomes {
    requests: Keyspace,
    errors: Keyspace,
}

fn error_key(app_id: u64, f: &DocFailure, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(28);
    k.extend_from_slice(&app_id.to_be_bytes());
    // Inverted time so a forward scan lists the newest first.
    k.extend_from_slice(&(u64::MAX - f.time_ms).to_be_bytes());
    k.extend_from_slice(&(u64::MAX - seq).to_be_bytes());
    k.extend_from_slice(&f.index.to_be_bytes());
    k
}

/// The fields of a stored [`DocFailure`] that an [`ErrorFilter`] reads, borrowed from the record
/// (owned only when the JSON escapes something).
#[derive(Deserialize)]
struct FilterFields<'a> {
    #[serde(borrow)]
    table: Cow<'a, str>,
    #[serde(borrow)]
    pk: Cow<'a, str>,
    code: u32,
}

/// A filter for listing errors.
#[derive(Debug, Default, Clone)]
pub struct ErrorFilter {
    /// Only this code.
    pub code: Option<u32>,
    /// Only this primary key.
    pub pk: Option<String>,
    /// Only this table.
    pub table: Option<String>,
}

impl Outcomes {
    /// Wraps the two keyspaces.
    pub fn new(requests: Keyspace, errors: Keyspace) -> Outcomes {
        Outcomes { requests, errors }
    }

    /// Records a processed request and its failed documents.
    pub fn record(&self, app_id: u64, outcome: &RequestOutcome) -> fjall::Result<()> {
        for f in &outcome.failed {
            self.errors.insert(
                error_key(app_id, f, outcome.seq),
                serde_json::to_vec(f).expect("plain struct"),
            )?;
        }
        self.requests.insert(
            outcome.request_id.as_bytes(),
            serde_json::to_vec(outcome).expect("plain struct"),
        )
    }

    /// The outcome of a processed request.
    pub fn request(&self, request_id: &str) -> fjall::Result<Option<RequestOutcome>> {
        Ok(self
            .requests
            .get(request_id.as_bytes())?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// One page of an app's errors, newest first, and the number of errors matching the filter.
    pub fn errors(
        &self,
        app_id: u64,
        filter: &ErrorFilter,
        offset: usize,
        limit: usize,
    ) -> fjall::Result<(Vec<DocFailure>, usize)> {
        let unfiltered = filter.code.is_none() && filter.pk.is_none() && filter.table.is_none();
        let mut page = Vec::new();
        let mut total = 0;
        for kv in self.errors.prefix(app_id.to_be_bytes()) {
            let value = kv.value()?;
            // Only the page's records are parsed whole; the rest are counted from the fields
            // the filter reads (or not parsed at all), so that listing a page of an app with
            // 100,000 errors stays quick.
            let keep = unfiltered
                || serde_json::from_slice::<FilterFields>(&value).is_ok_and(|f| {
                    filter.code.is_none_or(|c| c == f.code)
                        && filter.pk.as_ref().is_none_or(|p| *p == f.pk)
                        && filter.table.as_ref().is_none_or(|t| *t == f.table)
                });
            if !keep {
                continue;
            }
            if total >= offset && page.len() < limit {
                match serde_json::from_slice::<DocFailure>(&value) {
                    Ok(f) => page.push(f),
                    Err(_) => continue,
                }
            }
            total += 1;
        }
        Ok((page, total))
    }

    /// Removes request records received before `cutoff_secs` (seconds since the epoch). Request
    /// ids start with their receive time in seconds, so the old ones are a key prefix range.
    pub fn expire_requests(&self, cutoff_secs: u64) -> fjall::Result<usize> {
        let cutoff = format!("{cutoff_secs:010}");
        let mut removed = 0;
        for kv in self.requests.range(..cutoff.as_bytes()) {
            self.requests.remove(kv.key()?)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes an app's errors (its requests age out with the request records).
    pub fn drop_app(&self, app_id: u64) -> fjall::Result<()> {
        for kv in self.errors.prefix(app_id.to_be_bytes()) {
            self.errors.remove(kv.key()?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(request_id: &str) -> RequestOutcome {
        RequestOutcome {
            request_id: request_id.into(),
            app: "a".into(),
            table: "t".into(),
            seq: 1,
            received_ms: 0,
            documents: 1,
            failed: vec![],
        }
    }

    #[test]
    fn expiry_removes_only_requests_received_before_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let ks = |n: &str| {
            db.keyspace(n, fjall::KeyspaceCreateOptions::default)
                .unwrap()
        };
        let o = Outcomes::new(ks("requests"), ks("errors"));
        for id in [
            "170000000000000000000001",
            "170000000100000000000002",
            "180000000000000000000003",
        ] {
            o.record(1, &outcome(id)).unwrap();
        }
        assert_eq!(o.expire_requests(1_700_000_001).unwrap(), 1);
        assert!(o.request("170000000000000000000001").unwrap().is_none());
        assert!(o.request("170000000100000000000002").unwrap().is_some());
        assert!(o.request("180000000000000000000003").unwrap().is_some());
    }
}
