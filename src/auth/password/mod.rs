//! Passwords: the policy for new ones, hashing with argon2id, verifying
//! argon2 and imported bcrypt hashes, all on a bounded pool of threads.
//!
//! OWASP password storage cheat sheet: argon2id with m = 19 MiB, t = 2,
//! p = 1 is the minimum; rampart uses those parameters. bcrypt hashes (as a
//! passlib/FastAPI app stores them) verify, and are replaced by argon2id at
//! the next successful login.
//!
//! Hashing is slow on purpose, so it never runs on the async workers: jobs
//! go to a rayon pool with one thread per core, and at most
//! `QUEUE_PER_THREAD` jobs per thread may wait. A full queue answers "busy"
//! at once (the caller returns 503 with `Retry-After`) instead of queueing
//! without bound, so a login flood cannot stall other routes. A new
//! password's policy check runs there too, in the job that hashes it:
//! zxcvbn's estimate is too slow for an async worker as well.

//!
//! [`policy`] says which new passwords are accepted, [`hashes`] how they
//! are stored and checked; this module runs both on the pool.

mod hashes;
mod policy;

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use hashes::{Verified, hash_now, is_supported_hash, verify_now};
pub use policy::{
    MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PRODUCT_NAME, PasswordContext, PasswordRejection, check_policy,
};

/// Jobs that may wait per pool thread before the pool reports busy.
const QUEUE_PER_THREAD: usize = 16;

/// A new password's policy check or its hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum NewPasswordError {
    #[error(transparent)]
    Rejected(#[from] PasswordRejection),
    #[error(transparent)]
    Hash(#[from] HashError),
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashing jobs are waiting; try again shortly.
    #[error("the password hashing queue is full")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The hashing service: a bounded pool of threads.
#[derive(Clone)]
pub struct PasswordHasher {
    pool: Arc<rayon::ThreadPool>,
    queue: Arc<Semaphore>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("threads", &self.pool.current_num_threads())
            .finish()
    }
}

impl PasswordHasher {
    /// A pool with one thread per core.
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_limits(threads, QUEUE_PER_THREAD)
    }

    /// A pool of `threads` threads on which at most `queue_per_thread`
    /// jobs per thread may be in progress or waiting.
    pub fn with_limits(threads: usize, queue_per_thread: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("password-hash-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .expect("the hashing pool starts");
        Self {
            pool: Arc::new(pool),
            queue: Arc::new(Semaphore::new(threads * queue_per_thread)),
        }
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit: OwnedSemaphorePermit = self
            .queue
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let result = job();
            // Free the place before answering, so a caller that saw this
            // job finish finds the place free.
            drop(permit);
            let _ = done.send(result);
        });
        result
            .await
            .map_err(|_| HashError::Failed("the hashing job was lost".into()))
    }

    /// Checks a new password against the policy ([`check_policy`]) and
    /// hashes it with argon2id, as one job on the pool: the estimate is
    /// too slow for an async worker, and taking one place in the queue for
    /// both keeps a flood of password changes bounded like a login flood.
    pub async fn hash_new(
        &self,
        password: SecretString,
        username: String,
        issuer: String,
    ) -> Result<String, NewPasswordError> {
        self.run(move || {
            let context = PasswordContext {
                username: &username,
                issuer: &issuer,
            };
            check_policy(password.expose_secret(), context)?;
            hash_now(password.expose_secret()).map_err(|e| HashError::Failed(e).into())
        })
        .await?
    }

    /// Checks `password` against `stored`. With `stored = None` (no such
    /// user) it spends the same time against a dummy hash and answers
    /// `No`, so timing does not tell whether a user exists.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, HashError> {
        self.run(move || verify_now(password.expose_secret(), stored.as_deref()))
            .await
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the calling thread at the lowest scheduling priority, so that when
/// cores are scarce, hashing yields to the async workers serving requests:
/// a login flood slows logins, not every other route.
fn lower_priority() {
    // SAFETY: setpriority on the calling thread (Linux: `who` 0 is the
    // calling thread for PRIO_PROCESS) touches no memory.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if result != 0 {
        tracing::debug!("could not lower the priority of a password hashing thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once_instead_of_waiting() {
        let hasher = PasswordHasher::with_limits(1, 1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy_job = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run(move || hold.recv().is_ok()).await })
        };
        // Wait until the job holds the one place.
        while hasher.queue.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = hasher.verify(SecretString::from("Zq8#mT2!vL9p"), None).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        release.send(()).unwrap();
        assert!(busy_job.await.unwrap().unwrap());
        // With the place free again, work is accepted.
        assert_eq!(
            hasher
                .verify(SecretString::from("Zq8#mT2!vL9p"), None)
                .await
                .unwrap(),
            Verified::No
        );
    }
}
