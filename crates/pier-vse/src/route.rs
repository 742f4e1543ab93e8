//! The data-plane paths of the dialect (spec §1, §2), as strings: which endpoint a request
//! path names. No HTTP types: the server matches the method and hands the path over.

/// A Vector Search Edition data-plane endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /update/{segment}/actions/bulk`; resolve the table with
    /// [`crate::push::resolve_bulk_table`] (the SDK does not URL-encode the segment).
    Push {
        /// `{instanceId}_{tableName}`, or a bare table name.
        segment: String,
    },
    /// `POST /vector-service/query`.
    Query,
    /// `POST /vector-service/inference-query`.
    InferenceQuery,
    /// `POST /vector-service/multi-query`.
    MultiQuery,
    /// `POST /vector-service/fetch`.
    Fetch,
    /// `POST /vector-service/search` (also `/search`, documented as an alias).
    Search,
    /// `POST /vector-service/aggregate`.
    Aggregate,
    /// `POST /vector-service/batch-query`.
    BatchQuery,
    /// `POST /vector-service/stats`.
    Stats,
    /// `GET /network/active`: answer 200 with [`crate::response::ACTIVE_BODY`] (after auth).
    Active,
}

impl Endpoint {
    /// The endpoint `method` + `path` names (path without the query string; one trailing `/`
    /// is tolerated), or None when it is not one of this dialect's.
    pub fn from_request(method: &str, path: &str) -> Option<Endpoint> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        if method.eq_ignore_ascii_case("GET") {
            return (path == "/network/active").then_some(Endpoint::Active);
        }
        if !method.eq_ignore_ascii_case("POST") {
            return None;
        }
        if let Some(segment) = path
            .strip_prefix("/update/")
            .and_then(|p| p.strip_suffix("/actions/bulk"))
            .filter(|s| !s.is_empty() && !s.contains('/'))
        {
            return Some(Endpoint::Push {
                segment: segment.to_string(),
            });
        }
        Some(match path {
            "/vector-service/query" => Endpoint::Query,
            "/vector-service/inference-query" => Endpoint::InferenceQuery,
            "/vector-service/multi-query" => Endpoint::MultiQuery,
            "/vector-service/fetch" => Endpoint::Fetch,
            "/vector-service/search" | "/search" => Endpoint::Search,
            "/vector-service/aggregate" => Endpoint::Aggregate,
            "/vector-service/batch-query" => Endpoint::BatchQuery,
            "/vector-service/stats" => Endpoint::Stats,
            _ => return None,
        })
    }

    /// Which error body shape this endpoint answers with.
    pub fn api(&self) -> crate::error::Api {
        match self {
            Endpoint::Push { .. } => crate::error::Api::Push,
            _ => crate::error::Api::VectorService,
        }
    }

    /// The largest body this endpoint takes, after decoding: pass it to
    /// [`crate::body::decode_body`] (which also inflates `Content-Encoding: deflate`; the SDK
    /// compresses only `/vector-service/*` bodies, but decoding a push the same way is harmless).
    pub fn max_body_bytes(&self) -> usize {
        match self {
            Endpoint::Push { .. } => crate::push::MAX_PUSH_BODY_BYTES,
            _ => crate::body::MAX_QUERY_BODY_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Api;

    #[test]
    fn names_every_sdk_path() {
        assert_eq!(
            Endpoint::from_request("POST", "/update/ha-cn-abc123_test/actions/bulk"),
            Some(Endpoint::Push {
                segment: "ha-cn-abc123_test".into()
            })
        );
        for (path, e) in [
            ("/vector-service/query", Endpoint::Query),
            ("/vector-service/inference-query", Endpoint::InferenceQuery),
            ("/vector-service/multi-query", Endpoint::MultiQuery),
            ("/vector-service/fetch", Endpoint::Fetch),
            ("/vector-service/search", Endpoint::Search),
            ("/search", Endpoint::Search),
            ("/vector-service/aggregate/", Endpoint::Aggregate),
            ("/vector-service/batch-query", Endpoint::BatchQuery),
            ("/vector-service/stats", Endpoint::Stats),
        ] {
            assert_eq!(Endpoint::from_request("post", path), Some(e), "{path}");
        }
        assert_eq!(
            Endpoint::from_request("GET", "/network/active"),
            Some(Endpoint::Active)
        );
        assert_eq!(Endpoint::from_request("GET", "/vector-service/query"), None);
        assert_eq!(
            Endpoint::from_request("POST", "/update//actions/bulk"),
            None
        );
        assert_eq!(
            Endpoint::from_request("POST", "/update/a/b/actions/bulk"),
            None
        );
        assert_eq!(Endpoint::from_request("POST", "/"), None);
        assert_eq!(Endpoint::Query.api(), Api::VectorService);
        assert_eq!(
            Endpoint::Push {
                segment: "x".into()
            }
            .api(),
            Api::Push
        );
        assert_eq!(
            Endpoint::Stats.max_body_bytes(),
            crate::body::MAX_QUERY_BODY_BYTES
        );
    }
}
