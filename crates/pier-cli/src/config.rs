//! `pier serve` configuration: defaults, then a TOML file, then PIER_* environment variables,
//! then flags (clap merges the last two: a flag wins over its variable).

use serde::Deserialize;
use std::path::PathBuf;

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./pier-data";
/// Default HTTP listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8700";

/// The configuration file. Every key is optional.
///
/// ```toml
/// data_dir = "./pier-data"
/// listen = "127.0.0.1:8700"
/// commit_interval_ms = 200      # how often applied pushes become searchable
/// max_unapplied_mb = 256        # per table; beyond it pushes get 3007 (retry)
/// store_cache_mb = 256          # document store block cache
/// log_format = "text"           # or "json"
/// https_listen = "127.0.0.1:8743"  # HTTPS (same routes); off unless set
/// tls_cert = "/etc/pier/cert.pem"  # with tls_key; default: a self-signed pair in <data_dir>/tls
/// tls_key = "/etc/pier/key.pem"
/// manager_account = "admin"     # AnalyticDB manager account; default: created on first start
/// manager_password = "..."
/// adb_auth = "verify"           # AnalyticDB auth: verify, access-key or none
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub commit_interval_ms: Option<u64>,
    pub max_unapplied_mb: Option<u64>,
    pub store_cache_mb: Option<u64>,
    pub log_format: Option<String>,
    pub https_listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub manager_account: Option<String>,
    pub manager_password: Option<String>,
    pub adb_auth: Option<String>,
}

impl FileConfig {
    /// Reads a config file; a missing explicit file is an error.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {} is invalid: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_documented_key_and_refuses_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pier.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/pier\"\ncommit_interval_ms = 50\nmax_unapplied_mb = 64\nstore_cache_mb = 512\n",
        )
        .unwrap();
        let c = FileConfig::load(Some(&path)).unwrap();
        assert_eq!(c.data_dir, Some(PathBuf::from("/srv/pier")));
        assert_eq!(c.commit_interval_ms, Some(50));
        assert_eq!(c.max_unapplied_mb, Some(64));
        assert_eq!(c.store_cache_mb, Some(512));

        std::fs::write(&path, "store_cache = 512\n").unwrap();
        let e = FileConfig::load(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("store_cache"), "{e}");
    }
}
