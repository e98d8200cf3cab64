//! Trusted keys (`--key FILE`, `--key DIR`) and the signature check over `bundle.json`: pure
//! functions of the bytes and the keys.

use super::error::VerifyError;
use ed25519_dalek::VerifyingKey;
use std::path::PathBuf;

pub struct TrustedKey {
    pub key: VerifyingKey,
    pub fingerprint: String,
    pub path: PathBuf,
}

/// `--key FILE` and `--key DIR` (every `*.pub` in it).
pub fn load_keys(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, VerifyError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| VerifyError::Key {
                    path: p.clone(),
                    reason: e.to_string(),
                })?
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "pub"))
                .collect();
            if found.is_empty() {
                return Err(VerifyError::Key {
                    path: p.clone(),
                    reason: "the directory holds no *.pub file".into(),
                });
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    files
        .into_iter()
        .map(|f| {
            let key = crate::keys::load_public(&f)?;
            Ok(TrustedKey {
                fingerprint: crate::keys::fingerprint(&key),
                key,
                path: f,
            })
        })
        .collect()
}

/// Which trusted key signed `bundle_json` (its fingerprint), or None for an unsigned bundle
/// that is allowed. Nothing in bundle.json is believed before this returns Ok: the signer it
/// claims is read only to say which key was missing.
pub fn check_signature(
    bundle_json: &[u8],
    signature: Option<&[u8]>,
    keys: &[TrustedKey],
    allow_unsigned: bool,
    name: &str,
) -> Result<Option<String>, VerifyError> {
    let Some(sig) = signature else {
        return match allow_unsigned {
            true => Ok(None),
            false => Err(VerifyError::Unsigned { path: name.into() }),
        };
    };
    if let Some(k) = keys
        .iter()
        .find(|k| crate::keys::verify(&k.key, bundle_json, sig))
    {
        return Ok(Some(k.fingerprint.clone()));
    }
    let claimed = serde_json::from_slice::<serde_json::Value>(bundle_json)
        .ok()
        .and_then(|v| v["signer"]["fingerprint"].as_str().map(str::to_string));
    match claimed {
        Some(c) if !keys.iter().any(|k| k.fingerprint == c) => Err(VerifyError::UnknownKey {
            path: name.into(),
            claimed: c,
            count: keys.len(),
        }),
        _ => Err(VerifyError::BadSignature { path: name.into() }),
    }
}
