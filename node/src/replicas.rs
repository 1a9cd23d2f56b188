//! What this node has seen of its peers: their *standing*.
//!
//! Why: peer ids cost nothing, so anyone on the Wi-Fi can mint ids next to
//! any mailbox (40 random ones, or 20 ground to be closer to one inbox than
//! every honest peer) and become most of its replica set, acknowledge puts
//! and answer "nothing held". On a LAN ids are free, but *time* and
//! *behaviour* are not. A peer has standing here when
//!
//! * the app named it trusted ([`crate::Node::trust_peer`], a buddy's node);
//! * or it has been connected for at least `standing_after` (once earned,
//!   age standing is remembered across disconnections, so a phone that
//!   sleeps keeps it).
//!
//! Placement ([`crate::placement`]) puts the peers of standing next to the
//! closest peers overall in a mailbox's replica set, publishes need one of
//! them to store the record, and reads ask them first. Writer and reader
//! compute placement independently, so standing must be a judgement every
//! honest node reaches alike: age is (a LAN sees a peer connect at about the
//! same moment); records served are not (they depend on what each node
//! happened to read), so they only *rank*: a reader asks peers that served
//! corroborated records (this node, or a peer of standing, served the same
//! record in the same read — a sybil can sign valid records of its own, so
//! "valid" alone proves nothing) before others, then peers connected
//! longest, so long-standing honest replicas come before sybils that merely
//! stayed connected long enough. Everything is in memory and bounded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use pigeonhole::clock::Clock;
use tokio::time::Instant;

/// Peers whose standing is remembered at most (sybils cannot grow it).
const MAX_TRACKED: usize = 4096;
/// Peers the app may name trusted at most.
pub const MAX_TRUSTED: usize = 1024;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// When the current connection began; `None` while disconnected.
    since: Option<Instant>,
    /// The same, on the node's clock (seconds): age standing is judged on
    /// the node's clock (a `ManualClock` in tests), order on `since`.
    since_secs: Option<u64>,
    /// Corroborated records served minus a penalty for invalid ones.
    served: u64,
    /// Stayed connected for `standing_after` once (kept when it leaves).
    aged: bool,
}

impl Entry {
    fn remembered(&self) -> bool {
        self.served > 0 || self.aged || self.since.is_some()
    }
}

/// What this node has seen of its peers' behaviour.
#[derive(Debug)]
pub struct Standing {
    peers: HashMap<PeerId, Entry>,
    trusted: HashSet<PeerId>,
    after: u64,
    clock: Arc<dyn Clock>,
}

impl Standing {
    /// Standing by age after `after` of connection, measured on `clock`.
    pub fn new(after: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            peers: HashMap::new(),
            trusted: HashSet::new(),
            after: after.as_secs(),
            clock,
        }
    }

    fn old_enough(&self, entry: &Entry) -> bool {
        entry
            .since_secs
            .is_some_and(|since| self.clock.now().saturating_sub(since) >= self.after)
    }

    /// A first connection to `peer` opened.
    pub fn connected(&mut self, peer: PeerId) {
        if self.peers.len() >= MAX_TRACKED && !self.peers.contains_key(&peer) {
            self.peers.retain(|_, entry| entry.remembered());
            if self.peers.len() >= MAX_TRACKED {
                // Forget the never-proven connected ones first.
                self.peers.retain(|_, entry| entry.served > 0 || entry.aged);
                if self.peers.len() >= MAX_TRACKED {
                    return;
                }
            }
        }
        let now = self.clock.now();
        let entry = self.peers.entry(peer).or_default();
        entry.since.get_or_insert_with(Instant::now);
        entry.since_secs.get_or_insert(now);
    }

    /// The last connection to `peer` closed.
    pub fn disconnected(&mut self, peer: &PeerId) {
        let Some(mut entry) = self.peers.get(peer).copied() else {
            return;
        };
        entry.aged |= self.old_enough(&entry);
        entry.since = None;
        entry.since_secs = None;
        if entry.remembered() {
            self.peers.insert(*peer, entry);
        } else {
            self.peers.remove(peer);
        }
    }

    /// `peer` served `count` records that passed validation and were
    /// corroborated.
    pub fn served_valid(&mut self, peer: &PeerId, count: usize) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.served = entry.served.saturating_add(count as u64);
        }
    }

    /// `peer` served something invalid.
    pub fn served_invalid(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.served = entry.served.saturating_sub(8);
        }
    }

    /// The app vouches for `peer` (or withdraws it). Returns false when
    /// the trusted set is full.
    pub fn set_trusted(&mut self, peer: PeerId, trusted: bool) -> bool {
        if !trusted {
            self.trusted.remove(&peer);
            return true;
        }
        if self.trusted.len() >= MAX_TRUSTED && !self.trusted.contains(&peer) {
            return false;
        }
        self.trusted.insert(peer);
        true
    }

    /// Whether `peer` has standing now (see the module docs).
    pub fn has_standing(&self, peer: &PeerId) -> bool {
        if self.trusted.contains(peer) {
            return true;
        }
        self.peers
            .get(peer)
            .is_some_and(|entry| entry.aged || self.old_enough(entry))
    }

    /// When `peer`'s current connection began, if connected.
    pub fn connected_since(&self, peer: &PeerId) -> Option<Instant> {
        self.peers.get(peer).and_then(|entry| entry.since)
    }

    /// Sorts `peers` best first: peers of standing first, trusted ones
    /// first among them; then most corroborated records served, then
    /// connected longest; peers not connected now come last (stable
    /// otherwise).
    pub fn rank(&self, peers: &mut [PeerId]) {
        peers.sort_by_key(|peer| {
            let entry = self.peers.get(peer).copied().unwrap_or_default();
            (
                !self.has_standing(peer),
                !self.trusted.contains(peer),
                std::cmp::Reverse(entry.served),
                entry.since.is_none(),
                entry.since,
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigeonhole::clock::ManualClock;

    #[tokio::test]
    async fn peers_that_served_and_stayed_are_asked_first() {
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let mut standing = Standing::new(Duration::from_secs(3600), clock);
        let (old, served, fresh, gone) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        standing.connected(old);
        tokio::time::sleep(Duration::from_millis(5)).await;
        standing.connected(served);
        standing.connected(fresh);
        standing.served_valid(&served, 3);
        let mut peers = vec![gone, fresh, old, served];
        standing.rank(&mut peers);
        assert_eq!(peers[0], served);
        assert_eq!(peers[1], old);
        assert_eq!(peers[3], gone, "not connected: last");
        assert!(!standing.has_standing(&served), "serving only ranks");
        assert!(!standing.has_standing(&old), "not old enough yet");
        standing.served_invalid(&served);
        let mut peers = vec![old, served];
        standing.rank(&mut peers);
        assert_eq!(peers, vec![old, served], "lost its credit");
        standing.disconnected(&fresh);
        assert!(!standing.peers.contains_key(&fresh), "nothing to remember");
        for _ in 0..MAX_TRACKED + 10 {
            standing.connected(PeerId::random());
        }
        assert!(standing.peers.len() <= MAX_TRACKED);
    }

    #[test]
    fn age_and_trust_give_standing_and_age_is_remembered() {
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let mut standing = Standing::new(Duration::from_secs(120), clock.clone());
        let (aged, buddy, newcomer) = (PeerId::random(), PeerId::random(), PeerId::random());
        standing.connected(aged);
        assert!(!standing.has_standing(&aged));
        clock.advance(120);
        standing.connected(newcomer);
        assert!(standing.has_standing(&aged));
        assert!(!standing.has_standing(&newcomer));
        standing.disconnected(&aged);
        assert!(standing.has_standing(&aged), "a sleeping phone keeps it");
        standing.disconnected(&newcomer);
        assert!(!standing.has_standing(&newcomer));
        assert!(standing.set_trusted(buddy, true));
        assert!(standing.has_standing(&buddy), "trusted, never connected");
        let mut peers = vec![newcomer, aged, buddy];
        standing.rank(&mut peers);
        assert_eq!(peers, vec![buddy, aged, newcomer]);
        standing.set_trusted(buddy, false);
        assert!(!standing.has_standing(&buddy));
    }
}
