//! AnalyticDB namespaces and the manager account (wire spec `analyticdb-vector-api.md` §5.1).
//!
//! In AnalyticDB a namespace is a schema plus a database account of the same name, whose
//! password (`NamespacePassword`) guards the namespace's data; DDL (`InitVectorDatabase`,
//! namespaces, `CreateCollection`) is guarded by the manager account (`ManagerAccount` +
//! `ManagerAccountPassword`). pier keeps both credentials apart from the AccessKeys, which only
//! say who signed the request.
//!
//! Namespaces live in the store's `adb_namespaces` keyspace; the manager account either comes
//! from the configuration or is created on first start and kept in `adb-manager.json` in the
//! data dir (readable only by its owner). Passwords are stored as Argon2id hashes. Every data
//! request carries a `NamespacePassword`, and an Argon2 check costs tens of milliseconds by
//! design, so a password that passed once is remembered in memory as a keyed SHA-256 digest
//! (the key is random per process): the next requests with the same password cost one hash.

use crate::EngineError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The namespace every AnalyticDB action defaults to; `InitVectorDatabase` creates it.
pub const DEFAULT_NAMESPACE: &str = "public";
/// The manager account name pier creates on first start when none is configured.
pub const DEFAULT_MANAGER_ACCOUNT: &str = "pier_manager";
/// Longest namespace name: PostgreSQL's identifier limit (NAMEDATALEN - 1).
pub const MAX_NAME_LEN: usize = 63;
/// Longest password accepted; bounds the work of hashing a hostile one.
pub const MAX_PASSWORD_LEN: usize = 256;

const KEYSPACE: &str = "adb_namespaces";
const NS_PREFIX: &str = "ns/";
const MANAGER_FILE: &str = "adb-manager.json";
const GENERATED_PASSWORD_LEN: usize = 24;

/// Why a namespace or manager-account operation failed. The server maps each to an AnalyticDB
/// error code and HTTP status; the `Display` text says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// No such namespace.
    #[error(
        "namespace '{0}' does not exist: create it with CreateNamespace (the default namespace \
         'public' is created by InitVectorDatabase)"
    )]
    NotFound(String),
    /// The manager account name or password is wrong.
    #[error(
        "the ManagerAccount or ManagerAccountPassword is wrong: use the manager account pier \
         printed on its first start (or set with PIER_MANAGER_ACCOUNT / PIER_MANAGER_PASSWORD)"
    )]
    ManagerMismatch,
    /// The namespace password is wrong.
    #[error(
        "the NamespacePassword of namespace '{0}' is wrong: send the password given to CreateNamespace"
    )]
    PasswordMismatch(String),
    /// A name or password is unusable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] EngineError),
}

impl From<fjall::Error> for NamespaceError {
    fn from(e: fjall::Error) -> Self {
        NamespaceError::Storage(e.into())
    }
}

/// One namespace as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NamespaceRecord {
    name: String,
    /// Argon2id PHC string; `None` for a namespace created by `InitVectorDatabase`, whose
    /// account is the manager's (like PostgreSQL's `public` schema, owned by the superuser).
    password_hash: Option<String>,
    created_at_ms: u64,
    updated_at_ms: u64,
}

/// What `DescribeNamespace` shows about a namespace (never its password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Its name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Last password change, ms since the epoch.
    pub updated_at_ms: u64,
    /// Whether it has a password of its own (else the manager's password opens it).
    pub has_own_password: bool,
}

/// Whether `CreateNamespace` made a new namespace or changed an existing one's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// The namespace did not exist.
    Created,
    /// The namespace existed; its password was replaced.
    PasswordUpdated,
}

/// The manager account as kept in `adb-manager.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManagerRecord {
    account: String,
    password_hash: String,
    created_at_ms: u64,
}

/// A manager account created on first start: shown once to the operator, then only its hash
/// is kept.
#[derive(Debug, Clone)]
pub struct NewManager {
    /// The account name.
    pub account: String,
    /// The generated password (in clear; not stored anywhere).
    pub password: String,
    /// The file the account's hash was written to.
    pub file: PathBuf,
}

/// The namespaces and the manager account of one data dir.
pub struct Namespaces {
    db: fjall::Database,
    keyspace: fjall::Keyspace,
    manager_file: PathBuf,
    manager: RwLock<Option<ManagerRecord>>,
    /// Serialises writers so that a create and a delete of the same name cannot interleave.
    write_lock: Mutex<()>,
    /// Passwords that passed an Argon2 check: namespace name (or `None` for the manager)
    /// → keyed digest of the password.
    verified: Mutex<HashMap<Option<String>, [u8; 32]>>,
    digest_key: [u8; 32],
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces")
            .field("manager_file", &self.manager_file)
            .finish_non_exhaustive()
    }
}

impl Namespaces {
    /// Opens the namespaces of `db` and the manager account file of `data_dir`.
    pub fn open(db: &fjall::Database, data_dir: &Path) -> Result<Namespaces, EngineError> {
        let keyspace = db.keyspace(KEYSPACE, fjall::KeyspaceCreateOptions::default)?;
        let manager_file = data_dir.join(MANAGER_FILE);
        let manager = match std::fs::read(&manager_file) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                EngineError::Storage(format!(
                    "{} is damaged ({e}); restore it, or remove it and restart to get a new \
                     manager account",
                    manager_file.display()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Namespaces {
            db: db.clone(),
            keyspace,
            manager_file,
            manager: RwLock::new(manager),
            write_lock: Mutex::new(()),
            verified: Mutex::new(HashMap::new()),
            digest_key: rand::random(),
        })
    }

    /// Uses `account` / `password` as the manager account (from the configuration), in place
    /// of any stored one. Nothing is written: the configuration stays the source of truth.
    pub fn configure_manager(&self, account: &str, password: &str) -> Result<(), NamespaceError> {
        validate_name("ManagerAccount", account)?;
        validate_password("the manager password", password)?;
        let record = ManagerRecord {
            account: account.to_string(),
            password_hash: hash_password(password)?,
            created_at_ms: crate::now_ms(),
        };
        *self.manager.write() = Some(record);
        self.verified.lock().remove(&None);
        Ok(())
    }

    /// Makes sure a manager account exists: if none is configured or stored, creates one with
    /// a random password, stores its hash in `adb-manager.json` (mode 0600) and returns it, to
    /// be shown once.
    pub fn ensure_manager(&self) -> Result<Option<NewManager>, NamespaceError> {
        let mut manager = self.manager.write();
        if manager.is_some() {
            return Ok(None);
        }
        let password = random_password();
        let record = ManagerRecord {
            account: DEFAULT_MANAGER_ACCOUNT.to_string(),
            password_hash: hash_password(&password)?,
            created_at_ms: crate::now_ms(),
        };
        write_owner_only(
            &self.manager_file,
            &serde_json::to_vec_pretty(&record).map_err(|e| EngineError::Storage(e.to_string()))?,
        )
        .map_err(EngineError::from)?;
        *manager = Some(record);
        Ok(Some(NewManager {
            account: DEFAULT_MANAGER_ACCOUNT.to_string(),
            password,
            file: self.manager_file.clone(),
        }))
    }

    /// Checks the manager account (DDL actions). Blocking (Argon2) on a first or changed
    /// password: call from a blocking context.
    pub fn check_manager(&self, account: &str, password: &str) -> Result<(), NamespaceError> {
        let Some(hash) = self
            .manager
            .read()
            .as_ref()
            .filter(|m| m.account == account)
            .map(|m| m.password_hash.clone())
        else {
            return Err(NamespaceError::ManagerMismatch);
        };
        if self.check_cached(None, &hash, password) {
            Ok(())
        } else {
            Err(NamespaceError::ManagerMismatch)
        }
    }

    /// Checks a namespace password (data actions). A namespace without a password of its own
    /// opens with the manager's. Blocking (Argon2) on a first or changed password.
    pub fn check_password(&self, name: &str, password: &str) -> Result<(), NamespaceError> {
        let record = self
            .get(name)?
            .ok_or_else(|| NamespaceError::NotFound(name.to_string()))?;
        let ok = match &record.password_hash {
            Some(hash) => self.check_cached(Some(name), hash, password),
            None => {
                let manager_hash = self
                    .manager
                    .read()
                    .as_ref()
                    .map(|m| m.password_hash.clone());
                manager_hash.is_some_and(|hash| self.check_cached(None, &hash, password))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(NamespaceError::PasswordMismatch(name.to_string()))
        }
    }

    /// `InitVectorDatabase`: creates the `public` namespace unless it exists. Idempotent and
    /// cheap after the first call (integrations call it on every start-up). Returns whether
    /// this call created it.
    pub fn init(&self) -> Result<bool, NamespaceError> {
        let _guard = self.write_lock.lock();
        if self.get(DEFAULT_NAMESPACE)?.is_some() {
            return Ok(false);
        }
        let now = crate::now_ms();
        self.put(&NamespaceRecord {
            name: DEFAULT_NAMESPACE.to_string(),
            password_hash: None,
            created_at_ms: now,
            updated_at_ms: now,
        })?;
        self.persist()?;
        Ok(true)
    }

    /// `CreateNamespace`: creates `name` with `password`, or replaces the password of an
    /// existing one (wire spec §5.1: idempotent, updates the password). Blocking.
    pub fn create(&self, name: &str, password: &str) -> Result<Upsert, NamespaceError> {
        validate_name("Namespace", name)?;
        validate_password("NamespacePassword", password)?;
        let password_hash = hash_password(password)?;
        let _guard = self.write_lock.lock();
        let now = crate::now_ms();
        let (record, outcome) = match self.get(name)? {
            Some(existing) => (
                NamespaceRecord {
                    password_hash: Some(password_hash),
                    updated_at_ms: now,
                    ..existing
                },
                Upsert::PasswordUpdated,
            ),
            None => (
                NamespaceRecord {
                    name: name.to_string(),
                    password_hash: Some(password_hash),
                    created_at_ms: now,
                    updated_at_ms: now,
                },
                Upsert::Created,
            ),
        };
        self.put(&record)?;
        self.persist()?;
        self.verified.lock().remove(&Some(name.to_string()));
        Ok(outcome)
    }

    /// `DescribeNamespace`.
    pub fn describe(&self, name: &str) -> Result<NamespaceInfo, NamespaceError> {
        let record = self
            .get(name)?
            .ok_or_else(|| NamespaceError::NotFound(name.to_string()))?;
        Ok(NamespaceInfo {
            name: record.name,
            created_at_ms: record.created_at_ms,
            updated_at_ms: record.updated_at_ms,
            has_own_password: record.password_hash.is_some(),
        })
    }

    /// `ListNamespaces`: every namespace name, sorted.
    pub fn list(&self) -> Result<Vec<String>, NamespaceError> {
        let mut names = Vec::new();
        for kv in self.keyspace.prefix(NS_PREFIX) {
            let key = kv.key()?;
            names.push(String::from_utf8_lossy(&key[NS_PREFIX.len()..]).into_owned());
        }
        Ok(names)
    }

    /// `DeleteNamespace`: removes the namespace and its password.
    pub fn delete(&self, name: &str) -> Result<(), NamespaceError> {
        let _guard = self.write_lock.lock();
        if self.get(name)?.is_none() {
            return Err(NamespaceError::NotFound(name.to_string()));
        }
        self.keyspace.remove(key(name))?;
        self.persist()?;
        self.verified.lock().remove(&Some(name.to_string()));
        Ok(())
    }

    fn get(&self, name: &str) -> Result<Option<NamespaceRecord>, NamespaceError> {
        let Some(bytes) = self.keyspace.get(key(name))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            NamespaceError::Storage(EngineError::Storage(format!(
                "the record of namespace '{name}' is damaged: {e}"
            )))
        })
    }

    fn put(&self, record: &NamespaceRecord) -> Result<(), NamespaceError> {
        let bytes = serde_json::to_vec(record).map_err(|e| EngineError::Storage(e.to_string()))?;
        self.keyspace.insert(key(&record.name), bytes)?;
        Ok(())
    }

    fn persist(&self) -> Result<(), NamespaceError> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Checks `password` against `hash`, through the cache of passwords that passed before.
    fn check_cached(&self, slot: Option<&str>, hash: &str, password: &str) -> bool {
        let slot = slot.map(str::to_string);
        let digest = self.digest(slot.as_deref(), hash, password);
        if self.verified.lock().get(&slot) == Some(&digest) {
            return true;
        }
        let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        if ok {
            self.verified.lock().insert(slot, digest);
        }
        ok
    }

    /// A digest of the password bound to the slot and the stored hash, so that a cached entry
    /// stops matching as soon as the password is changed by anyone.
    fn digest(&self, slot: Option<&str>, hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.digest_key);
        for part in [slot.unwrap_or_default(), hash, password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
}

fn key(name: &str) -> String {
    format!("{NS_PREFIX}{name}")
}

/// PostgreSQL identifier rules without quoting: a letter or `_`, then letters, digits, `_` or
/// `$`, at most [`MAX_NAME_LEN`] bytes.
fn validate_name(what: &str, name: &str) -> Result<(), NamespaceError> {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well
        || name.len() > MAX_NAME_LEN
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    {
        return Err(NamespaceError::Invalid(format!(
            "{what} '{name}' is not a valid name: use 1 to {MAX_NAME_LEN} ASCII letters, digits, \
             '_' or '$', starting with a letter or '_'"
        )));
    }
    Ok(())
}

fn validate_password(what: &str, password: &str) -> Result<(), NamespaceError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(NamespaceError::Invalid(format!(
            "{what} must be 1 to {MAX_PASSWORD_LEN} bytes long"
        )));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, NamespaceError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| EngineError::Storage(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            NamespaceError::Storage(EngineError::Storage(format!(
                "password hashing failed: {e}"
            )))
        })
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..GENERATED_PASSWORD_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Writes `bytes` to `path` atomically, readable only by its owner.
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> (fjall::Database, Namespaces) {
        let db = fjall::Database::builder(dir.join("store")).open().unwrap();
        let ns = Namespaces::open(&db, dir).unwrap();
        (db, ns)
    }

    #[test]
    fn namespaces_persist_and_passwords_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (_db, ns) = open(dir.path());
            assert!(ns.list().unwrap().is_empty());
            assert!(ns.init().unwrap());
            assert!(!ns.init().unwrap(), "a second init changes nothing");
            assert_eq!(ns.create("ns1", "pw1").unwrap(), Upsert::Created);
            ns.check_password("ns1", "pw1").unwrap();
            assert_eq!(ns.create("ns1", "pw2").unwrap(), Upsert::PasswordUpdated);
            assert!(matches!(
                ns.check_password("ns1", "pw1"),
                Err(NamespaceError::PasswordMismatch(_))
            ));
            ns.check_password("ns1", "pw2").unwrap();
            assert!(matches!(
                ns.check_password("nope", "pw2"),
                Err(NamespaceError::NotFound(_))
            ));
        }
        let (_db, ns) = open(dir.path());
        assert_eq!(ns.list().unwrap(), ["ns1", "public"]);
        ns.check_password("ns1", "pw2").unwrap();
        assert!(ns.describe("ns1").unwrap().has_own_password);
        ns.delete("ns1").unwrap();
        assert!(matches!(ns.delete("ns1"), Err(NamespaceError::NotFound(_))));
        assert!(matches!(
            ns.describe("ns1"),
            Err(NamespaceError::NotFound(_))
        ));
        assert!(matches!(
            ns.create("1bad", "pw"),
            Err(NamespaceError::Invalid(_))
        ));
        assert!(matches!(
            ns.create("ok", ""),
            Err(NamespaceError::Invalid(_))
        ));
    }

    #[test]
    fn manager_is_created_once_owner_only_and_configurable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let created = {
            let (_db, ns) = open(dir.path());
            let created = ns
                .ensure_manager()
                .unwrap()
                .expect("first start creates it");
            assert!(ns.ensure_manager().unwrap().is_none());
            created
        };
        let mode = std::fs::metadata(&created.file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&created.file).unwrap();
        assert!(!text.contains(&created.password), "only the hash is stored");

        let (_db, ns) = open(dir.path());
        assert!(
            ns.ensure_manager().unwrap().is_none(),
            "kept across restarts"
        );
        ns.check_manager(&created.account, &created.password)
            .unwrap();
        assert!(matches!(
            ns.check_manager(&created.account, "wrong"),
            Err(NamespaceError::ManagerMismatch)
        ));
        // public opens with the manager's password until it gets its own.
        ns.init().unwrap();
        ns.check_password("public", &created.password).unwrap();

        ns.configure_manager("admin", "s3cret").unwrap();
        ns.check_manager("admin", "s3cret").unwrap();
        assert!(
            ns.check_manager(&created.account, &created.password)
                .is_err()
        );
        ns.check_password("public", "s3cret").unwrap();
    }
}
