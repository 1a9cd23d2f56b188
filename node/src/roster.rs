//! The roster: every node of a LAN knows every other (peer protocol
//! version 5, `/pigeonhole/roster/1.0.0`).
//!
//! Why: a read asks the two replicas of a mailbox it believes closest, and
//! is exact only if it knows the mailbox's replicas. With Kademlia's 20
//! peers per k-bucket, a node of a 200-phone network knows about a fifth of
//! the half of the network that shares no id prefix with it, so the first
//! read of most mailboxes asked two peers that were not replicas and paid a
//! referral round ([`crate::lookup`]): 3.0 requests per mailbox instead of
//! 2.0 at 20 nodes. The network this SDK serves is one LAN (a meetup, a
//! classroom): hundreds of peers, not millions. Knowing all of them costs
//! about 100 bytes each, so the node keeps a *one-hop* routing table, as
//! one-hop DHTs (Gupta, Liskov and Rodrigues, "One Hop Lookups for
//! Peer-to-Peer Overlays", 2003) and Dynamo-style stores do:
//!
//! * the k-buckets hold [`ROUTING_BUCKET_SIZE`] peers instead of 20, so on
//!   a LAN every peer mDNS finds (it dials them all) stays routed;
//! * where mDNS does not reach (multicast filtered, peers added from a QR
//!   code), a node asks a connected peer for its *roster*: the routed peers
//!   that peer knows to have been present within [`ROSTER_TTL`], up to
//!   [`MAX_ROSTER`] with 4 addresses and an *age* each (seconds since
//!   someone was last connected to it: 0 when the answering peer is).
//!   Ages only grow as they are passed on, and only a connection makes
//!   them young again, so a peer that left drops out of every roster
//!   after [`ROSTER_TTL`] instead of being gossiped around for ever (the
//!   way gossip membership protocols age their heartbeats). The answered
//!   peers enter the routing table as not connected; Kademlia drops a
//!   routed peer whose addresses all fail to dial.
//!
//! When: on the first connection (from that peer), on every explicit
//! bootstrap ([`crate::Node::bootstrap`], from the peer connected longest —
//! of standing first: the entry point of a QR code knows everyone who
//! joined through it), and every [`ROSTER_INTERVAL`] from the connected
//! peers in turn, so that peers who joined elsewhere spread — every
//! [`ROSTER_FOLLOW_UP`] instead until [`QUIET_PULLS_TO_SETTLE`] pulls in a
//! row taught nothing (many phones arriving at once: the entry peer had
//! not met them all yet, its neighbours had). One
//! request of a few KiB per node per interval once settled; referrals
//! still correct a roster that is behind.
//!
//! Push-pull: the request carries the asker's own roster, which the asked
//! peer takes in (from a peer of standing, or from anyone while it knows
//! no peer of standing). Why: with pull alone a peer known to few (say the
//! entry point refused its first connection: 32 handshakes at a time) is
//! learned by the others only when they happen to ask one of those few,
//! and most nodes had settled before that (the 200-node bench: a reader
//! knew 192 of 199 peers after a minute). With push-pull the peer
//! everybody asks first learns everybody's roster and hands out the
//! union.
//!
//! Wire: request and answer are each a referral list ([`crate::referral`])
//! of at most [`MAX_ROSTER`] peers followed by one `u16` age in seconds per
//! peer (saturating). A node that knows more sends those closest to a
//! random key, so that repeated exchanges cover everyone.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use futures::prelude::*;
use libp2p::kad::{KBucketKey, RecordKey};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::{PeerId, StreamProtocol};
use pigeonhole::codec::{Reader, Writer};
use tokio::time::Instant;
use tracing::debug;

use crate::mailbox_protocol::{bad, read_bounded};
use crate::referral::{MAX_REFERRAL_ADDRS, Referral, decode_at_most, encode_at_most};
use crate::runner::Runner;

/// The roster exchange's stream name.
pub const ROSTER_PROTOCOL: StreamProtocol = StreamProtocol::new("/pigeonhole/roster/1.0.0");
/// Most peers one roster answer names (the referral list's `u8` count).
pub const MAX_ROSTER: usize = 255;
/// Peers a k-bucket holds (Kademlia's default is 20): a LAN's peers all fit.
pub const ROUTING_BUCKET_SIZE: usize = 256;
/// How often a node asks one of its connected peers for its roster once
/// its roster is settled.
pub const ROSTER_INTERVAL: Duration = Duration::from_secs(120);
/// How soon the next pull follows while the roster is not settled (a node
/// that just joined, or a LAN where many arrived at once, converges in a
/// few pulls; then back to [`ROSTER_INTERVAL`]). Also the timer's tick.
pub const ROSTER_FOLLOW_UP: Duration = Duration::from_secs(5);
/// Pulls in a row that taught nothing (or failed) after which the roster
/// is settled: one peer that knows no more than this node does not prove
/// that nobody does (a peer the entry point never met is known to others).
const QUIET_PULLS_TO_SETTLE: u8 = 5;
/// How long a peer nobody has been connected to stays in roster answers.
pub const ROSTER_TTL: Duration = Duration::from_secs(15 * 60);
/// Most peers whose last presence is remembered (sybils cannot grow it).
const MAX_SEEN: usize = 4096;
/// Largest roster request or answer read: `MAX_ROSTER` peers of 4 addresses of 255
/// bytes would be ~270 KiB; real answers are ~100 bytes a peer.
const MAX_MESSAGE: usize = 320 * 1024;

/// A roster request: the asker's own roster (push-pull: the asked peer
/// learns what the asker knows as the asker learns what it knows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterRequest(pub Vec<RosterEntry>);

/// One peer of a roster answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterEntry {
    /// The peer and its addresses.
    pub peer: Referral,
    /// Seconds since someone was last connected to it (0: the answering
    /// peer is now).
    pub age_secs: u16,
}

/// The roster exchange's codec (see the module docs for the format).
#[derive(Clone, Default)]
pub struct RosterCodec;

/// Encodes a roster answer (the first [`MAX_ROSTER`] entries).
pub fn encode_roster(entries: &[RosterEntry]) -> Vec<u8> {
    let entries = &entries[..entries.len().min(MAX_ROSTER)];
    let peers: Vec<Referral> = entries.iter().map(|entry| entry.peer.clone()).collect();
    let mut writer = Writer::with_capacity(64 * entries.len() + 1);
    encode_at_most(&mut writer, &peers, MAX_ROSTER);
    for entry in entries {
        writer.u16(entry.age_secs);
    }
    writer.into_bytes()
}

/// Decodes a roster answer; anything but one well-formed list is an error.
pub fn decode_roster(bytes: &[u8]) -> io::Result<Vec<RosterEntry>> {
    let mut reader = Reader::new(bytes);
    let peers = decode_at_most(&mut reader, MAX_ROSTER)?;
    let mut entries = Vec::with_capacity(peers.len());
    for peer in peers {
        let age_secs = reader.u16("peer age").map_err(bad)?;
        entries.push(RosterEntry { peer, age_secs });
    }
    reader.finish().map_err(bad)?;
    Ok(entries)
}

impl request_response::Codec for RosterCodec {
    type Protocol = StreamProtocol;
    type Request = RosterRequest;
    type Response = Vec<RosterEntry>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<RosterRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_roster(&read_bounded(io, MAX_MESSAGE).await?).map(RosterRequest)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<RosterEntry>>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_roster(&read_bounded(io, MAX_MESSAGE).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: RosterRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_roster(&request.0)).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        peers: Vec<RosterEntry>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&encode_roster(&peers)).await?;
        io.close().await
    }
}

/// This node's side of the exchange.
#[derive(Default)]
pub(crate) struct Roster {
    /// The request in flight (one at a time).
    asking: Option<OutboundRequestId>,
    /// When the last request was sent.
    last: Option<Instant>,
    /// Pulls in a row that taught nothing or failed: below
    /// [`QUIET_PULLS_TO_SETTLE`] the next follows after [`ROSTER_FOLLOW_UP`]
    /// rather than [`ROSTER_INTERVAL`].
    quiet: u8,
    /// Requests sent since start.
    pub(crate) pulls: u64,
    /// When each peer was last known present (connected to this node, or
    /// to a peer whose roster said so).
    seen: HashMap<PeerId, Instant>,
}

impl Roster {
    /// `peer` was present at `at`.
    pub(crate) fn seen(&mut self, peer: PeerId, at: Instant) {
        if self.seen.len() >= MAX_SEEN && !self.seen.contains_key(&peer) {
            let now = Instant::now();
            self.seen
                .retain(|_, last| now.saturating_duration_since(*last) < ROSTER_TTL);
            if self.seen.len() >= MAX_SEEN {
                return;
            }
        }
        let last = self.seen.entry(peer).or_insert(at);
        *last = (*last).max(at);
    }

    /// Seconds from when `peer` was last known present to `now`, while
    /// under [`ROSTER_TTL`].
    fn age(&self, peer: &PeerId, now: Instant) -> Option<u16> {
        let elapsed = now.saturating_duration_since(*self.seen.get(peer)?);
        (elapsed < ROSTER_TTL).then(|| u16::try_from(elapsed.as_secs()).unwrap_or(u16::MAX))
    }
}

impl Runner {
    /// Asks `from` (else the peer connected longest, of standing first) for
    /// its roster; unless `forced` (an explicit bootstrap), not while a
    /// request is in flight or before the next pull is due.
    pub(crate) fn pull_roster(&mut self, from: Option<PeerId>, forced: bool) {
        let gap = if self.roster.quiet < QUIET_PULLS_TO_SETTLE {
            ROSTER_FOLLOW_UP
        } else {
            ROSTER_INTERVAL
        };
        let due = self.roster.last.is_none_or(|last| last.elapsed() >= gap);
        let idle = self.roster.asking.is_none();
        if !self.config.one_hop_routing || !(forced || (idle && due)) {
            return;
        }
        let Some(peer) = from.or_else(|| self.longest_connected()) else {
            return;
        };
        debug!(%peer, "asking a peer for its roster");
        let own = self.roster_entries(peer);
        let id = self
            .swarm
            .behaviour_mut()
            .roster
            .send_request(&peer, RosterRequest(own));
        self.roster.asking = Some(id);
        self.roster.last = Some(Instant::now());
        self.roster.pulls += 1;
        self.publish_status();
    }

    /// The first peer this node connects to tells it who else is here
    /// (later connections do not trigger pulls: a sybil that connects must
    /// not be asked whenever a pull is due).
    pub(crate) fn pull_roster_from_first_peer(&mut self, peer: PeerId) {
        if self.roster.last.is_none() {
            self.pull_roster(Some(peer), false);
        }
    }

    /// The timer's pull, when due: the connected peers of standing in turn
    /// (any connected peer while none has standing), so that a sybil's
    /// made-up roster is not asked for once honest peers have standing.
    pub(crate) fn pull_roster_in_turn(&mut self) {
        let mut connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if connected
            .iter()
            .any(|peer| self.standing.has_standing(peer))
        {
            connected.retain(|peer| self.standing.has_standing(peer));
        }
        if connected.is_empty() {
            return;
        }
        connected.sort_unstable();
        let peer = connected[self.roster.pulls as usize % connected.len()];
        self.pull_roster(Some(peer), false);
    }

    fn longest_connected(&self) -> Option<PeerId> {
        self.swarm
            .connected_peers()
            .filter_map(|peer| {
                let since = self.standing.connected_since(peer)?;
                Some((!self.standing.has_standing(peer), since, *peer))
            })
            .min()
            .map(|(_, _, peer)| peer)
    }

    /// The routed peers known present within [`ROSTER_TTL`], with their
    /// ages, `leave_out` left out: what this node's roster says.
    fn roster_entries(&mut self, leave_out: PeerId) -> Vec<RosterEntry> {
        let target = KBucketKey::new(RecordKey::new(&PeerId::random().to_bytes()));
        let now = Instant::now();
        let mut entries = Vec::new();
        for peer in self.routed_by_distance(&target) {
            if entries.len() == MAX_ROSTER {
                break;
            }
            let age = if self.swarm.is_connected(&peer) {
                Some(0)
            } else {
                self.roster.age(&peer, now)
            };
            let Some(age_secs) = age.filter(|_| peer != leave_out) else {
                continue;
            };
            let addrs = self.routed_addresses(peer, MAX_REFERRAL_ADDRS);
            if !addrs.is_empty() {
                entries.push(RosterEntry {
                    peer: Referral { peer, addrs },
                    age_secs,
                });
            }
        }
        entries
    }

    /// Answers `asker` with this node's roster, and takes in the asker's
    /// when the asker has standing or this node knows no peer of standing
    /// (a sybil's made-up roster is not taken in once honest peers have
    /// standing).
    fn answer_roster(
        &mut self,
        asker: PeerId,
        request: RosterRequest,
        channel: ResponseChannel<Vec<RosterEntry>>,
    ) {
        let peers = self.roster_entries(asker);
        debug!(%asker, peers = peers.len(), "answering a roster request");
        let _ = self
            .swarm
            .behaviour_mut()
            .roster
            .send_response(channel, peers);
        let blind = !self
            .swarm
            .connected_peers()
            .any(|peer| self.standing.has_standing(peer));
        if blind || self.standing.has_standing(&asker) {
            self.learn_roster(asker, request.0);
        }
    }

    /// Takes in a roster: its peers enter the routing table. Returns how
    /// many were new there.
    fn learn_roster(&mut self, from: PeerId, entries: Vec<RosterEntry>) -> usize {
        let before = self.routing_size();
        let now = Instant::now();
        for RosterEntry { peer, age_secs } in entries {
            let Referral { peer, addrs } = peer;
            let age = Duration::from_secs(u64::from(age_secs));
            if peer == self.local || age >= ROSTER_TTL {
                continue;
            }
            if let Some(at) = now.checked_sub(age) {
                self.roster.seen(peer, at);
            }
            for addr in addrs {
                self.kad().add_address(&peer, addr);
            }
        }
        let learned = self.routing_size().saturating_sub(before);
        debug!(%from, learned, "roster taken in");
        self.publish_status();
        learned
    }

    pub(crate) fn on_roster(
        &mut self,
        event: request_response::Event<RosterRequest, Vec<RosterEntry>>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.answer_roster(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if self.roster.asking == Some(request_id) {
                    self.roster.asking = None;
                }
                let learned = self.learn_roster(peer, response);
                self.roster.quiet = if learned > 0 {
                    0
                } else {
                    self.roster.quiet.saturating_add(1)
                };
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %error, "roster request failed");
                if self.roster.asking == Some(request_id) {
                    self.roster.asking = None;
                    // The next peer is asked soon (the first peer met may
                    // be an older version or a raw libp2p peer), a few
                    // times, then at the normal interval.
                    self.roster.quiet = self.roster.quiet.saturating_add(1);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer's age grows from its last known presence; the youngest
    /// report wins; past the TTL it is no longer passed on (a peer that
    /// left is not gossiped for ever); the memory is bounded.
    #[tokio::test]
    async fn ages_grow_until_a_connection_and_expire() {
        let (mut roster, peer, t0) = (Roster::default(), PeerId::random(), Instant::now());
        assert_eq!(roster.age(&peer, t0), None, "never seen");
        roster.seen(peer, t0);
        assert_eq!(roster.age(&peer, t0 + Duration::from_secs(100)), Some(100));
        roster.seen(peer, t0 + Duration::from_secs(60));
        roster.seen(peer, t0 + Duration::from_secs(30));
        assert_eq!(
            roster.age(&peer, t0 + Duration::from_secs(100)),
            Some(40),
            "the latest presence counts"
        );
        let expired = t0 + Duration::from_secs(60) + ROSTER_TTL;
        assert_eq!(roster.age(&peer, expired), None);
        for _ in 0..MAX_SEEN + 10 {
            roster.seen(PeerId::random(), t0);
        }
        assert!(roster.seen.len() <= MAX_SEEN);
    }

    #[test]
    fn roster_answers_round_trip_and_limits_hold() {
        let peers: Vec<RosterEntry> = (0..300)
            .map(|i| RosterEntry {
                peer: Referral {
                    peer: PeerId::random(),
                    addrs: vec![
                        format!("/ip4/10.0.{}.{}/tcp/4001", i / 256, i % 256)
                            .parse()
                            .unwrap(),
                    ],
                },
                age_secs: i as u16 * 3,
            })
            .collect();
        let bytes = encode_roster(&peers);
        let decoded = decode_roster(&bytes).unwrap();
        assert_eq!(decoded.len(), MAX_ROSTER, "cut to the limit");
        assert_eq!(decoded[..], peers[..MAX_ROSTER]);
        assert_eq!(decode_roster(&encode_roster(&[])).unwrap(), Vec::new());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_roster(&trailing).is_err(), "trailing bytes");
        assert!(
            decode_roster(&bytes[..bytes.len() - 1]).is_err(),
            "cut short"
        );
        assert!(decode_roster(&[]).is_err(), "no count");
        assert!(decode_roster(&[1]).is_err(), "a peer missing");
    }
}
