//! Bookkeeping of the node's in-flight Kademlia queries, and the write
//! protocol that keeps replicas consistent.
//!
//! Storing peers each keep the first valid record they see for a slot, so
//! if two writers raced by sending to all replicas at once, replicas could
//! end up holding different records and readers would disagree. Instead a
//! put goes first to the slot's *primary* — the node closest (XOR distance)
//! to the key, possibly this node — and is read back from it. Only a writer
//! whose record the primary holds fans it out to the other closest peers
//! (and keeps a local copy). Replicas therefore only ever receive the
//! primary's winner, any replica's copy is the answer, and a read can stop
//! at the first valid copy it finds — locally, at no cost, when this node
//! holds one. A writer that loses at the primary gets `Rejected` and the
//! mailbox moves on to the next slot.
//!
//! Two id spaces are tracked: Kademlia query ids ([`Pending`]) and slot
//! request ids ([`SlotPending`]).

use libp2p::PeerId;
use libp2p::kad::{KBucketKey, RecordKey};
use pigeonhole::record::{DhtKey, Record};

use crate::command::Reply;

/// A read in flight.
pub struct PendingGet {
    /// The slot.
    pub key: DhtKey,
    /// Who should hear the answer.
    pub reply: Reply<Option<Vec<u8>>>,
}

/// A publish in flight, through its phases.
pub struct PutState {
    /// The validated record being published.
    pub record: Record,
    /// Who should hear the outcome.
    pub reply: Reply<()>,
    /// The closest known peers to the key, closest first (primaries that
    /// failed to answer are removed).
    pub peers: Vec<PeerId>,
    /// Primaries tried so far.
    pub attempts: u32,
}

/// What a Kademlia query id belongs to.
pub enum Pending {
    /// A read that fell back to a Kademlia lookup.
    Get(PendingGet),
    /// The fan-out of a won record to the other closest peers.
    FanOut {
        /// The put.
        state: Box<PutState>,
        /// Acknowledgements so far (the primary's).
        acked: usize,
        /// Peers the fan-out was sent to.
        sent: usize,
    },
    /// A bootstrap for a handle.
    Bootstrap(Reply<()>),
}

/// What a slot request id belongs to.
pub enum SlotPending {
    /// A read asking `peers[0]` (the rest are fallbacks).
    Get(PendingGet, Vec<PeerId>),
    /// A put offered to the primary; its answer is the read-back.
    Put(Box<PutState>, PeerId),
}

/// The closest node to `key` among `peer` (if any) and `local`.
pub fn primary(key: &DhtKey, local: PeerId, peer: Option<PeerId>) -> PeerId {
    let target = KBucketKey::new(RecordKey::from(key.0.to_vec()));
    let distance = |peer: &PeerId| KBucketKey::from(*peer).distance(&target);
    match peer {
        Some(peer) if distance(&peer) < distance(&local) => peer,
        _ => local,
    }
}
