//! Scroll searches (spec §4.4): `search_type=scan&scroll=1m` opens a cursor over an index
//! snapshot; each `scroll_id` request returns the next page and a new id.
//!
//! A cursor holds its snapshot (so pages are consistent while indexing continues) and the
//! address of the last document returned. Cursors expire after their validity; at most
//! [`MAX_OPEN_SCROLLS`] are open at once, the oldest expiring first.

use super::search::Answer;
use crate::Failure;
use parking_lot::Mutex;
use pier_engine::Table;
use pier_index::search::Page;
use pier_model::Code;
use pier_query::{SearchRequest, codes};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::{DocAddress, Searcher};

/// Most cursors open at once (each pins an index snapshot).
pub const MAX_OPEN_SCROLLS: usize = 1000;
/// Longest validity a client may ask for.
const MAX_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// An open cursor.
pub struct ScrollState {
    table: Arc<Table>,
    searcher: Searcher,
    request: Arc<SearchRequest>,
    fetch_fields: Vec<String>,
    after: Option<DocAddress>,
    expires: Instant,
}

impl ScrollState {
    /// A cursor before the first document of `searcher`'s snapshot.
    pub fn new(
        table: Arc<Table>,
        searcher: Searcher,
        request: Arc<SearchRequest>,
        fetch_fields: Vec<String>,
        validity: Duration,
    ) -> ScrollState {
        ScrollState {
            table,
            searcher,
            request,
            fetch_fields,
            after: None,
            expires: Instant::now() + validity,
        }
    }
}

/// The open cursors, by id.
#[derive(Default)]
pub struct Scrolls {
    open: Mutex<HashMap<String, ScrollState>>,
}

impl Scrolls {
    /// Stores a new cursor and returns its id.
    pub fn start(&self, state: ScrollState) -> String {
        let id = new_id();
        let mut open = self.open.lock();
        let now = Instant::now();
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_OPEN_SCROLLS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), state);
        id
    }

    /// The page after cursor `id`; the cursor moves to a new id valid for `validity`.
    pub fn next_page(&self, id: &str, validity: Duration) -> Result<Answer, Failure> {
        let Some(mut state) = self.open.lock().remove(id) else {
            return Err(Failure::new(
                Code(codes::SYNTAX),
                format!(
                    "scroll_id '{id}' is unknown or expired: start a new scroll with search_type=scan&scroll=1m"
                ),
            ));
        };
        if state.expires <= Instant::now() {
            return Err(Failure::new(
                Code(codes::SYNTAX),
                "the scroll expired: start a new scroll with search_type=scan&scroll=1m, or ask for a longer validity (scroll=5m)",
            ));
        }
        let page = Page::Scroll {
            after: state.after,
            hit: state.request.config.hit as usize,
        };
        let output = state
            .table
            .index
            .search(&state.searcher, &state.request, page, &[])?;
        if let Some(last) = output.hits.last() {
            state.after = Some(last.address);
        }
        state.expires = Instant::now() + validity;
        let answer = Answer {
            output,
            format: state.request.config.format,
            fetch_fields: state.fetch_fields.clone(),
            scroll_id: None,
        };
        let next = self.start(state);
        Ok(Answer {
            scroll_id: Some(next),
            ..answer
        })
    }
}

fn new_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `scroll` parameter: a number with unit `w`, `d`, `h`, `m` or `s` (default `1m`).
pub fn validity(param: Option<&String>) -> Result<Duration, Failure> {
    let Some(text) = param.map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(Duration::from_secs(60));
    };
    let bad = || {
        Failure::new(
            Code(codes::SYNTAX),
            format!("scroll={text}: write a validity such as 30s, 1m, 2h, 1d or 1w"),
        )
    };
    let (digits, unit) = text.split_at(text.len() - 1);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        "w" => n.saturating_mul(604_800),
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs).min(MAX_VALIDITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_units() {
        let v = |s: &str| validity(Some(&s.to_string())).map_err(|f| f.message);
        assert_eq!(v("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(v("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(v("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(v("9w"), Ok(MAX_VALIDITY));
        assert!(v("1y").is_err());
        assert!(v("m").is_err());
        assert_eq!(validity(None).unwrap(), Duration::from_secs(60));
    }
}
