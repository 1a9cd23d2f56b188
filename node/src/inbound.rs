//! The inbound worker pool: other peers' requests are judged and answered
//! off the swarm task, fairly, with back-pressure.
//!
//! Why: a put costs a signature check and a SQLite transaction (with an
//! fsync), a listing a SQLite read. Run inline on the swarm task — which
//! also carries the user's own publishes and reads — one flooding peer
//! stalls the whole node. Here the swarm task only *routes*:
//!
//! 1. the peer's budget ([`crate::budget`]) is charged; over it, the
//!    request is answered "busy" at once;
//! 2. the request joins its peer's queue (at most
//!    [`PeerLimits::queue_per_peer`] waiting, [`PeerLimits::queue_total`]
//!    for all peers); a full queue answers "busy" at once;
//! 3. queues are served round-robin by peer, so a flooder waits behind its
//!    own requests, not in front of everyone else's; peers in the Kademlia
//!    routing table (they identified as speaking our protocol and are what
//!    replicas and writers are made of) get [`KNOWN_TURNS`] turns for each
//!    turn of the others, so a crowd of fresh ids that never joined the DHT
//!    does not dilute the node's service to its real neighbours (and is
//!    still served, never starved);
//! 4. [`PeerLimits::workers`] dedicated threads run the jobs
//!    ([`crate::inbound_jobs`]) and hand each answer back to the swarm
//!    task, which sends it on the request's stream.
//!
//! The user's own calls (publish, list, sync) never enter this queue: they
//! are commands to the swarm task, whose few store calls take the store
//! lock between two worker jobs (see [`crate::shared_store`]). Requests
//! waiting here keep their libp2p stream open, and the streams per
//! connection are capped ([`PeerLimits::mailbox_streams`]), so a peer's
//! memory use is bounded before it even reaches the queue. A job whose
//! requester has gone (stream timed out) is skipped, not run.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use pigeonhole::clock::Clock;
use pigeonhole::record::Validator;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::{debug, warn};

use crate::budget::{Class, PeerBudgets};
use crate::inbound_jobs::{Answer, Job, JobContext};
use crate::load::LoadCounters;
use crate::mailbox_protocol::MailboxResponse;
use crate::peer_limits::PeerLimits;
use crate::reconcile_codec::ReconcileResponse;
use crate::shared_store::SharedStore;

/// Turns of routing-table peers per turn of other peers (when both wait).
pub const KNOWN_TURNS: u32 = 3;

/// Where a job's answer goes.
pub(crate) enum Reply {
    /// A mailbox-protocol stream.
    Mailbox(ResponseChannel<MailboxResponse>),
    /// A reconcile-protocol stream.
    Reconcile(ResponseChannel<ReconcileResponse>),
    /// Nobody waits (a Kademlia PUT_VALUE, records this node pulled).
    Nobody,
}

impl Reply {
    fn is_open(&self) -> bool {
        match self {
            Reply::Mailbox(channel) => channel.is_open(),
            Reply::Reconcile(channel) => channel.is_open(),
            Reply::Nobody => true,
        }
    }
}

/// One queued request.
pub(crate) struct Task {
    /// Who asked.
    pub peer: PeerId,
    /// What to do.
    pub job: Job,
    /// Where the answer goes.
    pub reply: Reply,
}

/// A job done by a worker, back on the swarm task.
pub(crate) struct Done {
    /// Who asked.
    pub peer: PeerId,
    /// Where the answer goes.
    pub reply: Reply,
    /// What the job found.
    pub answer: Answer,
}

/// Why a request was not queued (it is answered busy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The peer is over its budget.
    OverBudget,
    /// The peer's share of the queue, or the whole queue, is full.
    QueueFull,
}

/// The dispatcher (on the swarm task) and its worker threads.
pub(crate) struct InboundPool {
    limits: PeerLimits,
    budgets: PeerBudgets,
    queues: HashMap<PeerId, VecDeque<Task>>,
    /// Peers with queued work, round-robin: routing-table peers, others.
    order: [VecDeque<PeerId>; 2],
    /// Turns the known peers have had since the others' last one.
    known_turns: u32,
    queued: usize,
    in_flight: usize,
    jobs: Option<SyncSender<Task>>,
    results: UnboundedReceiver<Done>,
    workers: Vec<JoinHandle<()>>,
    /// Runs jobs inline when no worker thread could be started.
    inline: Option<(JobContext, UnboundedSender<Done>)>,
    counters: Arc<LoadCounters>,
}

impl InboundPool {
    /// Starts `limits.workers` threads working on `store`.
    pub(crate) fn start(
        limits: PeerLimits,
        store: SharedStore,
        validator: Validator,
        clock: Arc<dyn Clock>,
        counters: Arc<LoadCounters>,
    ) -> Self {
        let threads = limits.workers.max(1);
        let (jobs, receiver) = sync_channel::<Task>(threads * 2);
        let receiver = Arc::new(Mutex::new(receiver));
        let (results_tx, results) = unbounded_channel();
        let context = JobContext {
            store,
            validator,
            clock,
        };
        let workers = (0..threads)
            .filter_map(|index| {
                let receiver = receiver.clone();
                let results = results_tx.clone();
                let context = context.clone();
                std::thread::Builder::new()
                    .name(format!("pigeonhole-inbound-{index}"))
                    .spawn(move || work(&receiver, &results, &context))
                    .inspect_err(|error| warn!(%error, "could not start an inbound worker"))
                    .ok()
            })
            .collect::<Vec<_>>();
        let inline = workers.is_empty().then(|| {
            // Without a thread every request would wait forever: run jobs
            // on the swarm task instead (see `pump`).
            warn!("no inbound worker thread: answering inline");
            (context, results_tx)
        });
        Self {
            budgets: PeerBudgets::new(limits),
            limits,
            queues: HashMap::new(),
            order: [VecDeque::new(), VecDeque::new()],
            known_turns: 0,
            queued: 0,
            in_flight: 0,
            jobs: Some(jobs),
            results,
            workers,
            inline,
            counters,
        }
    }

    /// The next finished job (cancel-safe: for the runner's `select!`).
    pub(crate) async fn next_done(&mut self) -> Option<Done> {
        let done = self.results.recv().await;
        if done.is_some() {
            self.in_flight -= 1;
            self.counters.note_served();
            self.pump();
        }
        done
    }

    /// Charges `peer`'s budget for `class` and queues the task (in the
    /// known-peers lane when `known`: the peer is in the routing table); a
    /// refused task is handed back to be answered busy.
    pub(crate) fn submit(
        &mut self,
        class: Class,
        known: bool,
        task: Task,
    ) -> Result<(), (Refused, Box<Task>)> {
        let peer = task.peer;
        if !self.budgets.allow(&peer, class, Instant::now()) {
            self.counters.note_busy_over_budget();
            return Err((Refused::OverBudget, Box::new(task)));
        }
        let waiting = self.queues.get(&peer).map_or(0, VecDeque::len);
        if waiting >= self.limits.queue_per_peer || self.queued >= self.limits.queue_total {
            self.counters.note_busy_queue_full();
            return Err((Refused::QueueFull, Box::new(task)));
        }
        let queue = self.queues.entry(peer).or_default();
        if queue.is_empty() {
            self.order[usize::from(!known)].push_back(peer);
        }
        queue.push_back(task);
        self.queued += 1;
        self.pump();
        Ok(())
    }

    /// The load counters.
    pub(crate) fn counters(&self) -> &LoadCounters {
        &self.counters
    }

    /// A peer has no connection left: its budget is forgotten (its queued
    /// requests are skipped when their turn comes: their streams closed).
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        self.budgets.forget(peer);
    }

    /// Hands queued tasks to the workers, one peer at a time, while they
    /// have room (two per thread, so none idles between jobs).
    fn pump(&mut self) {
        let room = self.workers.len().max(1) * 2;
        while self.in_flight < room {
            let Some(task) = self.next_task() else {
                return;
            };
            if !task.reply.is_open() {
                debug!(peer = %task.peer, "requester gone before its turn; skipped");
                continue;
            }
            if let Some((context, results)) = &self.inline {
                let answer = context.run(task.peer, task.job);
                let done = Done {
                    peer: task.peer,
                    reply: task.reply,
                    answer,
                };
                if results.send(done).is_ok() {
                    self.in_flight += 1;
                }
                continue;
            }
            let Some(jobs) = &self.jobs else { return };
            match jobs.try_send(task) {
                Ok(()) => self.in_flight += 1,
                Err(error) => {
                    warn!(%error, "inbound worker queue unavailable; request dropped");
                    return;
                }
            }
        }
    }

    fn next_task(&mut self) -> Option<Task> {
        let known_due = self.known_turns < KNOWN_TURNS || self.order[1].is_empty();
        let lane = if known_due && !self.order[0].is_empty() {
            self.known_turns += 1;
            0
        } else {
            self.known_turns = 0;
            1
        };
        let peer = self.order[lane].pop_front()?;
        let queue = self.queues.get_mut(&peer)?;
        let task = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&peer);
        } else {
            self.order[lane].push_back(peer);
        }
        if task.is_some() {
            self.queued -= 1;
        }
        task
    }
}

impl Drop for InboundPool {
    /// Stops the workers and waits for them, so that the store (and its
    /// SQLite file) is closed when the swarm task has ended.
    fn drop(&mut self) {
        self.jobs = None;
        self.results.close();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker thread: takes tasks until the dispatcher is gone.
fn work(receiver: &Mutex<Receiver<Task>>, results: &UnboundedSender<Done>, context: &JobContext) {
    loop {
        let task = match receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv()
        {
            Ok(task) => task,
            Err(_) => return,
        };
        let answer = context.run(task.peer, task.job);
        let done = Done {
            peer: task.peer,
            reply: task.reply,
            answer,
        };
        if results.send(done).is_err() {
            return;
        }
    }
}
