//! argon2id hashing on a few dedicated threads, never on the async runtime.
//!
//! Why dedicated threads rather than `spawn_blocking`: argon2 needs its
//! memory cost (19 MiB by default) per running hash, and the allocator
//! keeps a thread's freed memory for reuse. A fixed, small set of threads
//! bounds both the CPU given to hashing and the memory it can ever hold;
//! the blocking pool could grow to hundreds of threads under a login flood.
//!
//! Each thread also keeps its argon2 memory for life and hashes into it,
//! rather than letting the crate allocate it per hash: glibc serves a freed
//! block of this size from a new arena after a few hashes instead of
//! reusing it, and RSS grew by one hash's memory per login up to ~330 MB
//! (measured with `cargo xtask bench`). With the memory owned by the
//! thread, hashing holds `threads × memory cost` at most, from the first
//! hash on, and idle RSS before the first login is untouched.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

use crate::config::Argon2Config;
use crate::domain::{Password, Secret};
use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    /// Hash of a random password, verified against when the account does
    /// not exist, so an unknown email costs the same as a wrong password.
    dummy_hash: Arc<str>,
}

/// How many hashes may wait for a thread. Small on purpose: a queued
/// login waits about this many hash times (~30 ms each) for its turn.
const QUEUE_PER_THREAD: usize = 8;

/// How long a caller may wait for room in the queue. Past it the server
/// is taking more logins than it can hash: the caller gets 503
/// `unavailable` with `Retry-After` at once, instead of piling up behind
/// everyone else until every request times out.
const ADMISSION_WAIT: Duration = Duration::from_millis(500);

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
            let mut worker = Worker {
                argon2: argon2.clone(),
                memory: Vec::new(),
            };
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    yield_to_requests();
                    loop {
                        // Hold the lock only while taking a job, not while hashing.
                        let job = match receiver.lock() {
                            Ok(mut rx) => rx.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(&mut worker),
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
        work: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |worker| {
            // The caller may have gone (client disconnected); nothing to do then.
            let _ = done.send(work(worker));
        });
        match tokio::time::timeout(ADMISSION_WAIT, self.jobs.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Error::Internal("hashing threads stopped".into())),
            Err(_) => return Err(Error::Unavailable("password hashing is saturated".into())),
        }
        result
            .await
            .map_err(|_| Error::Internal("hashing thread dropped a job".into()))
    }

    /// A new PHC string for `password` (argon2 makes the salt).
    pub async fn hash(&self, password: &Password) -> Result<Secret<String>> {
        let password = password.clone();
        let hashed = self
            .run(move |worker| worker.hash(password.expose().as_bytes()))
            .await?;
        hashed.map(Secret::new).map_err(Error::Internal)
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// account, or one without a password) the same work is done against
    /// the dummy hash and the answer is `false`.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool> {
        let known = stored.is_some();
        let hash: Arc<str> = stored.map_or_else(|| Arc::clone(&self.dummy_hash), Arc::from);
        let password = password.clone();
        let matches = self
            .run(move |worker| worker.verify(password.expose().as_bytes(), &hash))
            .await?;
        Ok(known && matches)
    }
}

/// How much lighter than the runtime's threads a hashing thread weighs
/// with the scheduler (Linux nice value; 10 is about a tenth).
#[cfg(target_os = "linux")]
const HASHING_NICENESS: i32 = 10;

/// Lowers this (hashing) thread's priority. In a login flood every core is
/// busy hashing, and a request as light as `/health` waited for the
/// scheduler to take a core from a hash (p99 9 ms in `cargo xtask bench`).
/// Niced, hashing gives way the moment a runtime thread wakes, yet still
/// gets every cycle nobody else wants, so logins per second do not drop.
/// Linux applies `setpriority` to one thread; elsewhere this does nothing.
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS)
    {
        tracing::warn!(error = %e, "cannot lower the hashing thread's priority");
    }
}

/// A hashing thread's argon2 and the memory it hashes in (see the module
/// documentation for why the memory is kept).
struct Worker {
    argon2: Argon2<'static>,
    memory: Vec<Block>,
}

impl Worker {
    /// The first `count` blocks of the thread's memory, grown on first use
    /// (or once for a stored hash with a larger memory cost than configured).
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.memory.len() < count {
            self.memory.resize(count, Block::default());
        }
        &mut self.memory[..count]
    }

    /// A PHC string for `password` with a fresh salt and the configured
    /// parameters: what `PasswordHasher::hash_password` makes.
    fn hash(&mut self, password: &[u8]) -> std::result::Result<String, String> {
        let salt =
            argon2::password_hash::try_generate_salt().map_err(|e| format!("random salt: {e}"))?;
        let params = self.argon2.params().clone();
        let mut out = vec![0; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
        let argon2 = self.argon2.clone();
        argon2
            .hash_password_into_with_memory(
                password,
                &salt,
                &mut out,
                self.blocks(params.block_count()),
            )
            .map_err(|e| format!("argon2: {e}"))?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| format!("argon2: {e}"))?,
            salt: Some(Salt::new(&salt).map_err(|e| format!("argon2: {e}"))?),
            hash: Some(Output::new(&out).map_err(|e| format!("argon2: {e}"))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `stored`, with the
    /// algorithm, version and parameters it records; the comparison is
    /// constant-time (`Output`'s equality).
    fn verify(&mut self, password: &[u8], stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(version), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm.as_str()),
            parsed
                .version
                .map_or(Ok(Version::default()), Version::try_from),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0; expected.len()];
        argon2
            .hash_password_into_with_memory(
                password,
                salt.as_ref(),
                &mut out,
                self.blocks(params.block_count()),
            )
            .is_ok()
            && Output::new(&out).is_ok_and(|computed| computed == *expected)
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
    async fn hashes_verify_with_the_crate_and_the_crate_s_with_ours() {
        use argon2::password_hash::PasswordVerifier as _;
        let hasher = PasswordHasher::start(cheap(), 1).unwrap();
        let password = Password::parse_attempt("correct horse".into()).unwrap();
        let ours = hasher.hash(&password).await.unwrap();
        let parsed = PasswordHash::new(ours.expose()).unwrap();
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .unwrap();
        // A hash with other parameters than the configured ones (an older
        // setting) still verifies: they are read from the PHC string.
        let params = Params::new(128, 2, 1, None).unwrap();
        let theirs: PasswordHash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse")
            .unwrap();
        let theirs = theirs.to_string();
        assert!(hasher.verify(&password, Some(&theirs)).await.unwrap());
        let wrong = Password::parse_attempt("wrong horse".into()).unwrap();
        assert!(!hasher.verify(&wrong, Some(&theirs)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_account_never_matches() {
        let hasher = PasswordHasher::start(cheap(), 1).unwrap();
        let password = Password::parse_attempt("anything".into()).unwrap();
        assert!(!hasher.verify(&password, None).await.unwrap());
    }
}
