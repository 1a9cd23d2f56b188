//! Who holds a mailbox: the replica set, with peers of standing in it.
//!
//! Why: placement by XOR distance alone hands a mailbox to whoever mints
//! ids next to it (ids cost nothing: 40 random sybils among 46 peers, or 20
//! ids ground to be closer to one inbox than every honest peer). So the
//! replica set of mailbox M is the union of
//!
//! * the `factor` peers closest to M among the peers of **standing**
//!   ([`crate::replicas`]: connected for `standing_after`, or trusted by
//!   the app) — this node counts as of standing to itself; and
//! * the `factor` peers closest to M overall, so that newcomers still get
//!   copies and a network where every peer is new still works.
//!
//! When every peer has standing (an honest LAN after two minutes) the two
//! sets are the same and nothing costs more than before. A publish must be
//! stored by at least one peer of standing ([`crate::protocol`]), a read
//! asks peers of standing first, and repair ([`crate::reconcile_driver`])
//! uses the same function, so every honest node of standing converges on
//! the same honest replicas whatever ids the sybils chose.
//!
//! A node that knows no peer of standing at all (it just started, or
//! everyone is new) is *blind*: its replica set is the closest peers
//! overall, and for its own publishes the peers it has been connected to
//! longest (the peer it was pointed at first: a QR code, mDNS, a bootstrap
//! address) stand in for peers of standing — a record must reach one of
//! them (asked one at a time: the longest connected first, the next when
//! it is silent or refuses) — so a newcomer's first publish is not
//! acknowledged by ground ids alone. Those peers pass the record on to their own replicas of standing
//! ([`Runner::relay_from_newcomer`]).

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p::kad::{KBucketKey, RecordKey};
use pigeonhole::record::MailboxId;
use tokio::time::Instant;
use tracing::trace;

use crate::error::NodeError;
use crate::queries::{PutOp, ReadAnswer, ReadOp};
use crate::reconcile::PassBudget;
use crate::runner::Runner;

/// Most further peers of standing a publish tries when none of the replica
/// set's peers of standing stored the record (in batches of `factor`).
pub const STANDING_SPARES: usize = 15;
/// Peers a blind node's publish sends to as stand-ins for peers of
/// standing before any of them failed (see [`Runner::placement`]).
pub const BLIND_STAND_INS: usize = 1;
/// Most offers of newcomers' records sent to replicas per second.
pub const RELAYS_PER_SECOND: u32 = 64;

/// The replica set of one mailbox as this node sees it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Placement {
    /// Remote replicas of standing, closest first (blind: the peers
    /// connected longest, which stand in for them on publishes only).
    pub standing: Vec<PeerId>,
    /// The remote peers among the `factor` closest overall, closest first.
    pub closest: Vec<PeerId>,
    /// This node is a replica.
    pub is_replica: bool,
    /// No known peer has standing (see the module docs).
    pub blind: bool,
    /// The next peers of standing after `standing` (blind: the next
    /// connected longest), closest first.
    pub standing_spares: Vec<PeerId>,
    /// The next-closest peers overall after `closest`, not in `standing`.
    pub other_spares: Vec<PeerId>,
}

impl Placement {
    /// The peers a publish goes to: peers of standing (or their blind
    /// stand-ins) and the closest overall, without repeats.
    pub fn targets(&self) -> Vec<PeerId> {
        let mut targets = self.standing.clone();
        for peer in &self.closest {
            if !targets.contains(peer) {
                targets.push(*peer);
            }
        }
        targets
    }

    /// The remote replicas proper (what repair and reads use): blind
    /// stand-ins are not replicas.
    pub fn replicas(&self) -> Vec<PeerId> {
        if self.blind {
            self.closest.clone()
        } else {
            self.targets()
        }
    }
}

/// Offers of newcomers' records, rate-limited.
pub(crate) struct Relays {
    budget: PassBudget,
    /// Offers sent since start.
    pub(crate) sent: u64,
}

impl Default for Relays {
    fn default() -> Self {
        Self {
            budget: PassBudget::new(std::time::Duration::from_secs(1), RELAYS_PER_SECOND),
            sent: 0,
        }
    }
}

impl Runner {
    /// The replica set of `mailbox` (see the module docs).
    pub(crate) fn placement(&mut self, mailbox: &MailboxId) -> Placement {
        let factor = self.config.replication.factor.get();
        let target = KBucketKey::new(RecordKey::new(&mailbox.0));
        let local = KBucketKey::from(self.local).distance(&target);
        let mut all: Vec<PeerId> = self.routed_by_distance(&target);
        // Connected peers of standing that the routing table left out (a
        // full k-bucket: ground ids share a prefix and can fill the bucket
        // a trusted buddy's node falls into) are candidates too; so are the
        // peers that referrals named closest to the mailbox (its bucket
        // here is often full of farther peers: see `crate::lookup`).
        let found = self.found_peers.found(mailbox, Instant::now());
        let mut extra: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|peer| self.standing.has_standing(peer) && !all.contains(peer))
            .copied()
            .collect();
        for peer in found {
            if !all.contains(peer) && !extra.contains(peer) {
                extra.push(*peer);
            }
        }
        if !extra.is_empty() {
            all.extend(extra);
            all.sort_by_key(|peer| KBucketKey::from(*peer).distance(&target));
        }
        let blind = !all.iter().any(|peer| self.standing.has_standing(peer));
        let mut placement = Placement {
            blind,
            ..Placement::default()
        };
        // Walk outwards from the mailbox, this node at its own distance.
        let (mut overall, mut of_standing) = (0, 0);
        let mut local_placed = false;
        for peer in all.iter().copied() {
            if !local_placed && KBucketKey::from(peer).distance(&target) > local {
                local_placed = true;
                placement.is_replica = if blind {
                    overall < factor
                } else {
                    of_standing < factor
                };
                overall += 1;
                of_standing += 1;
            }
            let standing = !blind && self.standing.has_standing(&peer);
            if overall < factor {
                placement.closest.push(peer);
            } else if !standing && placement.other_spares.len() < factor {
                placement.other_spares.push(peer);
            }
            overall += 1;
            if standing {
                if of_standing < factor {
                    placement.standing.push(peer);
                } else if placement.standing_spares.len() < STANDING_SPARES {
                    placement.standing_spares.push(peer);
                }
                of_standing += 1;
            }
        }
        if !local_placed {
            placement.is_replica = if blind {
                overall < factor
            } else {
                of_standing < factor
            };
        }
        let standing = placement.standing.clone();
        placement
            .other_spares
            .retain(|peer| !standing.contains(peer));
        if blind {
            // The peers connected longest stand in for peers of standing.
            let mut connected: Vec<(Instant, PeerId)> = all
                .iter()
                .filter_map(|peer| Some((self.standing.connected_since(peer)?, *peer)))
                .collect();
            connected.sort();
            // One at first: a publish needs one of them to store the
            // record, and a silent or refusing one is followed by the next
            // (`crate::protocol`); sending to `factor` of them up front
            // cost 5 extra puts per publish on a network where nobody has
            // standing yet (the scale bench: 10 puts instead of 5, and the
            // publish waited for the slowest of them).
            let mut longest = connected.into_iter().map(|(_, peer)| peer);
            placement.standing = longest.by_ref().take(BLIND_STAND_INS).collect();
            placement.standing_spares = longest.take(STANDING_SPARES).collect();
        }
        // Connected spares first: a departed peer still routed would only
        // time out.
        placement
            .other_spares
            .sort_by_key(|peer| !self.swarm.is_connected(peer));
        placement
    }

    /// The remote replicas of `mailbox` (peers of standing first) and
    /// whether this node is one: what repair uses.
    pub(crate) fn replica_set(&mut self, mailbox: &MailboxId) -> (Vec<PeerId>, bool) {
        let placement = self.placement(mailbox);
        (placement.replicas(), placement.is_replica)
    }

    /// A record of `mailbox` was newly stored here from a put by `from`.
    /// When `from` has no standing here (a newcomer, whose view of the
    /// network may be nothing but sybils), offer the record to this node's
    /// connected replicas of standing of the mailbox, which pull it
    /// (`/pigeonhole/reconcile/1.0.0` Offer; rate-limited).
    pub(crate) fn relay_from_newcomer(&mut self, from: PeerId, mailbox: MailboxId, id: [u8; 32]) {
        if from == self.local || self.standing.has_standing(&from) {
            return;
        }
        let placement = self.placement(&mailbox);
        let to: Vec<PeerId> = if placement.blind {
            placement.closest
        } else {
            placement.standing
        };
        for peer in to {
            if peer == from || !self.swarm.is_connected(&peer) {
                continue;
            }
            if self.relays.budget.available(std::time::Instant::now()) == 0 {
                trace!("relay budget spent; repair will carry the record");
                return;
            }
            self.relays.budget.spend(1);
            self.relays.sent += 1;
            self.offer_ids(peer, mailbox, vec![id]);
        }
    }
}

/// Credits the peers that answered a read with the records they served
/// that are *corroborated*: this node, or another peer of standing, served
/// the same record in the same read. A sybil can mint valid records (any
/// key may write a request into an inbox), so valid alone earns nothing.
pub(crate) fn credit_served(standing: &mut crate::replicas::Standing, op: &ReadOp) {
    let mut vouched: HashMap<[u8; 32], usize> = HashMap::new();
    let vouches: Vec<bool> = op
        .answered_by
        .iter()
        .map(|by| by.is_none_or(|peer| standing.has_standing(&peer)))
        .collect();
    for (answer, vouches) in op.answers.iter().zip(&vouches) {
        if let (ReadAnswer::Page { records, .. }, true) = (answer, vouches) {
            for (position, _) in records {
                *vouched.entry(position.record_id).or_default() += 1;
            }
        }
    }
    for ((answer, by), vouches) in op.answers.iter().zip(&op.answered_by).zip(&vouches) {
        let (ReadAnswer::Page { records, .. }, Some(peer)) = (answer, by) else {
            continue;
        };
        let own = usize::from(*vouches);
        let corroborated = records
            .iter()
            .filter(|(position, _)| vouched.get(&position.record_id).copied().unwrap_or(0) > own)
            .count();
        if corroborated > 0 {
            standing.served_valid(peer, corroborated);
        }
    }
}

/// Why a publish failed: the first refusal by a peer of standing (else by
/// any peer), or unavailable, saying when only peers without standing
/// acknowledged the record.
pub(crate) fn put_failure(op: &PutOp) -> NodeError {
    let refusal = op
        .refusals
        .iter()
        .find(|(peer, _, _)| op.standing.contains(peer))
        .or(op.refusals.first());
    match refusal {
        Some((_, kind, reason)) => NodeError::Rejected {
            kind: *kind,
            reason: format!(
                "{reason} ({} of {} peers refused; {} without standing acknowledged)",
                op.refusals.len(),
                op.refusals.len() + op.silent + op.acks,
                op.acks
            ),
        },
        None if op.acks > 0 => NodeError::Unavailable(format!(
            "no peer of standing stored the record ({} peers without standing \
             acknowledged it, {} did not answer)",
            op.acks, op.silent
        )),
        None => NodeError::Unavailable(format!("none of {} replicas answered", op.silent)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use pigeonhole::clock::ManualClock;
    use pigeonhole::mailbox::ListCursor;
    use pigeonhole::record::InstanceId;

    use super::*;
    use crate::queries::ReadKind;
    use crate::replicas::Standing;

    fn page(ids: &[u8]) -> ReadAnswer {
        ReadAnswer::Page {
            records: ids
                .iter()
                .map(|id| {
                    let cursor = ListCursor {
                        instance: InstanceId { bucket: 1, seq: 0 },
                        record_id: [*id; 32],
                    };
                    (cursor, vec![*id])
                })
                .collect(),
            more: false,
            last: None,
        }
    }

    #[test]
    fn only_corroborated_records_earn_credit() {
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let mut standing = Standing::new(Duration::from_secs(3600), clock);
        let (honest, sybil) = (PeerId::random(), PeerId::random());
        standing.connected(sybil);
        standing.connected(honest);
        let (reply, _) = tokio::sync::oneshot::channel();
        let op = ReadOp {
            kind: ReadKind::NextSeq {
                mailbox: MailboxId([0; 32]),
                bucket: 1,
                reply,
            },
            mailbox: MailboxId([0; 32]),
            order: Vec::new(),
            asked: Vec::new(),
            failed: Vec::new(),
            referral_rounds: 0,
            waiting: 0,
            // This node holds record 1; the honest peer serves 1, the
            // sybil a record it minted (2).
            answers: vec![page(&[1]), page(&[1]), page(&[2])],
            answered_by: vec![None, Some(honest), Some(sybil)],
            local_pending: false,
            verified: Default::default(),
        };
        credit_served(&mut standing, &op);
        let mut peers = vec![sybil, honest];
        standing.rank(&mut peers);
        assert_eq!(peers, vec![honest, sybil], "the sybil connected first");
        assert!(!standing.has_standing(&honest), "serving only ranks");
    }
}
