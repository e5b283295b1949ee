//! Per-tenant signing keys: generation, sealing the private half under the
//! master key, and the in-memory key ring a tenant signs and verifies with.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RsaKeyPair};
use rsa::pkcs1::EncodeRsaPrivateKey;

use super::master_key::MasterKey;
use crate::domain::{SigningAlgorithm, TenantId};
use crate::error::{Error, Result};
use crate::store::keys::StoredKey;

/// PKCS#8 v1 header of an Ed25519 private key; the 32-byte seed follows.
/// jsonwebtoken's `from_ed_der` takes exactly this 48-byte form.
/// RSA modulus size: 2048 bits, the minimum NIST still allows past 2030 is
/// 3072, but 2048 is what RS256 verifiers expect and what the issue asks.
const RSA_BITS: usize = 2048;

const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub signer: Signer,
}

/// How a key signs. RSA goes through ring rather than jsonwebtoken's
/// backend, whose RSA private-key operations are not constant-time.
pub enum Signer {
    Jwt(EncodingKey),
    Rsa(Box<RsaKeyPair>),
}

pub struct VerifyingKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

/// What a tenant signs with (its newest key) and verifies with (every key
/// not yet retired).
pub struct KeyRing {
    pub signing: SigningKey,
    pub verifying: Vec<VerifyingKey>,
}

impl KeyRing {
    /// Builds the ring from the tenant's stored keys (newest first),
    /// opening only the signing key's private half.
    pub fn load(master: &MasterKey, stored: &[StoredKey], now: DateTime<Utc>) -> Result<Self> {
        let current = stored
            .iter()
            .find(|k| k.retire_at.is_none())
            .ok_or_else(|| Error::Internal("tenant has no signing key".into()))?;
        let der = master
            .open(&current.kid, &current.sealed_private_key)
            .map_err(|e| Error::Internal(format!("signing key {}: {e}", current.kid)))?;
        let algorithm = parse_algorithm(&current.algorithm)?;
        let signing = SigningKey {
            kid: current.kid.clone(),
            algorithm,
            signer: signer(algorithm, &der)?,
        };
        let verifying = stored
            .iter()
            .filter(|k| k.retire_at.is_none_or(|at| at > now))
            .map(|k| {
                let jwk: Jwk = serde_json::from_str(&k.public_jwk)
                    .map_err(|e| Error::Internal(format!("public key {}: {e}", k.kid)))?;
                let decoding = DecodingKey::from_jwk(&jwk)
                    .map_err(|e| Error::Internal(format!("public key {}: {e}", k.kid)))?;
                Ok(VerifyingKey {
                    kid: k.kid.clone(),
                    algorithm: parse_algorithm(&k.algorithm)?,
                    decoding,
                    jwk,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { signing, verifying })
    }

    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|k| k.kid == kid)
    }
}

/// A new key of `algorithm` for the tenant, private half sealed, ready to
/// store. The kid is the key's RFC 7638 thumbprint: stable and unique.
/// RSA generation is slow (~0.1-1 s): call this off the async runtime.
pub fn generate(
    master: &MasterKey,
    tenant: TenantId,
    algorithm: SigningAlgorithm,
    now: DateTime<Utc>,
) -> Result<StoredKey> {
    let rng = SystemRandom::new();
    let (der, encoding, jwt_algorithm) = match algorithm {
        SigningAlgorithm::EdDSA => {
            let mut seed = [0u8; 32];
            rng.fill(&mut seed)
                .map_err(|_| Error::Internal("system random generator failed".into()))?;
            let mut der = ED25519_PKCS8_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            let encoding = EncodingKey::from_ed_der(&der);
            (der, encoding, Algorithm::EdDSA)
        }
        SigningAlgorithm::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| Error::Internal("P-256 key generation failed".into()))?;
            let der = pkcs8.as_ref().to_vec();
            let encoding = EncodingKey::from_ec_der(&der);
            (der, encoding, Algorithm::ES256)
        }
        SigningAlgorithm::RS256 => {
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
                .map_err(|e| Error::Internal(format!("RSA key generation: {e}")))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| Error::Internal(format!("RSA key encoding: {e}")))?
                .as_bytes()
                .to_vec();
            let encoding = EncodingKey::from_rsa_der(&der);
            (der, encoding, Algorithm::RS256)
        }
    };
    let mut jwk = Jwk::from_encoding_key(&encoding, jwt_algorithm)
        .map_err(|e| Error::Internal(format!("public key: {e}")))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| Error::Internal(format!("thumbprint: {e}")))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk =
        serde_json::to_string(&jwk).map_err(|e| Error::Internal(format!("public key: {e}")))?;
    let sealed_private_key = master
        .seal(&kid, &der)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(StoredKey {
        tenant_id: tenant,
        kid,
        algorithm: algorithm.as_str().into(),
        public_jwk,
        sealed_private_key,
        created_at: now,
        retire_at: None,
    })
}

fn parse_algorithm(name: &str) -> Result<Algorithm> {
    name.parse()
        .map_err(|_| Error::Internal(format!("unknown signing algorithm {name:?}")))
}

fn signer(algorithm: Algorithm, der: &[u8]) -> Result<Signer> {
    match algorithm {
        Algorithm::EdDSA => Ok(Signer::Jwt(EncodingKey::from_ed_der(der))),
        Algorithm::ES256 => Ok(Signer::Jwt(EncodingKey::from_ec_der(der))),
        Algorithm::RS256 => RsaKeyPair::from_der(der)
            .map(|key| Signer::Rsa(Box::new(key)))
            .map_err(|e| Error::Internal(format!("RSA key: {e}"))),
        other => Err(Error::Internal(format!(
            "unsupported signing algorithm {other:?}"
        ))),
    }
}
