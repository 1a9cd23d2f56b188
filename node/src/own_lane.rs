//! The user's own store calls, off the swarm task: one dedicated thread.
//!
//! Why: the swarm task is an async task on the app's runtime. Every store
//! call of the user's own publishes and reads (the local copy, the outbox
//! row, the local listing page, the expiry sweep, the outbox scan) is a
//! SQLite transaction with an fsync, and it may first wait for the store
//! lock while an inbound worker finishes its transaction. Done inline, each
//! such wait stalls the swarm task — every connection's events, every
//! other peer's routing — and blocks a worker thread of the app's runtime
//! (issue 12: no SQLite on async threads). Under a flood the waits add up
//! to seconds (issue 11: the app's calls p99 under 1 s).
//!
//! So the swarm task hands each such call to this lane as a closure and
//! goes on routing. The lane runs the closures one at a time, in the order
//! they were handed over (a local put is always done before a later local
//! read of the same user sees the store), taking the store lock with the
//! swarm task's priority over the inbound workers
//! ([`SharedStore::lock`]). What must happen on the swarm task afterwards
//! (send the requests, finish an operation) comes back as a
//! [`Continuation`] through [`OwnLane::next`], which the runner's
//! `select!` loop polls like any other event. Replies that need nothing
//! more of the swarm (a held record, store statistics, "published") are
//! sent from the lane itself.
//!
//! When the node stops, the lane finishes every call already handed over
//! before its thread ends (a local copy or outbox row of a publish that
//! was under way is still written); only the continuations are dropped.

use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::warn;

use crate::record_store::SqliteRecordStore;
use crate::runner::Runner;
use crate::shared_store::SharedStore;

/// What the swarm task does once a lane call is done.
pub(crate) type Continuation = Box<dyn FnOnce(&mut Runner) + Send>;

/// One call handed to the lane.
type Call = Box<dyn FnOnce(&SharedStore) -> Option<Continuation> + Send>;

/// The lane: its thread, and the continuations it hands back.
pub(crate) struct OwnLane {
    calls: Option<Sender<Call>>,
    done: UnboundedReceiver<Continuation>,
    thread: Option<JoinHandle<()>>,
    /// Runs calls inline when the thread could not be started.
    inline: Option<(SharedStore, UnboundedSender<Continuation>)>,
}

impl OwnLane {
    /// Starts the lane's thread on `store`.
    pub(crate) fn start(store: SharedStore) -> Self {
        let (calls, receiver) = channel::<Call>();
        let (done_tx, done) = unbounded_channel();
        let results = done_tx.clone();
        let lane_store = store.clone();
        let thread = std::thread::Builder::new()
            .name("pigeonhole-own-lane".into())
            .spawn(move || {
                while let Ok(call) = receiver.recv() {
                    if let Some(continuation) = call(&lane_store) {
                        // The runner may be gone (stopping): the call was
                        // done; only what was to follow is dropped.
                        let _ = results.send(continuation);
                    }
                }
            })
            .inspect_err(|error| warn!(%error, "no own-lane thread: store calls run inline"))
            .ok();
        let inline = thread.is_none().then_some((store, done_tx));
        Self {
            calls: Some(calls),
            done,
            thread,
            inline,
        }
    }

    /// Hands `call` to the lane.
    fn submit(&self, call: Call) {
        if let Some((store, results)) = &self.inline {
            if let Some(continuation) = call(store) {
                let _ = results.send(continuation);
            }
            return;
        }
        if let Some(calls) = &self.calls
            && calls.send(call).is_err()
        {
            warn!("own lane gone; a store call was dropped");
        }
    }

    /// Runs `work` on the store, on the lane, then `then` with its result
    /// on the swarm task.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut SqliteRecordStore) -> T + Send + 'static,
        then: impl FnOnce(&mut Runner, T) + Send + 'static,
    ) {
        self.submit(Box::new(move |store: &SharedStore| {
            let value = work(&mut store.lock());
            Some(Box::new(move |runner: &mut Runner| then(runner, value)) as Continuation)
        }));
    }

    /// Runs `work` on the lane with nothing to follow on the swarm task (it
    /// sends its own reply, if any). `work` gets the shared handle, so that
    /// it can do lock-free work (a signature check) before taking the lock.
    pub(crate) fn spawn(&self, work: impl FnOnce(&SharedStore) + Send + 'static) {
        self.submit(Box::new(move |store: &SharedStore| {
            work(store);
            None
        }));
    }

    /// Runs `work` on the lane (lock-free work first, the lock taken by
    /// `work` itself when it needs it), then what it returns, if anything,
    /// on the swarm task.
    pub(crate) fn run_then(
        &self,
        work: impl FnOnce(&SharedStore) -> Option<Continuation> + Send + 'static,
    ) {
        self.submit(Box::new(work));
    }

    /// The next continuation (cancel-safe: for the runner's `select!`).
    pub(crate) async fn next(&mut self) -> Option<Continuation> {
        self.done.recv().await
    }
}

impl Drop for OwnLane {
    /// Lets the thread finish every call handed over, then waits for it, so
    /// that the store is closed when the swarm task has ended.
    fn drop(&mut self) {
        self.calls = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
