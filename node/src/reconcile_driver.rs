//! Runs replica repair inside the swarm task: when to reconcile with whom,
//! and what to do with each message of `/pigeonhole/reconcile/1.0.0`.
//!
//! Why here: the runner owns the swarm, so the protocol's state lives next
//! to it. Answering a peer's request and judging pulled records run on the
//! inbound worker pool ([`crate::inbound`]); starting a pass reads the
//! store inline (a short transaction, paced by the pass budget).
//!
//! Triggers: every `ConnectionEstablished` asks for a pass with that peer
//! (a phone that slept comes back under its old peer id and stays in the
//! routing table, so "new to the routing table" would miss it). A pass
//! starts one [`Session`] per held mailbox whose replica set (the `factor`
//! peers closest to the mailbox id, this node included, as this node sees
//! the network: `Runner::replica_set`) contains the peer: both replicas then compare that mailbox
//! and this node also hands a mailbox over to a closer peer. Each side
//! only *pulls*: ids it needs it fetches ([`ID_BATCH`] per request,
//! validated and stored through the one write path); ids it holds that the
//! peer lacks it only *offers* (ids, no records), and the peer fetches them
//! if it agrees it should hold the mailbox. A peer gets [`PASS_BURST`]
//! passes at once, then one per [`PASS_INTERVAL`] (later requests are
//! deferred, not dropped), at most
//! [`SESSIONS_PER_PASS`] mailboxes per pass (the rest in the next), and may
//! make at most [`INBOUND_PER_WINDOW`] requests per second of us; across
//! all peers at most [`PASSES_PER_SECOND`] passes start per second (peer
//! ids are free to mint, so a per-peer budget alone does not bound the
//! work). Replicas that stay connected but drift apart (a put one of them
//! refused) are repaired by a periodic pass with every connected peer,
//! once per `ReplicationConfig::repair_interval`, jittered. Records
//! pulled into a mailbox ask for passes with its other connected replicas,
//! so a repair spreads through any one bridge (a healed partition).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use pigeonhole::record::{DhtKey, InstanceId, MailboxId};
use pigeonhole::store::PutOutcome;
use tracing::{debug, trace};

use crate::inbound_jobs::Job;
use crate::reconcile::{
    ID_BATCH, InboundLimiter, Item, PassBudget, PassSchedule, ReconcileError, ReplicaStore,
    Session, Step,
};
use crate::reconcile_codec::{ReconcileRequest, ReconcileResponse};
use crate::record_store::SqliteRecordStore;
use crate::runner::Runner;

/// Passes one peer may have at once (reconnects in a row) ...
pub const PASS_BURST: u32 = 3;
/// ... and then one per this interval.
pub const PASS_INTERVAL: Duration = Duration::from_secs(2);
/// Most passes started per second across all peers.
pub const PASSES_PER_SECOND: u32 = 16;
/// Most mailbox sessions a pass starts.
pub const SESSIONS_PER_PASS: usize = 32;
/// Most reconcile requests one peer may make per second.
pub const INBOUND_PER_WINDOW: u32 = 128;
/// How often due passes are looked for.
pub const TICK: Duration = Duration::from_millis(50);

/// What an outbound request was for.
enum Outstanding {
    Sync {
        peer: PeerId,
        session: Session,
    },
    Fetch {
        mailbox: MailboxId,
        ids: HashSet<[u8; 32]>,
    },
    Offer,
}

/// The reconciliation state of a runner.
pub(crate) struct Reconciler {
    schedule: PassSchedule<PeerId>,
    budget: PassBudget,
    inbound: InboundLimiter<PeerId>,
    outstanding: HashMap<OutboundRequestId, Outstanding>,
    backlog: HashMap<PeerId, VecDeque<MailboxId>>,
    /// Records pulled and stored since start.
    pulled: u64,
}

impl Default for Reconciler {
    fn default() -> Self {
        Self {
            schedule: PassSchedule::new(PASS_INTERVAL, PASS_BURST),
            budget: PassBudget::new(Duration::from_secs(1), PASSES_PER_SECOND),
            inbound: InboundLimiter::new(Duration::from_secs(1), INBOUND_PER_WINDOW),
            outstanding: HashMap::new(),
            backlog: HashMap::new(),
            pulled: 0,
        }
    }
}

impl Reconciler {
    /// A connection to `peer` was established: ask for a pass.
    pub(crate) fn on_connected(&mut self, peer: PeerId) {
        self.schedule.request(peer, Instant::now());
    }

    /// Asks for a periodic pass with each of `peers`, at a random point
    /// within the next `interval` (so pairs of replicas do not all
    /// reconcile in the same instant).
    pub(crate) fn schedule_periodic(
        &mut self,
        peers: impl IntoIterator<Item = PeerId>,
        interval: Duration,
    ) {
        let now = Instant::now();
        use std::hash::BuildHasher;
        let random = std::collections::hash_map::RandomState::new();
        for peer in peers {
            let jitter = interval.mul_f64((random.hash_one(peer) % 1024) as f64 / 1024.0);
            self.schedule.request_at(peer, now + jitter, now);
        }
    }

    /// Whether a pass is waiting (the tick only runs then).
    pub(crate) fn has_due(&self) -> bool {
        !self.schedule.is_empty()
    }
}

impl Runner {
    /// Starts the passes that are due (called on the reconcile tick).
    pub(crate) fn run_due_passes(&mut self) {
        let now = Instant::now();
        let allowed = self.reconciler.budget.available(now);
        let due = self.reconciler.schedule.take_due_at_most(now, allowed);
        self.reconciler.budget.spend(due.len());
        for peer in due {
            if self.swarm.is_connected(&peer) {
                self.start_reconcile_pass(peer);
            } else {
                // Gone before its turn: its next connection asks again.
                self.reconciler.backlog.remove(&peer);
            }
        }
    }

    /// Asks for a periodic repair pass with every connected peer (the
    /// repair tick; see the module docs).
    pub(crate) fn schedule_periodic_repair(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        let interval = self.config.replication.repair_interval;
        self.reconciler.schedule_periodic(peers, interval);
    }

    /// Starts a pass with `peer`: its eligible mailboxes (read on the own
    /// lane when no backlog is left from an earlier pass), then up to
    /// [`SESSIONS_PER_PASS`] sessions.
    fn start_reconcile_pass(&mut self, peer: PeerId) {
        if self
            .reconciler
            .backlog
            .get(&peer)
            .is_some_and(|backlog| !backlog.is_empty())
        {
            self.start_reconcile_sessions(peer);
            return;
        }
        self.own.run(
            |store| store.mailboxes(),
            move |runner, mailboxes| {
                let mailboxes = match mailboxes {
                    Ok(mailboxes) => mailboxes,
                    Err(error) => {
                        debug!(%error, "reconcile: store unreadable");
                        return;
                    }
                };
                let eligible: VecDeque<MailboxId> = mailboxes
                    .into_iter()
                    .filter(|mailbox| runner.replica_set(mailbox).0.contains(&peer))
                    .collect();
                runner.reconciler.backlog.insert(peer, eligible);
                runner.start_reconcile_sessions(peer);
            },
        );
    }

    /// Starts the next sessions of `peer`'s backlog; the rest in a later
    /// pass.
    fn start_reconcile_sessions(&mut self, peer: PeerId) {
        let mut started = 0;
        while started < SESSIONS_PER_PASS {
            let Some(mailbox) = self
                .reconciler
                .backlog
                .get_mut(&peer)
                .and_then(VecDeque::pop_front)
            else {
                break;
            };
            self.own.run(
                move |store| store.items(&mailbox),
                move |runner, items| {
                    if let Err(error) = runner.start_reconcile_session(peer, mailbox, items) {
                        debug!(%peer, %error, "reconcile session not started");
                    }
                },
            );
            started += 1;
        }
        match self.reconciler.backlog.get(&peer) {
            Some(rest) if !rest.is_empty() => {
                // The rest in the next pass.
                self.reconciler.schedule.request(peer, Instant::now());
            }
            _ => {
                self.reconciler.backlog.remove(&peer);
            }
        }
        if started > 0 {
            debug!(%peer, sessions = started, "reconcile pass started");
        }
    }

    fn start_reconcile_session(
        &mut self,
        peer: PeerId,
        mailbox: MailboxId,
        items: Result<Vec<Item>, ReconcileError>,
    ) -> Result<(), ReconcileError> {
        let (session, first) = Session::start(mailbox, &items?)?;
        let id = self
            .swarm
            .behaviour_mut()
            .reconcile
            .send_request(&peer, ReconcileRequest::Sync(mailbox, first));
        self.reconciler
            .outstanding
            .insert(id, Outstanding::Sync { peer, session });
        Ok(())
    }

    fn send_reconcile(
        &mut self,
        peer: PeerId,
        request: ReconcileRequest,
        outstanding: Outstanding,
    ) {
        let id = self
            .swarm
            .behaviour_mut()
            .reconcile
            .send_request(&peer, request);
        self.reconciler.outstanding.insert(id, outstanding);
    }

    /// Offers record ids of `mailbox` to `peer`, which fetches those it
    /// lacks if it is a replica (used to pass newcomers' records on).
    pub(crate) fn offer_ids(&mut self, peer: PeerId, mailbox: MailboxId, ids: Vec<[u8; 32]>) {
        self.send_reconcile(
            peer,
            ReconcileRequest::Offer(mailbox, ids),
            Outstanding::Offer,
        );
    }

    fn fetch_missing(&mut self, peer: PeerId, mailbox: MailboxId, ids: Vec<[u8; 32]>) {
        for batch in ids.chunks(ID_BATCH) {
            let set: HashSet<[u8; 32]> = batch.iter().copied().collect();
            self.send_reconcile(
                peer,
                ReconcileRequest::Fetch(mailbox, batch.to_vec()),
                Outstanding::Fetch { mailbox, ids: set },
            );
        }
    }

    /// Handles one event of the reconcile behaviour.
    pub(crate) fn on_reconcile(
        &mut self,
        event: request_response::Event<ReconcileRequest, ReconcileResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_reconcile_request(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_reconcile_response(peer, request_id, response),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.reconciler.outstanding.remove(&request_id);
                debug!(%peer, %error, "reconcile request failed");
            }
            _ => {}
        }
    }

    fn on_reconcile_request(
        &mut self,
        peer: PeerId,
        request: ReconcileRequest,
        channel: ResponseChannel<ReconcileResponse>,
    ) {
        if !self.reconciler.inbound.allow(&peer, Instant::now()) {
            self.inbound.counters().note_busy_over_budget();
            self.answer_reconcile(channel, ReconcileResponse::Busy);
            return;
        }
        // The store work runs on the inbound workers (see inbound.rs).
        let job = match request {
            ReconcileRequest::Sync(mailbox, message) => Job::Sync(mailbox, message),
            ReconcileRequest::Fetch(mailbox, ids) => Job::Fetch(mailbox, ids),
            ReconcileRequest::Offer(mailbox, ids) => {
                // Pull only what a replica of the mailbox should hold.
                if !self.replica_set(&mailbox).1 {
                    self.answer_reconcile(channel, ReconcileResponse::Noted);
                    return;
                }
                Job::Offer(mailbox, ids)
            }
        };
        self.submit_reconcile(peer, job, channel);
    }

    /// Sends a reconcile answer.
    pub(crate) fn answer_reconcile(
        &mut self,
        channel: ResponseChannel<ReconcileResponse>,
        response: ReconcileResponse,
    ) {
        let _ = self
            .swarm
            .behaviour_mut()
            .reconcile
            .send_response(channel, response);
    }

    /// A peer's offer was checked by a worker: fetch what this node lacks.
    pub(crate) fn on_offer_checked(
        &mut self,
        peer: PeerId,
        mailbox: MailboxId,
        wanted: Vec<[u8; 32]>,
    ) {
        if !wanted.is_empty() {
            trace!(%peer, wanted = wanted.len(), "fetching offered records");
            self.fetch_missing(peer, mailbox, wanted);
        }
    }

    /// Records pulled from `peer` into `mailbox` were judged by a worker.
    pub(crate) fn on_pulled(&mut self, peer: PeerId, mailbox: MailboxId, stored: u64) {
        if stored == 0 {
            return;
        }
        self.reconciler.pulled += stored;
        debug!(%peer, stored, "pulled records from a replica");
        for _ in 0..stored {
            self.note_accepted();
        }
        // Pass what was new here on: the other connected replicas of the
        // mailbox may lack it too (a healed partition converges through any
        // one bridge). The schedule's rate bounds this.
        let now = Instant::now();
        for other in self.replica_set(&mailbox).0 {
            if other != peer && self.swarm.is_connected(&other) {
                self.reconciler.schedule.request(other, now);
            }
        }
    }

    fn on_reconcile_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: ReconcileResponse,
    ) {
        let Some(outstanding) = self.reconciler.outstanding.remove(&request_id) else {
            return;
        };
        match (outstanding, response) {
            (Outstanding::Sync { peer, mut session }, ReconcileResponse::Sync(answer)) => {
                match session.step(&answer) {
                    Ok(Step::Continue(next)) => {
                        let mailbox = session.mailbox();
                        self.send_reconcile(
                            peer,
                            ReconcileRequest::Sync(mailbox, next),
                            Outstanding::Sync { peer, session },
                        );
                    }
                    Ok(Step::Done(difference)) => {
                        let mailbox = session.mailbox();
                        if !difference.need.is_empty() || !difference.have.is_empty() {
                            debug!(
                                %peer,
                                need = difference.need.len(),
                                have = difference.have.len(),
                                "mailbox differs from a replica"
                            );
                        }
                        // A replica pulls what it lacks; a node that only
                        // holds the mailbox from before (placement moved
                        // on) hands it over and pulls nothing.
                        if self.replica_set(&mailbox).1 {
                            self.fetch_missing(peer, mailbox, difference.need);
                        }
                        for batch in difference.have.chunks(ID_BATCH) {
                            self.send_reconcile(
                                peer,
                                ReconcileRequest::Offer(mailbox, batch.to_vec()),
                                Outstanding::Offer,
                            );
                        }
                    }
                    Err(error) => debug!(%peer, %error, "reconcile session abandoned"),
                }
            }
            (Outstanding::Fetch { mailbox, ids }, ReconcileResponse::Records(records)) => {
                // Judged on the inbound workers; `on_pulled` follows.
                self.submit_pull(peer, mailbox, ids, records);
            }
            (_, ReconcileResponse::Busy) => {
                // Try again at the next allowed pass.
                self.reconciler.schedule.request(peer, Instant::now());
            }
            (_, ReconcileResponse::Noted) | (_, ReconcileResponse::Refused) => {}
            (_, other) => debug!(%peer, ?other, "unexpected reconcile response"),
        }
    }
}

// ---- the store as reconciliation sees it -------------------------------

fn store_error(error: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Store(error.to_string())
}

impl ReplicaStore for SqliteRecordStore {
    fn mailboxes(&mut self) -> Result<Vec<MailboxId>, ReconcileError> {
        self.inner().mailboxes().map_err(store_error)
    }

    fn items(&mut self, mailbox: &MailboxId) -> Result<Vec<Item>, ReconcileError> {
        Ok(self
            .inner()
            .items(mailbox)
            .map_err(store_error)?
            .into_iter()
            .map(|(instance, record_id)| Item {
                instance: InstanceId::from_u64(instance),
                record_id,
            })
            .collect())
    }

    fn records(
        &mut self,
        mailbox: &MailboxId,
        ids: &[[u8; 32]],
    ) -> Result<Vec<(InstanceId, Vec<u8>)>, ReconcileError> {
        Ok(self
            .inner()
            .get_by_ids(mailbox, ids)
            .map_err(store_error)?
            .into_iter()
            .map(|record| (record.header.instance, record.bytes().to_vec()))
            .collect())
    }

    fn accept(
        &mut self,
        mailbox: &MailboxId,
        instance: InstanceId,
        bytes: &[u8],
    ) -> Result<bool, ReconcileError> {
        let key = DhtKey::for_slot(mailbox, instance);
        match self.put_checked(&key, bytes) {
            Ok((_, PutOutcome::Unchanged)) => Ok(false),
            Ok((_, PutOutcome::Stored | PutOutcome::Replaced(_))) => Ok(true),
            Err(refusal) => {
                debug!(%refusal, "pulled record refused");
                Ok(false)
            }
        }
    }
}
