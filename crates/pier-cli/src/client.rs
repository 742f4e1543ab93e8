//! The HTTP client the CLI commands share: endpoint and credentials, and failures turned into
//! messages that say what to do.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The pier server's URL.
    #[arg(
        long,
        env = "PIER_ENDPOINT",
        default_value = "http://127.0.0.1:8700",
        global = true
    )]
    pub endpoint: String,
    /// Access key id (default: the first key in the data dir's keys.json, when readable).
    #[arg(long, env = "PIER_ACCESS_KEY_ID", global = true)]
    pub access_key: Option<String>,
    /// Access key secret.
    #[arg(
        long,
        env = "PIER_ACCESS_KEY_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub secret: Option<String>,
    /// Data dir to read a key from when none is given.
    #[arg(long, env = "PIER_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
}

/// A connected client.
pub struct Client {
    http: reqwest::Client,
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
}

impl Connection {
    /// Resolves credentials and builds a client.
    pub fn client(&self) -> anyhow::Result<Client> {
        let (key_id, secret) = match (&self.access_key, &self.secret) {
            (Some(k), Some(s)) => (k.clone(), s.clone()),
            (Some(_), None) | (None, Some(_)) => bail!(
                "give both --access-key and --secret (or PIER_ACCESS_KEY_ID and PIER_ACCESS_KEY_SECRET)"
            ),
            (None, None) => {
                let store = pier_engine::KeyStore::open(&self.data_dir)
                    .with_context(|| format!("reading keys from {}", self.data_dir.display()))?;
                let key = store.list().into_iter().find(|k| !k.revoked).with_context(|| {
                    format!(
                        "no access key given and none found in {}: pass --access-key/--secret, or --data-dir of the server",
                        self.data_dir.display()
                    )
                })?;
                (key.id, key.secret)
            }
        };
        Ok(Client {
            http: reqwest::Client::new(),
            endpoint: self.endpoint.trim_end_matches('/').to_string(),
            key_id,
            secret,
        })
    }
}

impl Client {
    /// Sends a native API request with Basic auth; returns the JSON body of a 2xx answer, or an
    /// error carrying the server's message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.endpoint);
        let mut req = self
            .http
            .request(method, &url)
            .basic_auth(&self.key_id, Some(&self.secret));
        if let Some(b) = body {
            req = req.json(b);
        }
        self.answer(req).await
    }

    /// Sends a native API request with Basic auth and a streamed body, as [`Client::call`].
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: reqwest::Body,
    ) -> anyhow::Result<Value> {
        let req = self
            .http
            .request(method, format!("{}{path}", self.endpoint))
            .basic_auth(&self.key_id, Some(&self.secret))
            .body(body);
        self.answer(req).await
    }

    /// Sends `req`; returns the JSON body of a 2xx answer, or an error carrying the server's
    /// message.
    async fn answer(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req.send().await.with_context(|| {
            format!(
                "cannot reach pier at {}: is `pier serve` running there?",
                self.endpoint
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        if !status.is_success() {
            let msg = json["errors"][0]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(text);
            let code = json["errors"][0]["code"]
                .as_u64()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            bail!("{status}{code}: {msg}");
        }
        Ok(json)
    }
}

/// A push the server refused, with enough detail to decide on a retry.
#[derive(Debug)]
pub struct PushFailure {
    /// HTTP status (0 when the server could not be reached).
    pub status: u16,
    /// The error code (V3 or Vector Search Edition), when the server sent one.
    pub code: Option<u64>,
    /// The message.
    pub message: String,
    /// The server's `Retry-After`, when it sent one (on 429).
    pub retry_after: Option<std::time::Duration>,
}

impl std::fmt::Display for PushFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(c) => write!(f, "HTTP {} [{c}]: {}", self.status, self.message),
            None => write!(f, "HTTP {}: {}", self.status, self.message),
        }
    }
}

impl Client {
    /// Pushes one batch to the V3 bulk endpoint, signed like the official SDKs sign it. With
    /// `wait_visible`, the answer comes once the documents are searchable.
    pub async fn push(
        &self,
        app: &str,
        table: &str,
        body: Vec<u8>,
        wait_visible: bool,
    ) -> Result<Value, PushFailure> {
        let path = format!("/v3/openapi/apps/{app}/{table}/actions/bulk");
        let headers = pier_auth::sign_request(
            &self.key_id,
            &self.secret,
            "POST",
            &path,
            &[],
            &body,
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self
            .http
            .post(format!("{}{path}", self.endpoint))
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if wait_visible {
            req = req.header("X-Pier-Wait", "visible");
        }
        self.push_answer(req).await
    }

    /// Pushes one batch to a Vector Search Edition table: `POST
    /// /update/{segment}/actions/bulk` (`segment` being `{instance}_{table}` or the bare table)
    /// with Basic auth and the primary key field in `X-Opensearch-Swift-PK-Field`, asking for
    /// strict validation as the Python SDK does. A success has no body: `Null`.
    pub async fn push_vse(
        &self,
        segment: &str,
        pk_field: &str,
        body: Vec<u8>,
    ) -> Result<Value, PushFailure> {
        let req = self
            .http
            .post(format!("{}/update/{segment}/actions/bulk", self.endpoint))
            .basic_auth(&self.key_id, Some(&self.secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(pier_vse::push::HEADER_PK_FIELD, pk_field)
            .header(pier_vse::push::HEADER_VALIDATE_DATA, "true")
            .body(body);
        self.push_answer(req).await
    }

    /// Sends a push; returns the JSON body of a 200 (`Null` when empty), or the failure with the
    /// first error of a V3 (`{"errors": [..]}`) or Vector Search Edition (`[..]`) error body.
    async fn push_answer(&self, req: reqwest::RequestBuilder) -> Result<Value, PushFailure> {
        let resp = req.send().await.map_err(|e| PushFailure {
            status: 0,
            code: None,
            message: format!("cannot reach {}: {e}", self.endpoint),
            retry_after: None,
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if status != 200 {
            let first = json.get("errors").unwrap_or(&json).get(0);
            return Err(PushFailure {
                status,
                code: first.and_then(|e| e["code"].as_u64()),
                message: first
                    .and_then(|e| e["message"].as_str())
                    .unwrap_or("no error message")
                    .to_string(),
                retry_after,
            });
        }
        Ok(json)
    }
}

impl Client {
    /// Runs a V3 search (`GET /v3/openapi/apps/{app}/search`) signed like the official SDKs
    /// sign it, with `params` as the URL parameters (`query`, `fetch_fields`, ...). Returns the
    /// response body of a successful search, or an error with the server's code and message.
    pub async fn search(&self, app: &str, params: &[(String, String)]) -> anyhow::Result<Value> {
        let path = format!("/v3/openapi/apps/{app}/search");
        let headers = pier_auth::sign_request(
            &self.key_id,
            &self.secret,
            "GET",
            &path,
            params,
            b"",
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self
            .http
            .get(format!("{}{path}", self.endpoint))
            .query(params);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.with_context(|| {
            format!(
                "cannot reach pier at {}: is `pier serve` running there?",
                self.endpoint
            )
        })?;
        let status = resp.status();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() || json["status"] != "OK" {
            bail!(
                "{status} [{}]: {}",
                json["errors"][0]["code"],
                json["errors"][0]["message"]
                    .as_str()
                    .unwrap_or("no error message")
            );
        }
        Ok(json)
    }
}
