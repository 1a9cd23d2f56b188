//! Finding a mailbox's replicas: referrals given and followed, and the
//! peers found for each mailbox.
//!
//! Why: a node's routing table keeps 20 peers per k-bucket, so beyond about
//! 40 peers it does not know who is closest to an arbitrary mailbox, and a
//! read or publish sent to "the closest peers it knows" reaches peers that
//! hold nothing of the mailbox. Until peer protocol version 4 the node ran
//! a Kademlia closest-peers lookup before the first read of each mailbox:
//! ~10 requests in 3–4 sequential round trips at 200 nodes, before the read
//! itself even started (and one round trip more than needed on a small
//! LAN, where the routing table already knew everyone). Now every List and
//! NextSeq answer carries the answering peer's closest known peers to the
//! mailbox ([`crate::referral`], as Kademlia's `GET_VALUE` answers with
//! closer peers); a read starts at once with the peers this node believes
//! closest, and when an answer names closer ones the read asks those too
//! ([`crate::protocol`], at most [`MAX_REFERRAL_ROUNDS`] times). Since
//! peer protocol version 5 a LAN node knows every peer ([`crate::roster`])
//! and referrals only correct a roster that is behind.
//!
//! The peers learned this way are *remembered* per mailbox for
//! [`FOUND_TTL`], and placement ([`crate::placement`]) takes them as
//! candidates next to the routing table. Why: the routing table cannot be
//! relied on to hold them. The peers closest to a mailbox all fall into one
//! k-bucket of this node; on a network of more than about 40 peers that
//! bucket is often full of other, connected peers and libp2p refuses the
//! new ones. Their addresses go to the swarm's address book
//! (`Swarm::add_peer_address`), from which the mailbox protocol dials.
//! A remembered peer that then fails to answer is forgotten at once.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::kad::{KBucketKey, RecordKey};
use pigeonhole::record::MailboxId;
use tokio::time::Instant;
use tracing::debug;

use crate::mailbox_protocol::MailboxResponse;
use crate::referral::{MAX_REFERRAL_ADDRS, Referral};
use crate::runner::Runner;

/// How long the peers found for a mailbox are remembered as candidates
/// after the last answer that named them.
pub const FOUND_TTL: Duration = Duration::from_secs(60);
/// Most times one read asks further peers because answers named closer
/// ones (each time is one more round trip).
pub const MAX_REFERRAL_ROUNDS: u8 = 3;
/// Most mailboxes whose found peers are remembered (the oldest are
/// dropped: that costs one referral round trip later, never correctness).
const MAX_REMEMBERED: usize = 1024;

/// What was found for one mailbox.
struct Found {
    /// When it was last added to.
    at: Instant,
    /// Remote peers, closest to the mailbox first.
    peers: Vec<PeerId>,
}

/// The peers found per mailbox.
#[derive(Default)]
pub(crate) struct FoundPeers {
    done: HashMap<MailboxId, Found>,
    /// Reads that asked peers named by a referral, since start.
    pub(crate) followed: u64,
}

impl FoundPeers {
    /// The peers found closest to `mailbox`, closest first, while fresh.
    pub(crate) fn found(&self, mailbox: &MailboxId, now: Instant) -> &[PeerId] {
        match self.done.get(mailbox) {
            Some(found) if now.saturating_duration_since(found.at) < FOUND_TTL => &found.peers,
            _ => &[],
        }
    }

    /// Forgets `peer` everywhere (it failed to answer).
    pub(crate) fn forget(&mut self, peer: &PeerId) {
        for found in self.done.values_mut() {
            found.peers.retain(|p| p != peer);
        }
    }

    /// Adds `peers` to the found peers of `mailbox` (kept closest first by
    /// `distance`, at most `cap`) and marks them fresh as of `now` — also
    /// when nothing was new: an answer that names the same peers again
    /// confirms them, so a mailbox read every 30 s never pays the referral
    /// round again. Returns whether a peer was new.
    pub(crate) fn merge<D: Ord>(
        &mut self,
        mailbox: &MailboxId,
        peers: &[PeerId],
        now: Instant,
        cap: usize,
        distance: impl Fn(&PeerId) -> D,
    ) -> bool {
        let mut found = self.found(mailbox, now).to_vec();
        let before = found.len();
        for peer in peers {
            if !found.contains(peer) {
                found.push(*peer);
            }
        }
        let new = found.len() > before;
        if new {
            found.sort_by_key(|peer| distance(peer));
            found.truncate(cap);
        }
        if found.is_empty() {
            return false;
        }
        self.make_room(now);
        self.done.insert(
            *mailbox,
            Found {
                at: now,
                peers: found,
            },
        );
        new
    }

    fn make_room(&mut self, now: Instant) {
        if self.done.len() < MAX_REMEMBERED {
            return;
        }
        self.done
            .retain(|_, found| now.saturating_duration_since(found.at) < FOUND_TTL);
        if self.done.len() >= MAX_REMEMBERED {
            self.done.clear();
        }
    }
}

impl Runner {
    /// Completes a List or NextSeq answer about `mailbox` to `asker` with
    /// this node's referrals: the `factor` peers of its routing table
    /// closest to the mailbox (the asker left out), with their addresses.
    pub(crate) fn add_referrals(
        &mut self,
        mailbox: MailboxId,
        asker: PeerId,
        response: &mut MailboxResponse,
    ) {
        let closer = match response {
            MailboxResponse::List { closer, .. } | MailboxResponse::NextSeq { closer, .. } => {
                closer
            }
            _ => return,
        };
        let factor = self.config.replication.factor.get();
        let target = KBucketKey::new(RecordKey::new(&mailbox.0));
        let nearest: Vec<PeerId> = self
            .routed_by_distance(&target)
            .into_iter()
            .filter(|peer| *peer != asker)
            .take(factor)
            .collect();
        let mut referrals = Vec::with_capacity(nearest.len());
        for peer in nearest {
            let addrs = self.routed_addresses(peer, MAX_REFERRAL_ADDRS);
            referrals.push(Referral { peer, addrs });
        }
        *closer = referrals;
    }

    /// Takes in the referrals an answer about `mailbox` carried: their
    /// addresses into the swarm's address book, their peers into the found
    /// peers of the mailbox. Returns whether a peer was new there.
    pub(crate) fn learn_referrals(&mut self, mailbox: &MailboxId, closer: Vec<Referral>) -> bool {
        let mut peers = Vec::with_capacity(closer.len());
        for Referral { peer, addrs } in closer {
            if peer == self.local {
                continue;
            }
            for addr in addrs {
                self.swarm.add_peer_address(peer, addr);
            }
            peers.push(peer);
        }
        let target = KBucketKey::new(RecordKey::new(&mailbox.0));
        let cap = 2 * self.config.replication.factor.get();
        let new = self
            .found_peers
            .merge(mailbox, &peers, Instant::now(), cap, |peer| {
                KBucketKey::from(*peer).distance(&target)
            });
        if new {
            debug!(?mailbox, "referrals named new peers close to a mailbox");
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found peers stay fresh while answers keep naming them, and expire
    /// [`FOUND_TTL`] after the last answer that did.
    #[test]
    fn found_peers_are_refreshed_by_every_answer_that_names_them() {
        let mailbox = MailboxId([7; 32]);
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let rank = |peer: &PeerId| peers.iter().position(|p| p == peer);
        let mut found_peers = FoundPeers::default();
        let start = Instant::now();
        assert!(found_peers.merge(&mailbox, &peers[..2], start, 10, rank));
        let later = start + FOUND_TTL - Duration::from_secs(10);
        assert!(
            !found_peers.merge(&mailbox, &peers[..2], later, 10, rank),
            "nothing new"
        );
        let after_first_ttl = start + FOUND_TTL + Duration::from_secs(10);
        assert_eq!(found_peers.found(&mailbox, after_first_ttl), &peers[..2]);
        assert!(found_peers.found(&mailbox, later + FOUND_TTL).is_empty());
        assert!(found_peers.merge(&mailbox, &peers[2..], later, 2, rank));
        assert_eq!(
            found_peers.found(&mailbox, later),
            &peers[..2],
            "closest kept"
        );
        found_peers.forget(&peers[0]);
        assert_eq!(found_peers.found(&mailbox, later), &peers[1..2]);
    }
}
