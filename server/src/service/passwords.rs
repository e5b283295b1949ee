//! argon2id hashing on a few dedicated threads, never on the async runtime.
//!
//! Why dedicated threads rather than `spawn_blocking`: argon2 needs its
//! memory cost (19 MiB by default) per running hash, and the allocator
//! keeps a thread's freed memory for reuse. A fixed, small set of threads
//! bounds both the CPU given to hashing and the memory it can ever hold;
//! the blocking pool could grow to hundreds of threads under a login flood.

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{mpsc, oneshot};

use crate::config::Argon2Config;
use crate::domain::{Password, Secret};
use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    /// Hash of a random password, verified against when the account does
    /// not exist, so an unknown email costs the same as a wrong password.
    dummy_hash: Arc<str>,
}

/// How many hashes may wait for a thread before callers wait to enqueue.
const QUEUE_PER_THREAD: usize = 64;

impl PasswordHasher {
    pub fn start(config: Argon2Config, threads: usize) -> Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash: Arc<str> = argon2
            .hash_password(uuid::Uuid::now_v7().as_bytes())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))?
            .to_string()
            .into();

        let (jobs, receiver) = mpsc::channel::<Job>(threads * QUEUE_PER_THREAD);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            let argon2 = argon2.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    loop {
                        // Hold the lock only while taking a job, not while hashing.
                        let job = match receiver.lock() {
                            Ok(mut rx) => rx.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(&argon2),
                            None => break,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start hashing thread: {e}")))?;
        }
        Ok(Self { jobs, dummy_hash })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |argon2| {
            // The caller may have gone (client disconnected); nothing to do then.
            let _ = done.send(work(argon2));
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::Internal("hashing threads stopped".into()))?;
        result
            .await
            .map_err(|_| Error::Internal("hashing thread dropped a job".into()))
    }

    /// A new PHC string for `password` (argon2 makes the salt).
    pub async fn hash(&self, password: &Password) -> Result<Secret<String>> {
        let password = password.clone();
        let hashed = self
            .run(move |argon2| {
                argon2
                    .hash_password(password.expose().as_bytes())
                    .map(|h| h.to_string())
            })
            .await?;
        hashed
            .map(Secret::new)
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// account, or one without a password) the same work is done against
    /// the dummy hash and the answer is `false`.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool> {
        let known = stored.is_some();
        let hash: Arc<str> = stored.map_or_else(|| Arc::clone(&self.dummy_hash), Arc::from);
        let password = password.clone();
        let matches = self
            .run(move |argon2| {
                PasswordHash::new(&hash).is_ok_and(|parsed| {
                    argon2
                        .verify_password(password.expose().as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Config {
        Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::start(cheap(), 2).unwrap();
        let password = Password::parse_attempt("correct horse".into()).unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.expose().starts_with("$argon2id$"));
        assert!(hasher.verify(&password, Some(hash.expose())).await.unwrap());
        let wrong = Password::parse_attempt("wrong horse".into()).unwrap();
        assert!(!hasher.verify(&wrong, Some(hash.expose())).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_account_never_matches() {
        let hasher = PasswordHasher::start(cheap(), 1).unwrap();
        let password = Password::parse_attempt("anything".into()).unwrap();
        assert!(!hasher.verify(&password, None).await.unwrap());
    }
}
