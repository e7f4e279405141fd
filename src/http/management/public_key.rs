//! The `value` of a `public_key` device credential: Auth0 calls it a "Base64
//! encoded string containing the credential". grantor accepts a public key
//! as PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), as the base64 of such a PEM
//! text, or as the base64 of its DER (SubjectPublicKeyInfo, or PKCS #1 for
//! RSA): RSA of 2048 to 8192 bits, EC P-256, P-384 or P-521, or Ed25519,
//! each parsed by aws-lc-rs. Anything that is, or could be, a private key
//! (a `PRIVATE KEY` PEM label, PKCS #8 or PKCS #1 private-key DER) is
//! refused as such, and never stored or echoed. What is stored is the key's
//! canonical SubjectPublicKeyInfo, base64.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// Longer values are refused before any parsing (an RSA 8192 PEM is ~1.5 KB).
pub const MAX_VALUE_LEN: usize = 16 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The value is a private key (or PEM labelled as one).
    Private,
    /// Not a public key grantor can read.
    NotAKey,
}

/// A parsed public key: its JWK `kty` and canonical SPKI DER, base64.
#[derive(Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub key_type: &'static str,
    pub spki_base64: String,
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
}

/// The DER inside a PEM text, refusing private-key labels.
fn pem_der(text: &str) -> Result<Vec<u8>, KeyError> {
    let start = text.find("-----BEGIN ").ok_or(KeyError::NotAKey)?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or(KeyError::NotAKey)?;
    let label = &rest[..label_end];
    if label.contains("PRIVATE") {
        return Err(KeyError::Private);
    }
    if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
        return Err(KeyError::NotAKey);
    }
    let body = &rest[label_end + 5..];
    let end = body
        .find(&format!("-----END {label}-----"))
        .ok_or(KeyError::NotAKey)?;
    decode_base64(&body[..end]).ok_or(KeyError::NotAKey)
}

/// Whether `der` reads as a private key of any kind grantor knows.
fn is_private(der: &[u8]) -> bool {
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
    RsaKeyPair::from_pkcs8(der).is_ok()
        || RsaKeyPair::from_der(der).is_ok()
        || Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok()
        || [
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        ]
        .iter()
        .any(|alg| {
            EcdsaKeyPair::from_pkcs8(alg, der).is_ok()
                || EcdsaKeyPair::from_private_key_der(alg, der).is_ok()
        })
}

pub fn parse(value: &str) -> Result<PublicKey, KeyError> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(KeyError::NotAKey);
    }
    let der = if value.contains("-----BEGIN") {
        pem_der(value)?
    } else {
        let bytes = decode_base64(value).ok_or(KeyError::NotAKey)?;
        match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN") => pem_der(text)?,
            _ => bytes,
        }
    };
    if is_private(&der) {
        return Err(KeyError::Private);
    }
    // A DER structure only: raw key bytes (an Ed25519 key is any 32 bytes)
    // are not accepted.
    if der.first() != Some(&0x30) {
        return Err(KeyError::NotAKey);
    }
    let kinds: [(&'static dyn VerificationAlgorithm, &'static str); 5] = [
        (&signature::RSA_PKCS1_2048_8192_SHA256, "RSA"),
        (&signature::ECDSA_P256_SHA256_ASN1, "EC"),
        (&signature::ECDSA_P384_SHA384_ASN1, "EC"),
        (&signature::ECDSA_P521_SHA512_ASN1, "EC"),
        (&signature::ED25519, "OKP"),
    ];
    for (alg, key_type) in kinds {
        if let Ok(key) = ParsedPublicKey::new(alg, &der) {
            let spki: PublicKeyX509Der<'static> = key.as_der().map_err(|_| KeyError::NotAKey)?;
            return Ok(PublicKey {
                key_type,
                spki_base64: STANDARD.encode(spki.as_ref()),
            });
        }
    }
    Err(KeyError::NotAKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    fn pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn public_keys_in_every_form_and_no_private_key() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                .unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let spki = spki.as_ref();
        let canonical = STANDARD.encode(spki);
        let public_pem = pem("PUBLIC KEY", spki);
        for form in [
            canonical.clone(),
            URL_SAFE_NO_PAD.encode(spki),
            public_pem.clone(),
            STANDARD.encode(&public_pem),
        ] {
            let key = parse(&form).unwrap_or_else(|e| panic!("{e:?}: {form}"));
            assert_eq!(
                key,
                PublicKey {
                    key_type: "EC",
                    spki_base64: canonical.clone()
                }
            );
        }
        // Private keys, however wrapped, are refused as such.
        for private in [
            STANDARD.encode(pkcs8.as_ref()),
            pem("PRIVATE KEY", pkcs8.as_ref()),
            STANDARD.encode(pem("PRIVATE KEY", pkcs8.as_ref())),
            pem("EC PRIVATE KEY", b"junk"),
        ] {
            assert_eq!(parse(&private), Err(KeyError::Private), "{private}");
        }
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        assert_eq!(parse(&STANDARD.encode(ed.as_ref())), Err(KeyError::Private));
        let ed_pair = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
        let ed_spki = AsDer::<PublicKeyX509Der<'_>>::as_der(ed_pair.public_key()).unwrap();
        assert_eq!(
            parse(&STANDARD.encode(ed_spki.as_ref())).unwrap().key_type,
            "OKP"
        );
        // Raw key bytes and junk are not keys.
        assert_eq!(
            parse(&STANDARD.encode(ed_pair.public_key().as_ref())),
            Err(KeyError::NotAKey)
        );
        for junk in [
            "",
            "x",
            "!!!",
            "AAAA",
            &"A".repeat(MAX_VALUE_LEN + 1),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ] {
            assert_eq!(parse(junk), Err(KeyError::NotAKey), "{junk}");
        }
    }
}
