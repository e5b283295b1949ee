//! The master key seals signing keys at rest (ChaCha20-Poly1305 through
//! ring, which the TLS stack already brings). It comes from
//! `PORTCULLIS_MASTER_KEY`, or from `{dataDir}/master.key`, which the first
//! start generates with mode 0600.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::domain::Secret;

pub struct MasterKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("PORTCULLIS_MASTER_KEY (or master.key) must be 32 bytes in base64")]
    Malformed,
    #[error("cannot read or create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the system random generator failed")]
    Random,
}

/// A sealed value could not be opened: wrong master key or tampered data.
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt a sealed value (wrong master key or corrupt data)")]
pub struct OpenError;

const FILE_NAME: &str = "master.key";

impl MasterKey {
    /// The configured key, else the one in the data dir, else a new one
    /// written there. Returns whether it was generated now.
    pub fn load_or_create(
        configured: Option<&Secret<String>>,
        data_dir: &Path,
    ) -> Result<(Self, bool), MasterKeyError> {
        if let Some(encoded) = configured {
            return Ok((Self::from_base64(encoded.expose())?, false));
        }
        let path = data_dir.join(FILE_NAME);
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(encoded) => Ok((Self::from_base64(&encoded)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| MasterKeyError::Random)?;
                let encoded = STANDARD.encode(bytes);
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let mut file = owner_only_file(&path).map_err(io)?;
                file.write_all(encoded.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok((Self::from_bytes(&bytes)?, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| MasterKeyError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != 32 {
            return Err(MasterKeyError::Malformed);
        }
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the key id) so a
    /// sealed value cannot be moved to another row. Output: base64 of
    /// nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| MasterKeyError::Random)?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| MasterKeyError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| OpenError)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(unix)]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("portcullis-mk-{}", uuid::Uuid::now_v7()))
    }

    #[test]
    fn seal_open_round_trip_bound_to_context() {
        let dir = temp_dir();
        let (key, created) = MasterKey::load_or_create(None, &dir).unwrap();
        assert!(created);
        let sealed = key.seal("kid-1", b"private").unwrap();
        assert_eq!(key.open("kid-1", &sealed).unwrap(), b"private");
        assert!(key.open("kid-2", &sealed).is_err());

        // The second load reads the same key back.
        let (again, created) = MasterKey::load_or_create(None, &dir).unwrap();
        assert!(!created);
        assert_eq!(again.open("kid-1", &sealed).unwrap(), b"private");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rejects_a_short_key() {
        let short = Secret::new(STANDARD.encode([1u8; 16]));
        assert!(MasterKey::load_or_create(Some(&short), &temp_dir()).is_err());
    }
}
