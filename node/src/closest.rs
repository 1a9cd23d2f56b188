//! The routing table's peers, closest to a key first.
//!
//! Why not libp2p's `Behaviour::get_closest_local_peers`: it walks all 256
//! bucket indices and moves a 20-entry buffer by value for each, empty ones
//! included — hundreds of KiB of copying per call. Placement asks for the
//! closest peers on every publish, every read and every repair decision, so
//! in the dht bench (8 nodes, perf with DWARF call graphs) that copying was
//! about 8% of the process's CPU. Here only the non-empty buckets are
//! visited (pending entries applied, as libp2p does) and the few peers
//! sorted once: the same peers in the same order.

use libp2p::kad::{KBucketDistance, KBucketKey, RecordKey};
use libp2p::{Multiaddr, PeerId};

use crate::runner::Runner;

impl Runner {
    /// Every peer in the routing table, ordered by XOR distance to `target`.
    pub(crate) fn routed_by_distance(&mut self, target: &KBucketKey<RecordKey>) -> Vec<PeerId> {
        let mut peers: Vec<(KBucketDistance, PeerId)> = Vec::new();
        for bucket in self.kad().kbuckets() {
            for entry in bucket.iter() {
                peers.push((entry.node.key.distance(target), *entry.node.key.preimage()));
            }
        }
        peers.sort_unstable_by_key(|(distance, _)| *distance);
        peers.into_iter().map(|(_, peer)| peer).collect()
    }

    /// Up to `max` of the addresses the routing table holds for `peer`
    /// (none when it is not routed): what referrals and roster answers
    /// send.
    pub(crate) fn routed_addresses(&mut self, peer: PeerId, max: usize) -> Vec<Multiaddr> {
        self.kad()
            .kbucket(peer)
            .and_then(|bucket| {
                bucket
                    .iter()
                    .find(|entry| *entry.node.key.preimage() == peer)
                    .map(|entry| entry.node.value.iter().take(max).cloned().collect())
            })
            .unwrap_or_default()
    }
}
