//! Replica repair: which records of a mailbox two peers hold differently,
//! found by range-based set reconciliation.
//!
//! Why: a replica that slept through a write, or the two halves of a healed
//! partition, must end up holding the same records without anyone pushing
//! a whole store. Negentropy (the `negentropy` crate, the protocol Nostr
//! relays sync with) compares two sorted sets by fingerprints of ranges,
//! splitting only the ranges that differ, so two equal mailboxes cost one
//! round trip of a few dozen bytes and `d` differences cost about
//! `O(d · log n)` bytes. Here a mailbox's set is its records as
//! `(instance, record id)` items: negentropy's timestamp is the instance id
//! in its 8-byte form (bucket, then seq), its id is the record id, so the
//! order is the listing order of protocol v2.
//!
//! This module is pure (no libp2p, no I/O): a [`Session`] is the
//! initiator's side of one mailbox, [`respond`] the stateless answer of the
//! other side, [`ReplicaStore`] what a store must offer, and two small
//! rate limiters ([`PassSchedule`], [`InboundLimiter`]) bound how often a
//! peer triggers work. [`crate::reconcile_driver`] runs it over the
//! `/pigeonhole/reconcile/1.0.0` request-response protocol
//! ([`crate::reconcile_codec`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use pigeonhole::record::{InstanceId, MailboxId};

/// Largest negentropy message either side produces (its `frame_size_limit`;
/// the crate requires 0 or at least 4096). Bigger differences take more
/// rounds instead of bigger messages.
pub const FRAME_LIMIT: usize = 32 * 1024;
/// Most negentropy rounds one session may take before it is abandoned (a
/// peer that never converges is misbehaving; the next pass starts over).
pub const MAX_ROUNDS: u32 = 64;
/// Most record ids in one fetch or offer message.
pub const ID_BATCH: usize = 64;

/// One record of a mailbox as reconciliation sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    /// Its slot.
    pub instance: InstanceId,
    /// Its record id (`pigeonhole::record::record_id` of its bytes).
    pub record_id: [u8; 32],
}

/// Why reconciliation of one mailbox with one peer stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The negentropy engine refused a message (malformed or wrong version).
    #[error("reconciliation message refused: {0}")]
    Negentropy(String),
    /// The session took more than [`MAX_ROUNDS`] rounds.
    #[error("reconciliation did not converge within {MAX_ROUNDS} rounds")]
    TooManyRounds,
    /// The local store could not be read or written.
    #[error("store: {0}")]
    Store(String),
    /// The peer is asking too often.
    #[error("peer over its reconciliation rate")]
    Busy,
}

fn engine_error(error: negentropy::Error) -> ReconcileError {
    ReconcileError::Negentropy(error.to_string())
}

/// What a store offers to reconciliation. The node's SQLite store
/// implements it; tests implement it in memory.
pub trait ReplicaStore {
    /// Mailboxes of which at least one record (or tombstone) is held.
    fn mailboxes(&mut self) -> Result<Vec<MailboxId>, ReconcileError>;
    /// Every held record of `mailbox` (tombstones included), any order.
    fn items(&mut self, mailbox: &MailboxId) -> Result<Vec<Item>, ReconcileError>;
    /// The held records of `mailbox` among `ids`, as (slot, encoded bytes).
    fn records(
        &mut self,
        mailbox: &MailboxId,
        ids: &[[u8; 32]],
    ) -> Result<Vec<(InstanceId, Vec<u8>)>, ReconcileError>;
    /// Judges `bytes` as a record of slot `instance` of `mailbox` and
    /// stores it through the store's one write path. `Ok(true)`: stored
    /// now; `Ok(false)`: refused or already held (the reason is logged by
    /// the store); `Err`: the store failed.
    fn accept(
        &mut self,
        mailbox: &MailboxId,
        instance: InstanceId,
        bytes: &[u8],
    ) -> Result<bool, ReconcileError>;
}

/// The sealed negentropy set of `items`.
fn storage(items: &[Item]) -> Result<NegentropyStorageVector, ReconcileError> {
    let mut storage = NegentropyStorageVector::with_capacity(items.len());
    for item in items {
        storage
            .insert(item.instance.to_u64(), Id::from_byte_array(item.record_id))
            .map_err(engine_error)?;
    }
    storage.seal().map_err(engine_error)?;
    Ok(storage)
}

/// The other side's answer to one message of a session about a mailbox
/// holding `items` here. Stateless: every round rebuilds the set, so a
/// responder keeps nothing per peer between rounds.
pub fn respond(items: &[Item], query: &[u8]) -> Result<Vec<u8>, ReconcileError> {
    let mut engine =
        Negentropy::owned(storage(items)?, FRAME_LIMIT as u64).map_err(engine_error)?;
    engine.reconcile(query).map_err(engine_error)
}

/// What a session step leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this message to the peer and feed its answer to [`Session::step`].
    Continue(Vec<u8>),
    /// The sets are compared.
    Done(Difference),
}

/// The outcome of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Difference {
    /// Record ids held here that the peer lacks (offer them).
    pub have: Vec<[u8; 32]>,
    /// Record ids the peer holds that are missing here (fetch them).
    pub need: Vec<[u8; 32]>,
}

/// The initiator's side of reconciling one mailbox with one peer.
pub struct Session {
    mailbox: MailboxId,
    engine: Negentropy<'static, NegentropyStorageVector>,
    rounds: u32,
    have: Vec<Id>,
    need: Vec<Id>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("mailbox", &self.mailbox)
            .field("rounds", &self.rounds)
            .finish()
    }
}

impl Session {
    /// Starts a session over the local `items` of `mailbox`; returns it and
    /// the first message to send.
    pub fn start(mailbox: MailboxId, items: &[Item]) -> Result<(Self, Vec<u8>), ReconcileError> {
        let mut engine =
            Negentropy::owned(storage(items)?, FRAME_LIMIT as u64).map_err(engine_error)?;
        let first = engine.initiate().map_err(engine_error)?;
        let session = Self {
            mailbox,
            engine,
            rounds: 1,
            have: Vec::new(),
            need: Vec::new(),
        };
        Ok((session, first))
    }

    /// The mailbox this session compares.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// Feeds the peer's answer; returns the next message or the outcome.
    pub fn step(&mut self, answer: &[u8]) -> Result<Step, ReconcileError> {
        let next = self
            .engine
            .reconcile_with_ids(answer, &mut self.have, &mut self.need)
            .map_err(engine_error)?;
        match next {
            Some(message) => {
                self.rounds += 1;
                if self.rounds > MAX_ROUNDS {
                    return Err(ReconcileError::TooManyRounds);
                }
                Ok(Step::Continue(message))
            }
            None => Ok(Step::Done(Difference {
                have: std::mem::take(&mut self.have)
                    .into_iter()
                    .map(Id::to_bytes)
                    .collect(),
                need: std::mem::take(&mut self.need)
                    .into_iter()
                    .map(Id::to_bytes)
                    .collect(),
            })),
        }
    }
}

/// When each peer's next reconciliation pass may run: every connection
/// (re)established asks for a pass; a peer gets `burst` passes at once and
/// then one per `interval` (a generic cell rate: the "theoretical arrival
/// time" moves one interval per pass). A request over the rate is deferred,
/// not dropped, so a phone that reconnects often is still repaired, while
/// a flapping peer costs at most one pass per interval.
#[derive(Debug)]
pub struct PassSchedule<K> {
    interval: Duration,
    burst: u32,
    arrival: HashMap<K, Instant>,
    due: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> PassSchedule<K> {
    /// A schedule allowing `burst` passes at once, then one per `interval`.
    pub fn new(interval: Duration, burst: u32) -> Self {
        Self {
            interval,
            burst: burst.max(1),
            arrival: HashMap::new(),
            due: HashMap::new(),
        }
    }

    /// Asks for a pass with `peer` (a connection was established).
    pub fn request(&mut self, peer: K, now: Instant) {
        self.request_at(peer, now, now);
    }

    /// Asks for a pass with `peer` no earlier than `at` (a periodic repair
    /// pass, jittered), and no earlier than the peer's budget allows. A
    /// pass already waiting is left as it is.
    pub fn request_at(&mut self, peer: K, at: Instant, now: Instant) {
        if self.due.contains_key(&peer) {
            return;
        }
        let slack = self.interval * (self.burst - 1);
        let earliest = match self.arrival.get(&peer) {
            Some(arrival) => arrival
                .checked_sub(slack)
                .map_or(now, |allowed| allowed.max(now)),
            None => now,
        };
        self.due.insert(peer, earliest.max(at));
    }

    /// Whether any pass is waiting.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// The peers whose pass is due at `now`; they count as run now.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        self.take_due_at_most(now, usize::MAX)
    }

    /// At most `max` of the peers whose pass is due at `now`, longest
    /// waiting first; they count as run now, the others stay due.
    pub fn take_due_at_most(&mut self, now: Instant, max: usize) -> Vec<K> {
        let mut ready: Vec<(Instant, K)> = self
            .due
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(peer, due)| (*due, peer.clone()))
            .collect();
        if ready.len() > max {
            ready.sort_by_key(|(due, _)| *due);
            ready.truncate(max);
        }
        let ready: Vec<K> = ready.into_iter().map(|(_, peer)| peer).collect();
        for peer in &ready {
            self.due.remove(peer);
            let arrival = self.arrival.entry(peer.clone()).or_insert(now);
            *arrival = (*arrival).max(now) + self.interval;
        }
        // Forget peers whose budget is full again, so the map does not grow
        // with every peer id ever seen.
        self.arrival.retain(|_, arrival| *arrival > now);
        ready
    }
}

/// Bounds the passes this node starts per window across *all* peers.
/// [`PassSchedule`] bounds each peer, but peer ids are free to mint: a
/// sybil connecting under many ids would otherwise get a burst of passes
/// per id. Passes beyond the budget wait in the schedule (deferred, not
/// dropped), longest waiting first.
#[derive(Debug)]
pub struct PassBudget {
    window: Duration,
    max: u32,
    start: Option<Instant>,
    used: u32,
}

impl PassBudget {
    /// At most `max` passes per `window`.
    pub fn new(window: Duration, max: u32) -> Self {
        Self {
            window,
            max,
            start: None,
            used: 0,
        }
    }

    /// How many passes may start at `now`.
    pub fn available(&mut self, now: Instant) -> usize {
        if self
            .start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.window)
        {
            self.start = Some(now);
            self.used = 0;
        }
        (self.max - self.used) as usize
    }

    /// Counts `passes` started (at most what [`PassBudget::available`] said).
    pub fn spend(&mut self, passes: usize) {
        self.used = self.used.saturating_add(passes as u32).min(self.max);
    }
}

/// Bounds the reconciliation requests one peer may make per window; the
/// rest are answered "busy". A responder builds a mailbox's set for every
/// request, so this bounds the work a peer (or a sybil minting peer ids and
/// connecting once each) can cause per window.
#[derive(Debug)]
pub struct InboundLimiter<K> {
    window: Duration,
    max: u32,
    counts: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq + Clone> InboundLimiter<K> {
    /// At most `max` requests per peer per `window`.
    pub fn new(window: Duration, max: u32) -> Self {
        Self {
            window,
            max,
            counts: HashMap::new(),
        }
    }

    /// Whether `peer` may make one more request at `now` (and counts it).
    pub fn allow(&mut self, peer: &K, now: Instant) -> bool {
        if self.counts.len() > 4096 {
            let window = self.window;
            self.counts
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        }
        let entry = self.counts.entry(peer.clone()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(bucket: u32, seq: u32, tag: u8) -> Item {
        let mut record_id = [0u8; 32];
        record_id[0] = tag;
        record_id[1..5].copy_from_slice(&seq.to_be_bytes());
        record_id[5..9].copy_from_slice(&bucket.to_be_bytes());
        Item {
            instance: InstanceId { bucket, seq },
            record_id,
        }
    }

    /// Runs a whole session between two in-memory sets; returns the outcome
    /// and the bytes exchanged.
    fn reconcile(mine: &[Item], theirs: &[Item]) -> (Difference, usize, u32) {
        let (mut session, mut message) = Session::start(MailboxId([1; 32]), mine).unwrap();
        let mut bytes = message.len();
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds <= MAX_ROUNDS, "did not converge");
            let answer = respond(theirs, &message).unwrap();
            bytes += answer.len();
            match session.step(&answer).unwrap() {
                Step::Continue(next) => {
                    bytes += next.len();
                    message = next;
                }
                Step::Done(difference) => return (difference, bytes, rounds),
            }
        }
    }

    fn sorted(mut ids: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
        ids.sort();
        ids
    }

    #[test]
    fn equal_sets_cost_one_round_of_a_few_hundred_bytes() {
        let items: Vec<Item> = (0..1000).map(|i| item(20_000 + i / 100, i, 1)).collect();
        let (difference, bytes, rounds) = reconcile(&items, &items);
        assert_eq!(difference, Difference::default());
        assert_eq!(rounds, 1);
        // One frame of 16 range fingerprints each way, whatever the size.
        assert!(bytes < 600, "{bytes} bytes for equal sets");
    }

    #[test]
    fn differences_are_found_on_both_sides() {
        let common: Vec<Item> = (0..500).map(|i| item(20_000, i, 1)).collect();
        let mut mine = common.clone();
        let mut theirs = common;
        let only_mine: Vec<Item> = (0..7).map(|i| item(20_001, i * 13, 2)).collect();
        let only_theirs: Vec<Item> = (0..11).map(|i| item(20_000, i * 31, 3)).collect();
        mine.extend(&only_mine);
        theirs.extend(&only_theirs);
        let (difference, bytes, _) = reconcile(&mine, &theirs);
        assert_eq!(
            sorted(difference.have),
            sorted(only_mine.iter().map(|i| i.record_id).collect())
        );
        assert_eq!(
            sorted(difference.need),
            sorted(only_theirs.iter().map(|i| i.record_id).collect())
        );
        // Far less than sending 500 ids (16,000 bytes).
        assert!(bytes < 8_000, "{bytes} bytes for 18 differences");
    }

    #[test]
    fn two_records_in_one_slot_are_two_items() {
        // A healed partition: both halves wrote slot (20000, 0).
        let mine = vec![item(20_000, 0, 1)];
        let theirs = vec![item(20_000, 0, 2)];
        let (difference, _, _) = reconcile(&mine, &theirs);
        assert_eq!(difference.have, vec![mine[0].record_id]);
        assert_eq!(difference.need, vec![theirs[0].record_id]);
    }

    #[test]
    fn empty_sides_and_large_differences_converge_in_bounded_frames() {
        let many: Vec<Item> = (0..5000).map(|i| item(20_000 + i % 7, i, 9)).collect();
        let (difference, _, rounds) = reconcile(&[], &many);
        assert_eq!(difference.need.len(), 5000);
        assert!(difference.have.is_empty());
        assert!(rounds > 1, "5000 ids cannot fit one frame");
        let (difference, _, _) = reconcile(&many, &[]);
        assert_eq!(difference.have.len(), 5000);
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let items = vec![item(1, 1, 1)];
        for junk in [vec![], vec![0x00], vec![0x61, 0xff, 0xff], vec![0x61; 100]] {
            let _ = respond(&items, &junk);
        }
        assert!(respond(&items, &[]).is_err());
        let (mut session, _) = Session::start(MailboxId([0; 32]), &items).unwrap();
        assert!(session.step(&[0x10, 1, 2]).is_err());
    }

    #[test]
    fn a_session_that_never_ends_is_cut_at_max_rounds() {
        // A peer that always answers with a fresh split of a big set keeps
        // the session going; emulate by answering each message with the
        // answer for a different, ever-changing set.
        let mine: Vec<Item> = (0..3000).map(|i| item(5, i, 1)).collect();
        let (mut session, mut message) = Session::start(MailboxId([0; 32]), &mine).unwrap();
        let mut outcome = None;
        for round in 0..=MAX_ROUNDS + 1 {
            let theirs: Vec<Item> = (0..3000).map(|i| item(5, i, 2 + round as u8)).collect();
            let answer = respond(&theirs, &message).unwrap();
            match session.step(&answer) {
                Ok(Step::Continue(next)) => message = next,
                other => {
                    outcome = Some(other);
                    break;
                }
            }
        }
        // Either it converged on some answer or was cut; it never loops.
        assert!(outcome.is_some());
    }

    #[test]
    fn passes_beyond_the_burst_are_deferred_not_dropped() {
        let start = Instant::now();
        let interval = Duration::from_secs(2);
        let mut schedule = PassSchedule::new(interval, 2);
        let ms = |n| start + Duration::from_millis(n);
        // Two reconnects in a row run at once.
        schedule.request("p", start);
        assert_eq!(schedule.take_due(start), vec!["p"]);
        schedule.request("p", ms(100));
        assert_eq!(schedule.take_due(ms(100)), vec!["p"]);
        // A third inside the interval waits; asking again changes nothing.
        schedule.request("p", ms(200));
        schedule.request("p", ms(300));
        assert!(schedule.take_due(ms(1000)).is_empty());
        assert!(!schedule.is_empty());
        assert_eq!(schedule.take_due(ms(2000)), vec!["p"]);
        assert!(schedule.is_empty());
        // Another peer has its own budget.
        schedule.request("q", ms(2000));
        assert_eq!(schedule.take_due(ms(2000)), vec!["q"]);
        // After a quiet spell the burst is available again.
        schedule.request("p", ms(10_000));
        assert_eq!(schedule.take_due(ms(10_000)), vec!["p"]);
    }

    #[test]
    fn passes_across_all_peers_are_capped_per_window_and_deferred() {
        let start = Instant::now();
        let window = Duration::from_secs(1);
        let mut schedule = PassSchedule::new(Duration::from_secs(2), 3);
        let mut budget = PassBudget::new(window, 4);
        // Ten fresh ids (a sybil minting them) all ask for passes at once.
        for id in 0..10u32 {
            schedule.request(id, start);
        }
        let mut run = |now: Instant| {
            let n = budget.available(now);
            let taken = schedule.take_due_at_most(now, n);
            budget.spend(taken.len());
            taken.len()
        };
        assert_eq!(run(start), 4, "the global cap, not 10 (or 30)");
        assert_eq!(run(start + Duration::from_millis(500)), 0, "same window");
        assert_eq!(run(start + window), 4, "next window");
        assert_eq!(run(start + window * 2), 2, "the rest, none dropped");
        assert!(schedule.is_empty());
    }

    #[test]
    fn a_periodic_pass_waits_for_its_time_and_the_peer_budget() {
        let start = Instant::now();
        let mut schedule = PassSchedule::new(Duration::from_secs(2), 1);
        schedule.request("p", start);
        assert_eq!(schedule.take_due(start), vec!["p"]);
        // Jittered to +1 s, but the peer's budget only allows +2 s.
        schedule.request_at("p", start + Duration::from_secs(1), start);
        assert!(schedule.take_due(start + Duration::from_secs(1)).is_empty());
        assert_eq!(schedule.take_due(start + Duration::from_secs(2)), vec!["p"]);
    }

    #[test]
    fn inbound_requests_are_bounded_per_peer_per_window() {
        let start = Instant::now();
        let mut limiter = InboundLimiter::new(Duration::from_secs(1), 3);
        assert!((0..3).all(|_| limiter.allow(&"a", start)));
        assert!(!limiter.allow(&"a", start));
        assert!(limiter.allow(&"b", start), "peers are counted apart");
        assert!(limiter.allow(&"a", start + Duration::from_secs(1)));
    }
}
