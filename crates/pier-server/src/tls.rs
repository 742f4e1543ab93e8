//! HTTPS: the rustls configuration of the HTTPS listener, from a certificate and key given by
//! the operator or from a self-signed pair that pier creates in the data dir on first start.
//! (The AnalyticDB SDKs connect over HTTPS unless told `protocol="http"`, wire spec §1.1.)

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the self-signed certificate lives in the data dir.
pub const SELF_SIGNED_DIR: &str = "tls";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

/// The certificate pier serves and where it came from.
#[derive(Debug)]
pub struct TlsSetup {
    /// The rustls configuration (HTTP/2 and HTTP/1.1 offered through ALPN).
    pub config: Arc<ServerConfig>,
    /// The certificate file (PEM): what clients trust to verify pier.
    pub cert_file: PathBuf,
    /// Whether pier created the self-signed pair just now.
    pub created: bool,
}

/// Loads `cert` + `key` (PEM files) when given, else the self-signed pair in
/// `<data_dir>/tls/`, creating it on first use for `localhost`, `127.0.0.1`, `::1` and
/// `extra_names` (e.g. the host of the listen address).
pub fn load_or_create(
    data_dir: &Path,
    cert_and_key: Option<(&Path, &Path)>,
    extra_names: &[String],
) -> Result<TlsSetup, String> {
    let (cert_file, key_file, created) = match cert_and_key {
        Some((cert, key)) => (cert.to_path_buf(), key.to_path_buf(), false),
        None => {
            let dir = data_dir.join(SELF_SIGNED_DIR);
            let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
            let created = !cert.exists() || !key.exists();
            if created {
                create_self_signed(&dir, &cert, &key, extra_names)?;
            }
            (cert, key, created)
        }
    };
    let certs = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "cannot read the TLS certificate {}: {e}; give a PEM certificate chain",
                cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "the TLS certificate file {} holds no PEM certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        format!(
            "cannot read the TLS private key {}: {e}; give a PEM private key (PKCS#8, PKCS#1 or SEC1)",
            key_file.display()
        )
    })?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                format!(
                    "the TLS certificate {} and key {} do not work together: {e}",
                    cert_file.display(),
                    key_file.display()
                )
            })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsSetup {
        config: Arc::new(config),
        cert_file,
        created,
    })
}

fn create_self_signed(
    dir: &Path,
    cert_file: &Path,
    key_file: &Path,
    extra_names: &[String],
) -> Result<(), String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    for name in extra_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let pair = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot create a self-signed TLS certificate: {e}"))?;
    let write = |path: &Path, text: &str, mode: u32| -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    std::fs::create_dir_all(dir)
        .and_then(|()| write(key_file, &pair.signing_key.serialize_pem(), 0o600))
        .and_then(|()| write(cert_file, &pair.cert.pem(), 0o644))
        .map_err(|e| {
            format!(
                "cannot write the TLS certificate into {}: {e}",
                dir.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_is_created_once_with_an_owner_only_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None, &["pier.example".into()]).unwrap();
        assert!(first.created);
        let key = dir.path().join(SELF_SIGNED_DIR).join(KEY_FILE);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let pem = std::fs::read(&first.cert_file).unwrap();
        let again = load_or_create(dir.path(), None, &[]).unwrap();
        assert!(!again.created);
        assert_eq!(
            std::fs::read(&again.cert_file).unwrap(),
            pem,
            "kept across restarts"
        );
        // An operator-given pair is used as is.
        let given = load_or_create(dir.path(), Some((&first.cert_file, &key)), &[]).unwrap();
        assert!(!given.created);
    }

    #[test]
    fn unusable_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = load_or_create(dir.path(), Some((&missing, &missing)), &[]).unwrap_err();
        assert!(err.contains("cannot read the TLS certificate"), "{err}");
    }
}
