//! Access keys: one credential store for every API (V3 signatures, HTTP Basic, the CLI).
//!
//! Kept in `keys.json` in the data dir, readable only by its owner, written atomically. The
//! server re-reads the file when it sees an unknown key id, so `pier key create --data-dir`
//! works beside a running server.

use parking_lot::RwLock;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const KEYS_FILE: &str = "keys.json";
const ID_PREFIX: &str = "PIER";
const ID_RANDOM_LEN: usize = 16;
const SECRET_LEN: usize = 30;

/// One access key pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessKey {
    /// The public key id (the V3 AccessKeyId, the Basic user name).
    pub id: String,
    /// The secret (the V3 AccessKeySecret, the Basic password).
    pub secret: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Revoked keys are kept for the record but authenticate nothing.
    #[serde(default)]
    pub revoked: bool,
    /// Free text, e.g. who the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct KeysFile {
    keys: Vec<AccessKey>,
}

/// The access keys of one data dir.
pub struct KeyStore {
    path: PathBuf,
    state: RwLock<(Vec<AccessKey>, Option<FileStamp>)>,
}

/// Identifies a version of the keys file: every save renames a new file into place, so the inode
/// changes even when two saves fall in the same mtime tick.
type FileStamp = (u64, SystemTime);

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.modified().ok()?))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl KeyStore {
    /// Opens the key store of `data_dir` (an absent file means no keys yet).
    pub fn open(data_dir: &Path) -> std::io::Result<KeyStore> {
        let store = KeyStore {
            path: data_dir.join(KEYS_FILE),
            state: RwLock::new((Vec::new(), None)),
        };
        store.reload()?;
        Ok(store)
    }

    fn reload(&self) -> std::io::Result<()> {
        let mtime = stamp(&self.path);
        if mtime.is_some() && self.state.read().1 == mtime {
            return Ok(());
        }
        let keys = match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice::<KeysFile>(&bytes)
                    .map_err(|e| {
                        std::io::Error::other(format!(
                            "{} is damaged ({e}); restore it or remove it to start over",
                            self.path.display()
                        ))
                    })?
                    .keys
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        *self.state.write() = (keys, mtime);
        Ok(())
    }

    fn save(&self, keys: &[AccessKey]) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(
            &serde_json::to_vec_pretty(&KeysFile {
                keys: keys.to_vec(),
            })
            .map_err(std::io::Error::other)?,
        )?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Creates, stores and returns a new key pair.
    pub fn create(&self, description: Option<String>) -> std::io::Result<AccessKey> {
        self.reload()?;
        let key = AccessKey {
            id: format!(
                "{ID_PREFIX}{}",
                random_string(ID_RANDOM_LEN, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
            ),
            secret: random_string(
                SECRET_LEN,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            ),
            created_at_ms: now_ms(),
            revoked: false,
            description,
        };
        let mut state = self.state.write();
        let mut keys = state.0.clone();
        keys.push(key.clone());
        self.save(&keys)?;
        state.0 = keys;
        state.1 = stamp(&self.path);
        Ok(key)
    }

    /// Revokes a key; false if there is no such key.
    pub fn revoke(&self, id: &str) -> std::io::Result<bool> {
        self.reload()?;
        let mut state = self.state.write();
        let mut keys = state.0.clone();
        let Some(k) = keys.iter_mut().find(|k| k.id == id) else {
            return Ok(false);
        };
        k.revoked = true;
        self.save(&keys)?;
        state.0 = keys;
        state.1 = stamp(&self.path);
        Ok(true)
    }

    /// Every key, revoked ones included.
    pub fn list(&self) -> Vec<AccessKey> {
        let _ = self.reload();
        self.state.read().0.clone()
    }

    /// The secret of an active key, re-reading the file once if the id is unknown.
    pub fn secret_for(&self, id: &str) -> Option<String> {
        let find = |keys: &[AccessKey]| {
            keys.iter()
                .find(|k| k.id == id && !k.revoked)
                .map(|k| k.secret.clone())
        };
        if let Some(s) = find(&self.state.read().0) {
            return Some(s);
        }
        let _ = self.reload();
        find(&self.state.read().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_revoke_and_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        assert!(store.list().is_empty());
        let k = store.create(Some("ci".into())).unwrap();
        assert!(k.id.starts_with("PIER") && k.id.len() == 20 && k.secret.len() == 30);
        let mode = std::fs::metadata(dir.path().join(KEYS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Another process (the CLI) adds a key; this store sees it on a miss.
        let other = KeyStore::open(dir.path()).unwrap().create(None).unwrap();
        assert_eq!(store.secret_for(&other.id), Some(other.secret));
        assert!(store.revoke(&k.id).unwrap());
        assert_eq!(store.secret_for(&k.id), None);
        assert!(!store.revoke("nope").unwrap());
        assert_eq!(KeyStore::open(dir.path()).unwrap().list().len(), 2);
    }
}
