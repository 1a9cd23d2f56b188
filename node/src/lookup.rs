//! Finding a mailbox's replicas before reading it.
//!
//! Why: a read asks the replicas of a mailbox as this node's routing table
//! sees them. Right after a (re)start that table holds the one or two peers
//! the node dialled, so the "replicas" it would ask are merely the closest
//! peers it happens to know; they may hold nothing of the mailbox, and the
//! read returns an incomplete inbox. So before the first read of a mailbox
//! (and again once [`LOOKUP_TTL`] has passed) the node runs one Kademlia
//! closest-peers lookup on the mailbox id, learns the `factor` peers
//! really closest to it (not Kademlia's 20, which cost about 40 requests a
//! lookup at 200 nodes: placement needs only the replicas, its spares come
//! from the routing table), and only then asks them. Reads of the same
//! mailbox that arrive while the lookup runs wait for it (one lookup per
//! mailbox at a time). A lookup that fails or times out still lets the reads go ahead
//! with what the routing table knows: a lookup improves a read, it never
//! blocks one. A node with no peers at all reads its own store at once.
//!
//! The peers a lookup found are also *remembered* for [`LOOKUP_TTL`] and
//! placement ([`crate::placement`]) takes them as candidates next to the
//! routing table. Why: the routing table cannot be relied on to hold them.
//! Its k-buckets keep 20 peers each, and the peers closest to a mailbox
//! all fall into one bucket of this node (the one the mailbox id falls
//! into); on a network of more than about 40 peers that bucket is often
//! full of other, connected peers, and libp2p then refuses the newly found
//! ones (`add_address` fails). Placement read from the routing table alone
//! then named the closest peers *this node happened to keep*: at 100 nodes
//! on the memory transport a reader that had just looked the mailbox up
//! asked two peers outside the true replica set and found 4 of 40 records,
//! although the 5 true replicas held all 40 (`node/tests/scale_delivery.rs`).

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::kad::{GetClosestPeersError, GetClosestPeersOk, QueryId, RoutingUpdate};
use pigeonhole::record::MailboxId;
use tokio::time::Instant;
use tracing::debug;

use crate::queries::ReadKind;
use crate::runner::Runner;

/// How long the closest peers found for a mailbox are trusted. Within it
/// the routing table (which the lookup filled) is the replica set; the
/// reconciliation on every connection keeps replicas complete meanwhile.
pub const LOOKUP_TTL: Duration = Duration::from_secs(60);
/// Most mailboxes whose lookup time is remembered (older ones are looked
/// up again, which costs one lookup, never correctness).
const MAX_REMEMBERED: usize = 1024;

/// What a finished lookup found.
struct Found {
    /// When the lookup finished.
    at: Instant,
    /// The remote peers found closest to the mailbox, closest first.
    peers: Vec<PeerId>,
}

/// Lookups done and in flight.
#[derive(Default)]
pub(crate) struct Lookups {
    done: HashMap<MailboxId, Found>,
    in_flight: HashMap<QueryId, (MailboxId, Vec<ReadKind>)>,
    by_mailbox: HashMap<MailboxId, QueryId>,
    /// Lookups started since the node started.
    pub(crate) started: u64,
    /// Kademlia requests the finished lookups sent.
    pub(crate) requests: u64,
}

impl Lookups {
    fn fresh(&self, mailbox: &MailboxId, now: Instant) -> bool {
        self.done
            .get(mailbox)
            .is_some_and(|found| now.saturating_duration_since(found.at) < LOOKUP_TTL)
    }

    fn mark_done(&mut self, mailbox: MailboxId, peers: Vec<PeerId>, now: Instant) {
        if self.done.len() >= MAX_REMEMBERED && !self.done.contains_key(&mailbox) {
            self.done
                .retain(|_, found| now.saturating_duration_since(found.at) < LOOKUP_TTL);
            if self.done.len() >= MAX_REMEMBERED {
                self.done.clear();
            }
        }
        self.done.insert(mailbox, Found { at: now, peers });
    }

    /// The peers the last lookup of `mailbox` found closest to it, closest
    /// first, while that lookup is fresh (none otherwise).
    pub(crate) fn found(&self, mailbox: &MailboxId, now: Instant) -> &[PeerId] {
        match self.done.get(mailbox) {
            Some(found) if now.saturating_duration_since(found.at) < LOOKUP_TTL => &found.peers,
            _ => &[],
        }
    }

    /// Whether `id` is one of these lookups.
    pub(crate) fn owns(&self, id: &QueryId) -> bool {
        self.in_flight.contains_key(id)
    }
}

impl Runner {
    /// Starts a read of `mailbox`, after a closest-peers lookup when the
    /// replica set is not known with confidence (see the module docs).
    pub(crate) fn start_read(&mut self, mailbox: MailboxId, kind: ReadKind) {
        let now = Instant::now();
        if self.routing_size() == 0 || self.lookups.fresh(&mailbox, now) {
            return self.read_now(mailbox, kind);
        }
        if let Some(id) = self.lookups.by_mailbox.get(&mailbox).copied()
            && let Some((_, waiting)) = self.lookups.in_flight.get_mut(&id)
        {
            waiting.push(kind);
            return;
        }
        // The `factor` closest are all placement needs (spares come from
        // the routing table): the lookup ends once those have answered,
        // instead of waiting for Kademlia's 20.
        let factor = self.config.replication.factor;
        let id = self.kad().get_n_closest_peers(mailbox.0.to_vec(), factor);
        self.lookups.started += 1;
        debug!(?id, "looking up a mailbox's replicas before reading it");
        self.lookups.in_flight.insert(id, (mailbox, vec![kind]));
        self.lookups.by_mailbox.insert(mailbox, id);
    }

    /// A mailbox lookup finished: remember the peers found (placement takes
    /// them as candidates from now on, whether or not the routing table
    /// had room for them) and run the reads that waited.
    pub(crate) fn on_closest_peers(
        &mut self,
        id: QueryId,
        result: Result<GetClosestPeersOk, GetClosestPeersError>,
    ) {
        let Some((mailbox, waiting)) = self.lookups.in_flight.remove(&id) else {
            return;
        };
        self.lookups.by_mailbox.remove(&mailbox);
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(GetClosestPeersError::Timeout { peers, .. }) => {
                debug!("mailbox lookup timed out; reading with what was found");
                peers
            }
        };
        let (mut found, mut unrouted) = (Vec::with_capacity(peers.len()), 0);
        for peer in peers {
            if peer.peer_id == self.local {
                continue;
            }
            let mut routed = false;
            for addr in peer.addrs {
                routed |= matches!(
                    self.kad().add_address(&peer.peer_id, addr),
                    RoutingUpdate::Success
                );
            }
            unrouted += usize::from(!routed);
            found.push(peer.peer_id);
        }
        if unrouted > 0 {
            debug!(
                unrouted,
                found = found.len(),
                "the routing table had no room for some of a mailbox's closest peers"
            );
        }
        self.lookups.mark_done(mailbox, found, Instant::now());
        for kind in waiting {
            self.read_now(mailbox, kind);
        }
    }
}
