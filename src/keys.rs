//! ed25519 signing keys in standard PEM: PKCS#8 private keys and SPKI public keys, the same files
//! `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----); make one with `bundle keygen` or `openssl genpkey -algorithm ed25519`")]
    BadPrivate { path: PathBuf },
    #[error("{path} is not an ed25519 public key in SPKI PEM (-----BEGIN PUBLIC KEY-----); derive it with `openssl pkey -in KEY -pubout`")]
    BadPublic { path: PathBuf },
    #[error("{path} already exists; refusing to overwrite a key (choose another --out prefix)")]
    Exists { path: PathBuf },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

fn read_pem(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn load_private(path: &Path) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(&read_pem(path)?).map_err(|_| KeyError::BadPrivate {
        path: path.to_path_buf(),
    })
}

/// A warning when others than the owner may read a private key (as ssh warns).
pub fn exposure_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "warning: private key {} can be read by others (mode {:o}); `chmod 600 {0}`",
            path.display(),
            mode & 0o777
        )
    })
}

pub fn load_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(&read_pem(path)?).map_err(|_| KeyError::BadPublic {
        path: path.to_path_buf(),
    })
}

/// `SHA256:<hex>` of the SPKI DER encoding: the same bytes `openssl pkey -pubin -outform DER`
/// prints, so the fingerprint can be checked without this tool.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    format!("SHA256:{}", hex::encode(Sha256::digest(der)))
}

pub fn sign(key: &SigningKey, msg: &[u8]) -> [u8; 64] {
    key.sign(msg).to_bytes()
}

pub fn verify(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    key.verify(msg, &sig).is_ok()
}

/// Write `PREFIX.key` (0600) and `PREFIX.pub`. Neither may exist already.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf, String), KeyError> {
    let key_path = with_suffix(prefix, "key");
    let pub_path = with_suffix(prefix, "pub");
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(KeyError::Exists { path: p.clone() });
        }
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    // PKCS#8 v1, the seed alone: OpenSSL 3.0 refuses the v2 form (with the public key inside)
    // that SigningKey::to_pkcs8_pem writes.
    let private_pem = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: seed,
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|e| KeyError::Random(format!("encoding the key failed: {e}")))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Random(format!("encoding the key failed: {e}")))?;
    write_new(&key_path, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, public_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    Ok((key_path, pub_path, fingerprint(&key.verifying_key())))
}

fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = crate::fsutil::PartialFile::create_with_mode(path, mode).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    // Published only if nothing is there, even in a race: a key is never overwritten.
    f.commit_new(true).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            err(e)
        }
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_sign_verify_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let (k, p, fp) = keygen(&prefix).unwrap();
        assert!(fp.starts_with("SHA256:"));
        let sk = load_private(&k).unwrap();
        let pk = load_public(&p).unwrap();
        let sig = sign(&sk, b"hello");
        assert!(verify(&pk, b"hello", &sig));
        assert!(!verify(&pk, b"hellO", &sig));
        assert!(matches!(keygen(&prefix), Err(KeyError::Exists { .. })));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&k).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(load_private(&p), Err(KeyError::BadPrivate { .. })));
    }
}
