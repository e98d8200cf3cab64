//! cosign's image signatures, checked offline against a public key (`--verify-images`): the
//! manifest under `sha256-<hex>.sig` holds one layer per signature, each a simple-signing
//! payload (JSON naming the signed manifest digest) with its ECDSA P-256 signature, base64 DER
//! over the payload's SHA-256, in the `dev.cosignproject.cosign/signature` annotation. No
//! transparency log and no certificate: a key, as `cosign verify --key cosign.pub
//! --insecure-ignore-tlog` checks it.

use crate::digest::Digest;
use crate::manifest::Descriptor;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use std::path::{Path, PathBuf};

pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// A payload larger than this is not a simple-signing document (they are a few hundred bytes).
pub const MAX_PAYLOAD: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{path}: not a cosign public key ({reason}); give the ECDSA P-256 public key in PEM that `cosign generate-key-pair` writes as cosign.pub")]
pub struct KeyError {
    pub path: PathBuf,
    pub reason: String,
}

/// A cosign public key, and the file it came from (for messages).
#[derive(Debug, Clone)]
pub struct CosignKey {
    key: VerifyingKey,
    pub name: String,
}

impl CosignKey {
    pub fn load(path: &Path) -> Result<CosignKey, KeyError> {
        let err = |reason: String| KeyError {
            path: path.to_path_buf(),
            reason,
        };
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| err(e.to_string()))?;
        Ok(CosignKey {
            key,
            name: path.display().to_string(),
        })
    }

    /// Whether signature manifest `manifest` holds a signature by this key over a payload that
    /// names `subject`. `payload` gives a layer's bytes, checked against its digest. The reason
    /// it does not, in a sentence, otherwise.
    pub fn check(
        &self,
        manifest: &[u8],
        subject: &Digest,
        payload: &dyn Fn(&Descriptor) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        let m = crate::manifest::parse_manifest(manifest)?;
        let mut why = Vec::new();
        let signed = m
            .layers
            .iter()
            .filter_map(|l| Some((l, l.annotations.get(SIGNATURE_ANNOTATION)?)));
        // Each payload is fetched: a manifest of thousands of "signatures" is not read whole.
        for (layer, sig) in signed.take(MAX_SIGNATURES) {
            match self.check_layer(layer, sig, subject, payload) {
                Ok(()) => return Ok(()),
                Err(e) => why.push(e),
            }
        }
        Err(match why.is_empty() {
            true => "its signature manifest holds no cosign signature".into(),
            false => why.join("; "),
        })
    }

    fn check_layer(
        &self,
        layer: &Descriptor,
        sig: &str,
        subject: &Digest,
        payload: &dyn Fn(&Descriptor) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        use base64::Engine;
        if layer.size > MAX_PAYLOAD {
            return Err(format!(
                "a payload of {} bytes is not a signature",
                layer.size
            ));
        }
        let bytes = payload(layer)?;
        if Digest::of(&bytes) != layer.digest {
            return Err(format!(
                "payload {} does not match its digest",
                layer.digest
            ));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(sig.trim())
            .map_err(|e| format!("the signature is not base64: {e}"))?;
        let sig = Signature::from_der(&der)
            .map_err(|_| "the signature is not an ECDSA signature".to_string())?;
        self.key
            .verify(&bytes, &sig)
            .map_err(|_| "the signature does not verify with this key".to_string())?;
        let signed = signed_digest(&bytes)?;
        if signed != subject.to_string() {
            return Err(format!(
                "the signature is for {}, not for this image's {subject}",
                crate::console::printable(&signed)
            ));
        }
        Ok(())
    }
}

/// The most signatures of one manifest looked at: images carry one or a few (one per signer).
const MAX_SIGNATURES: usize = 16;

/// A JSON document in which no object has a key twice: parsers disagree on which of two keys
/// wins, so a signed payload with a duplicate could mean one thing here and another elsewhere.
struct Unique;

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Unique, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(k) = m.next_key::<String>()? {
            if !keys.insert(k.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {k:?} appears twice"
                )));
            }
            m.next_value::<Unique>()?;
        }
        Ok(Unique)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Unique, A::Error> {
        while s.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }
}

/// The manifest digest a simple-signing payload names.
fn signed_digest(payload: &[u8]) -> Result<String, String> {
    serde_json::from_slice::<Unique>(payload)
        .map_err(|e| format!("the signed payload is refused: {e}"))?;
    let v: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the signed payload is not JSON: {e}"))?;
    v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the signed payload names no docker-manifest-digest".into())
}

/// The cosign tag that holds the signatures of `subject`.
pub fn signature_tag(subject: &Digest) -> String {
    format!("{}.sig", crate::manifest::referrers_tag(subject))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePublicKey;

    fn payload(digest: &Digest) -> Vec<u8> {
        format!(r#"{{"critical":{{"identity":{{"docker-reference":"r/a"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#).into_bytes()
    }

    fn manifest(payload: &[u8], sig: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
            "layers": [{"mediaType": SIMPLE_SIGNING, "digest": Digest::of(payload).to_string(), "size": payload.len(),
                        "annotations": {SIGNATURE_ANNOTATION: sig}}],
        }))
        .unwrap()
    }

    #[test]
    fn a_signature_checks_only_with_its_key_and_its_digest() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pem = signing
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        std::fs::write(dir.path().join("cosign.pub"), pem).unwrap();
        let key = CosignKey::load(&dir.path().join("cosign.pub")).unwrap();
        let subject = Digest::of(b"image");
        let body = payload(&subject);
        let sig: Signature = signing.sign(&body);
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        let m = manifest(&body, &b64);
        let get = |_: &Descriptor| Ok(body.clone());
        assert_eq!(key.check(&m, &subject, &get), Ok(()));
        let other = Digest::of(b"other");
        let e = key.check(&m, &other, &get).unwrap_err();
        assert!(e.contains("not for this image's"), "{e}");
        let wrong = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let sig: Signature = wrong.sign(&body);
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        let e = key
            .check(&manifest(&body, &b64), &subject, &get)
            .unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        let tampered = |_: &Descriptor| Ok(b"{}".to_vec());
        let e = key.check(&m, &subject, &tampered).unwrap_err();
        assert!(e.contains("does not match its digest"), "{e}");
        // A payload naming the digest twice: signed, but refused.
        let twice = format!(
            r#"{{"critical":{{"image":{{"docker-manifest-digest":"{other}","docker-manifest-digest":"{subject}"}}}}}}"#
        )
        .into_bytes();
        let sig: Signature = signing.sign(&twice);
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        let get = |_: &Descriptor| Ok(twice.clone());
        let e = key
            .check(&manifest(&twice, &b64), &subject, &get)
            .unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        // Thousands of signature layers: at most MAX_SIGNATURES payloads are fetched.
        let mut many: serde_json::Value = serde_json::from_slice(&m).unwrap();
        let junk = many["layers"][0].clone();
        many["layers"] = serde_json::Value::Array(vec![junk; 5000]);
        let fetched = std::cell::Cell::new(0);
        let count = |_: &Descriptor| {
            fetched.set(fetched.get() + 1);
            Ok(b"{}".to_vec())
        };
        let _ = key.check(&serde_json::to_vec(&many).unwrap(), &subject, &count);
        assert_eq!(fetched.get(), MAX_SIGNATURES);
        std::fs::write(dir.path().join("bad.pub"), "not a key").unwrap();
        let e = CosignKey::load(&dir.path().join("bad.pub")).unwrap_err();
        assert!(
            e.to_string().contains("bad.pub: not a cosign public key"),
            "{e}"
        );
    }
}
