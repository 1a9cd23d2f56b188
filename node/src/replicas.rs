//! Who holds a mailbox, and which of them a reader asks first.
//!
//! Placement by mailbox: every slot of mailbox M lives on the `factor`
//! peers closest (Kademlia XOR distance) to M's id, so one set of peers
//! knows the whole mailbox. The kad record key stays the slot key; only the
//! choice of peers changes.
//!
//! A reader asks two replicas, not all: fresh peer ids are free to mint, so
//! a sybil can place ids next to any mailbox and answer "nothing held". A
//! reader therefore asks replicas of good *standing* first — peers that have
//! served valid records before, then peers connected longest — so a freshly
//! minted id that answers nothing is asked last, while honest replicas
//! remain. Standing is kept in memory, bounded, and dropped for peers that
//! disconnect without ever having served anything.

use std::collections::HashMap;

use libp2p::PeerId;
use tokio::time::Instant;

/// Peers whose standing is remembered at most (sybils cannot grow it).
const MAX_TRACKED: usize = 4096;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// When the current connection began; `None` while disconnected.
    since: Option<Instant>,
    /// Valid records served minus invalid ones (never below zero).
    served: u64,
}

/// What this node has seen of its peers' behaviour.
#[derive(Debug, Default)]
pub struct Standing {
    peers: HashMap<PeerId, Entry>,
}

impl Standing {
    /// A first connection to `peer` opened.
    pub fn connected(&mut self, peer: PeerId) {
        if self.peers.len() >= MAX_TRACKED && !self.peers.contains_key(&peer) {
            self.peers
                .retain(|_, entry| entry.served > 0 || entry.since.is_some());
            if self.peers.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = self.peers.entry(peer).or_default();
        entry.since.get_or_insert_with(Instant::now);
    }

    /// The last connection to `peer` closed.
    pub fn disconnected(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.since = None;
            if entry.served == 0 {
                self.peers.remove(peer);
            }
        }
    }

    /// `peer` served `count` records that passed validation.
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

    /// Sorts `peers` best first: most valid records served, then connected
    /// longest; peers not connected now come last (stable otherwise).
    pub fn rank(&self, peers: &mut [PeerId]) {
        peers.sort_by_key(|peer| {
            let entry = self.peers.get(peer).copied().unwrap_or_default();
            (
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

    #[tokio::test]
    async fn peers_that_served_and_stayed_are_asked_first() {
        let mut standing = Standing::default();
        let (old, served, fresh, gone) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        standing.connected(old);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        standing.connected(served);
        standing.connected(fresh);
        standing.served_valid(&served, 3);
        let mut peers = vec![gone, fresh, old, served];
        standing.rank(&mut peers);
        assert_eq!(peers[0], served);
        assert_eq!(peers[1], old);
        assert_eq!(peers[3], gone, "not connected: last");
        standing.served_invalid(&served);
        standing.disconnected(&fresh);
        assert!(!standing.peers.contains_key(&fresh), "nothing to remember");
        for _ in 0..MAX_TRACKED + 10 {
            standing.connected(PeerId::random());
        }
        assert!(standing.peers.len() <= MAX_TRACKED);
    }
}
