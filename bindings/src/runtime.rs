//! The tokio runtime the bindings own.
//!
//! Foreign callers (a Kotlin coroutine, a Swift task, Python's asyncio) poll
//! uniffi futures from threads that have no tokio runtime, and the SDK must
//! never `tokio::spawn` from such a thread. So every call is moved onto this
//! crate's own multi-threaded runtime and the caller only awaits a join
//! handle, which any executor can poll. Synchronous SQLite and crypto work
//! goes to the runtime's blocking pool, never the caller's thread (on
//! Android's main thread that would be an ANR): the SDK's facade
//! (`Buddies`, `Feeds`, `Notices`) puts it there itself, so every binding
//! call is one [`run`].
//!
//! A panic inside a task is caught by tokio and surfaces as
//! [`PigeonholeError::Internal`] (and an error log), never as an unwind
//! across the boundary. Cancelling the foreign call (a cancelled coroutine
//! or Swift task) aborts the Rust task.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::{JoinError, JoinHandle};
use tracing::error;

use crate::error::PigeonholeError;

/// Worker threads of the runtime: a phone app needs few.
const WORKER_THREADS: usize = 2;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime, built on first use.
pub fn handle() -> Result<Handle, PigeonholeError> {
    let runtime = RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("pigeonhole")
            .enable_all()
            .build()
            .map_err(|error| error.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(reason) => Err(PigeonholeError::Internal {
            reason: format!("cannot start the runtime: {reason}"),
        }),
    }
}

/// Aborts the task when the awaiting side goes away (a cancelled call).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `future` on the runtime and waits for it from any executor.
pub async fn run<T, F>(future: F) -> Result<T, PigeonholeError>
where
    F: Future<Output = Result<T, PigeonholeError>> + Send + 'static,
    T: Send + 'static,
{
    let mut task = AbortOnDrop(handle()?.spawn(future));
    joined((&mut task.0).await)
}

fn joined<T>(result: Result<Result<T, PigeonholeError>, JoinError>) -> Result<T, PigeonholeError> {
    match result {
        Ok(result) => result,
        Err(join) if join.is_panic() => {
            let reason = panic_message(join.into_panic());
            error!(%reason, "a pigeonhole task panicked");
            Err(PigeonholeError::Internal { reason })
        }
        Err(_) => Err(PigeonholeError::Stopped),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "a task panicked".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_task_is_an_internal_error() {
        let result: Result<(), _> =
            futures_lite_block_on(run(async { panic!("boom in the task") }));
        match result {
            Err(PigeonholeError::Internal { reason }) => assert!(reason.contains("boom")),
            other => panic!("expected Internal, got {other:?}"),
        }
    }

    #[test]
    fn calls_work_from_a_thread_without_a_runtime() {
        assert!(Handle::try_current().is_err());
        let value = futures_lite_block_on(run(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            Ok(7)
        }));
        assert_eq!(value.expect("ran"), 7);
    }

    /// Polls a future on this plain thread, as a foreign executor would.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }
}
