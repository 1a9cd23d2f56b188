//! Where the facade's work runs: never on the caller's thread, never on an
//! async worker.
//!
//! Why: the core's layers do SQLite (with busy waits of up to 5 s) and
//! crypto (sealing, opening, verifying every fetched record) inline. Called
//! from an app's UI thread that is an ANR; run inline on a tokio worker it
//! stalls every other task of the runtime, the peer included. Every facade
//! call therefore goes through one of the two helpers here: [`blocking`]
//! for a synchronous call, [`offload`] for an async one (the whole call is
//! driven on a blocking-pool thread, so its database and crypto steps run
//! there and its network waits park only that thread).
//!
//! A facade future dropped before it completes does not cancel the work:
//! the call finishes on its blocking thread (a request being sent is still
//! sent and recorded), only its result is lost.

use std::future::Future;

/// Runs `work` (SQLite, crypto) on tokio's blocking pool, so that neither
/// a caller's thread nor an async worker waits on it. A panic in `work`
/// is raised again here, as if it had run inline.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("blocking task cancelled: {error}"),
    }
}

/// Runs the async call made by `make` to completion on a blocking-pool
/// thread (driven with the current runtime's handle, so its timers and
/// the peer's channels work as usual) and returns its output.
pub(crate) async fn offload<F, Fut, T>(make: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    blocking(move || handle.block_on(make())).await
}
