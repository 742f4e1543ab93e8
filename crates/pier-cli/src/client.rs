//! The HTTP client the CLI commands share: endpoint and credentials, and failures turned into
//! messages that say what to do.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// The server's URL when neither a flag, the environment nor a profile names one.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8700";

/// Where the server is and how to authenticate. Each setting comes from its flag (or
/// environment variable), else from the `--profile` in the profiles file, else its default.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The pier server's URL [default: http://127.0.0.1:8700].
    #[arg(long, env = "PIER_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
    /// Access key id (default: the profile's, else the first key in the data dir's keys.json).
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
    /// A profile of the profiles file: a TOML table `[NAME]` with `endpoint`, `access_key_id`
    /// and `access_key_secret`.
    #[arg(long, env = "PIER_PROFILE", global = true)]
    pub profile: Option<String>,
    /// The profiles file [default: $XDG_CONFIG_HOME/pier/profiles.toml, else
    /// ~/.config/pier/profiles.toml].
    #[arg(long, env = "PIER_PROFILES", global = true)]
    pub profiles_file: Option<PathBuf>,
    /// Data dir to read a key from when none is given.
    #[arg(long, env = "PIER_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,
}

/// One profile of the profiles file.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Profile {
    endpoint: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<String>,
}

/// A connected client.
pub struct Client {
    http: reqwest::Client,
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
}

impl Connection {
    /// A connection to `endpoint` with a key, for pier's own tools.
    pub fn to(endpoint: String, key_id: String, secret: String) -> Connection {
        Connection {
            endpoint: Some(endpoint),
            access_key: Some(key_id),
            secret: Some(secret),
            profile: None,
            profiles_file: None,
            data_dir: ".".into(),
        }
    }

    /// The `--profile`, read from the profiles file.
    fn read_profile(&self) -> anyhow::Result<Profile> {
        let Some(name) = &self.profile else {
            return Ok(Profile::default());
        };
        let file = match &self.profiles_file {
            Some(f) => f.clone(),
            None => std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .context("no profiles file: set --profiles-file (or HOME)")?
                .join("pier/profiles.toml"),
        };
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading profile '{name}': cannot read {}", file.display()))?;
        let mut profiles: std::collections::BTreeMap<String, Profile> = toml::from_str(&text)
            .with_context(|| {
                format!(
                    "{} is not a profiles file: [NAME] tables of endpoint, access_key_id, access_key_secret",
                    file.display()
                )
            })?;
        let known: Vec<String> = profiles.keys().cloned().collect();
        profiles.remove(name).with_context(|| {
            format!(
                "{} has no profile '{name}' (it has: {})",
                file.display(),
                known.join(", ")
            )
        })
    }

    /// Resolves credentials and builds a client.
    pub fn client(&self) -> anyhow::Result<Client> {
        let profile = self.read_profile()?;
        let access_key = self.access_key.clone().or(profile.access_key_id);
        let secret = self.secret.clone().or(profile.access_key_secret);
        let (key_id, secret) = match (access_key, secret) {
            (Some(k), Some(s)) => (k, s),
            (Some(_), None) | (None, Some(_)) => bail!(
                "give both --access-key and --secret (or PIER_ACCESS_KEY_ID and PIER_ACCESS_KEY_SECRET, or both in the profile)"
            ),
            (None, None) => {
                let store = pier_engine::KeyStore::open(&self.data_dir)
                    .with_context(|| format!("reading keys from {}", self.data_dir.display()))?;
                let key = store.list().into_iter().find(|k| !k.revoked).with_context(|| {
                    format!(
                        "no access key given and none found in {}: pass --access-key/--secret, a --profile, or --data-dir of the server",
                        self.data_dir.display()
                    )
                })?;
                (key.id, key.secret)
            }
        };
        let endpoint = self
            .endpoint
            .clone()
            .or(profile.endpoint)
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Ok(Client {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(profiles: &std::path::Path, profile: Option<&str>) -> Connection {
        Connection {
            endpoint: None,
            access_key: None,
            secret: None,
            profile: profile.map(str::to_string),
            profiles_file: Some(profiles.to_path_buf()),
            data_dir: profiles.parent().unwrap().join("no-data-dir"),
        }
    }

    #[test]
    fn flags_win_over_the_profile_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("profiles.toml");
        std::fs::write(
            &file,
            "[prod]\nendpoint = \"http://pier.internal:8700/\"\naccess_key_id = \"AK\"\naccess_key_secret = \"SK\"\n\n[keyless]\nendpoint = \"http://x:1\"\n",
        )
        .unwrap();
        let c = conn(&file, Some("prod")).client().unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.key_id.as_str(), c.secret.as_str()),
            ("http://pier.internal:8700", "AK", "SK")
        );
        let mut flags = conn(&file, Some("prod"));
        flags.endpoint = Some("http://127.0.0.1:9".into());
        flags.access_key = Some("AK2".into());
        flags.secret = Some("SK2".into());
        let c = flags.client().unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.key_id.as_str()),
            ("http://127.0.0.1:9", "AK2")
        );
        // No profile: the default endpoint, and a key is needed from somewhere.
        let mut plain = conn(&file, None);
        plain.access_key = Some("A".into());
        plain.secret = Some("S".into());
        assert_eq!(plain.client().unwrap().endpoint, DEFAULT_ENDPOINT);
        let err = format!("{:#}", conn(&file, Some("nope")).client().err().unwrap());
        assert!(
            err.contains("no profile 'nope'") && err.contains("keyless, prod"),
            "{err}"
        );
        let err = format!("{:#}", conn(&file, Some("keyless")).client().err().unwrap());
        assert!(err.contains("no access key given"), "{err}");
    }
}
