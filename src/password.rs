//! Argon2id hashing and verification under a concurrency bound (CONTRACT §6.4).
//!
//! Every password hash or check in the server goes through one
//! [`PasswordHashing`]: at most `concurrency` run at once (on blocking
//! threads), at most `max_waiting` more wait for a place, each for at most
//! `queue_timeout`; anything beyond is refused at once with [`Busy`], which
//! each surface answers with 429 and `Retry-After`.
//!
//! Memory: an Argon2id computation with the default parameters needs 19 MiB.
//! Letting the `argon2` crate allocate it on every call left that memory with
//! glibc's per-thread arenas after the call (a burst of 128 sign-ins kept
//! 2.6 GB resident). Here each running computation borrows a buffer from a
//! pool that never holds more than `concurrency` buffers, so the memory used
//! for hashing is at most `concurrency × 19 MiB`, allocated once and reused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use rand::TryRngCore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many hashes may run and wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashConfig {
    /// Computations running at once (≥ 1).
    pub concurrency: usize,
    /// Requests waiting for a place beyond those; more are refused at once.
    pub max_waiting: usize,
    /// How long a request waits for a place before it is refused.
    pub queue_timeout: Duration,
}

impl Default for PasswordHashConfig {
    /// One computation per available core; sixteen times as many may wait,
    /// for two seconds. A waiting request holds no hashing memory, so the
    /// queue is sized by what the places can serve within the wait (one hash
    /// takes some 50 to 130 ms here: 15 to 40 per place in two seconds).
    fn default() -> Self {
        let concurrency = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1);
        Self {
            concurrency,
            max_waiting: concurrency.saturating_mul(16),
            queue_timeout: Duration::from_millis(2000),
        }
    }
}

/// No place to hash a password now: answer 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct Busy;

impl Busy {
    /// Seconds a client is told to wait (`Retry-After`).
    pub const RETRY_AFTER_SECONDS: u64 = 1;
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The one gate every Argon2id computation of a process goes through.
#[derive(Debug)]
pub struct PasswordHashing {
    config: PasswordHashConfig,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Requests refused with [`Busy`] (the metrics register this handle).
    pub refused: prometheus_client::metrics::counter::Counter,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// A place to run one computation; dropping it frees the place.
#[derive(Debug)]
pub struct HashPermit {
    _permit: OwnedSemaphorePermit,
}

/// Decrements the waiting count however the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHashing {
    pub fn new(config: PasswordHashConfig) -> Self {
        let config = PasswordHashConfig {
            concurrency: config.concurrency.max(1),
            ..config
        };
        Self {
            config,
            permits: Arc::new(Semaphore::new(config.concurrency)),
            waiting: AtomicUsize::new(0),
            refused: Default::default(),
            buffers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn config(&self) -> PasswordHashConfig {
        self.config
    }

    /// Requests waiting for a place right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Computations running right now.
    pub fn in_use(&self) -> usize {
        self.config
            .concurrency
            .saturating_sub(self.permits.available_permits())
    }

    /// Takes a place: at once if one is free, else after waiting (if fewer
    /// than `max_waiting` already wait) for at most `queue_timeout`.
    pub async fn permit(&self) -> Result<HashPermit, Busy> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(HashPermit { _permit: permit });
        }
        let max = self.config.max_waiting;
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                self.refused.inc();
                Busy
            })?;
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(
            self.config.queue_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(HashPermit { _permit: permit }),
            // Timed out (or the semaphore closed, which it never is).
            _ => {
                self.refused.inc();
                Err(Busy)
            }
        }
    }

    /// Hashes a new password (Argon2id, the crate's default parameters, a
    /// random 16-byte salt) into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let permit = self.permit().await?;
        let buffers = self.buffers.clone();
        let limit = self.config.concurrency;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_with_pool(&buffers, limit, &password)
        })
        .await
        .map_err(|e| HashError::Internal(e.into()))?
        .map_err(HashError::Internal)
    }

    /// Checks a password against a PHC string; `false` for a wrong password
    /// or an unreadable hash.
    pub async fn verify(&self, hash: String, password: String) -> Result<bool, Busy> {
        let permit = self.permit().await?;
        Ok(self.verify_with(permit, hash, password).await)
    }

    /// [`Self::verify`] in a place already taken (sign-in takes the place
    /// first, then reserves its brute-force attempt, then checks).
    pub async fn verify_with(&self, permit: HashPermit, hash: String, password: String) -> bool {
        let buffers = self.buffers.clone();
        let limit = self.config.concurrency;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_with_pool(&buffers, limit, &hash, &password)
        })
        .await
        .unwrap_or(false)
    }
}

/// Runs `f` with a buffer of at least `blocks` blocks from the pool (or a
/// new one), then puts it back unless the pool already holds `limit`.
fn with_buffer<T>(
    pool: &Mutex<Vec<Vec<Block>>>,
    limit: usize,
    blocks: usize,
    f: impl FnOnce(&mut [Block]) -> T,
) -> T {
    let taken = pool.lock().map(|mut p| p.pop()).unwrap_or(None);
    let mut buffer = match taken {
        Some(b) if b.len() >= blocks => b,
        _ => vec![Block::default(); blocks],
    };
    let result = f(&mut buffer);
    if let Ok(mut p) = pool.lock() {
        if p.len() < limit {
            p.push(buffer);
        }
    }
    result
}

fn hash_with_pool(
    pool: &Mutex<Vec<Vec<Block>>>,
    limit: usize,
    password: &str,
) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("operating system RNG failed: {e}"))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = with_buffer(pool, limit, params.block_count(), |blocks| {
        Output::init_with(output_len, |out| {
            argon2
                .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, out, blocks)
                .map_err(argon2::password_hash::Error::from)
        })
    })
    .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Stored hashes this server did not make may ask for more memory; a hash
/// asking for more than 256 MiB is not computed.
const MAX_VERIFY_BLOCKS: usize = 256 * 1024;

fn verify_with_pool(
    pool: &Mutex<Vec<Vec<Block>>>,
    limit: usize,
    hash: &str,
    password: &str,
) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.block_count() > MAX_VERIFY_BLOCKS {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = with_buffer(pool, limit, params.block_count(), |blocks| {
        Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, blocks)
                .map_err(argon2::password_hash::Error::from)
        })
    });
    // `Output`'s equality is constant-time.
    matches!(computed, Ok(computed) if computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(concurrency: usize, max_waiting: usize, timeout_ms: u64) -> PasswordHashing {
        PasswordHashing::new(PasswordHashConfig {
            concurrency,
            max_waiting,
            queue_timeout: Duration::from_millis(timeout_ms),
        })
    }

    #[tokio::test]
    async fn hashes_verify_with_the_crate_and_the_crate_s_hashes_verify_here() {
        let hashing = gate(2, 8, 2000);
        let ours = hashing.hash("correct horse".to_owned()).await.unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(crate::secrets::verify_password(&ours, "correct horse"));
        assert!(!crate::secrets::verify_password(&ours, "wrong horse"));
        let theirs = crate::secrets::hash_password("battery staple").unwrap();
        assert!(hashing
            .verify(theirs.clone(), "battery staple".to_owned())
            .await
            .unwrap());
        assert!(!hashing
            .verify(theirs, "battery stapler".to_owned())
            .await
            .unwrap());
        assert!(!hashing
            .verify("not a hash".to_owned(), "x".to_owned())
            .await
            .unwrap());
        assert!(!hashing
            .verify(
                crate::secrets::DUMMY_PASSWORD_HASH.to_owned(),
                "x".to_owned()
            )
            .await
            .unwrap());
        // The pool holds no more buffers than places.
        assert!(hashing.buffers.lock().unwrap().len() <= 2);
    }

    #[tokio::test]
    async fn a_full_gate_makes_requests_wait_then_refuses() {
        let hashing = Arc::new(gate(1, 1, 60_000));
        let held = hashing.permit().await.unwrap();
        // One may wait...
        let waiter = tokio::spawn({
            let hashing = hashing.clone();
            async move { hashing.permit().await.map(|_| ()) }
        });
        while hashing.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        // ...the next is refused at once.
        assert_eq!(hashing.permit().await.unwrap_err(), Busy);
        drop(held);
        waiter.await.unwrap().unwrap();
        assert_eq!(hashing.waiting(), 0);
        // A wait that outlasts the timeout is refused.
        let short = gate(1, 4, 20);
        let _held = short.permit().await.unwrap();
        assert_eq!(short.permit().await.unwrap_err(), Busy);
        assert_eq!(short.waiting(), 0);
    }
}
