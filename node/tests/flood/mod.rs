//! The store flood of issue 11, shared by `tests/store_flood.rs` and
//! `benches/store_flood.rs`: one attacker speaking raw libp2p (the mailbox
//! protocol v2, so it sees every refusal) with 100 free keys writes valid
//! records into its own feeds, into random mailboxes and into one victim's
//! inbox, on every node, until the nodes refuse.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response::{self, Event, Message, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use pigeonhole::identity::{Identity, PublicKey};
use pigeonhole::record::body::{BodyRules, FeedPost, SEALED_SCHEME_V1, feed_mailbox};
use pigeonhole::record::{Header, InstanceId, Kind, MailboxId, Record};
use pigeonhole::store::Store;
use pigeonhole_node::mailbox_protocol::{MailboxCodec, MailboxRequest, MailboxResponse, PutAnswer};
use pigeonhole_node::{Limits, Node, RefusalKind};

/// Where the attacker writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Its own feed mailboxes (`H(author ‖ name)`: free to mint).
    Feed,
    /// Mailboxes nobody reads.
    Random,
    /// The victim's inbox.
    Inbox,
}

/// The attacker: keys, a raw libp2p swarm and a record counter.
pub struct Attacker {
    pub keys: Vec<Identity>,
    swarm: Swarm<request_response::Behaviour<MailboxCodec>>,
    victim_inbox: MailboxId,
    now: u64,
    next: u32,
}

/// What one round of the flood got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub stored: usize,
    pub quota_refused: usize,
    pub other: usize,
}

impl Attacker {
    /// 100 keys (or `keys`), writing at clock time `now`.
    pub fn new(keys: usize, victim_inbox: MailboxId, now: u64) -> Self {
        let keys = (0..keys as u32)
            .map(|i| {
                let mut seed = [0xEE; 32];
                seed[..4].copy_from_slice(&i.to_le_bytes());
                Identity::from_secret_bytes(seed)
            })
            .collect();
        let swarm = super::support::raw_mailbox_swarm(
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(30))
                .with_max_concurrent_streams(256),
            Duration::from_secs(120),
        );
        Self {
            keys,
            swarm,
            victim_inbox,
            now,
            next: 0,
        }
    }

    /// A fresh valid record of key `key` for `target` (30-day feed posts,
    /// 14-day requests; ~560 bytes each).
    pub fn record(&mut self, key: usize, target: Target) -> Vec<u8> {
        self.next += 1;
        let n = self.next;
        let identity = &self.keys[key];
        let (kind, mailbox, body, life) = match target {
            Target::Feed => {
                let name = format!("junk{}", n % 4);
                let post = FeedPost {
                    feed_name: name.clone(),
                    title: format!("junk {n}"),
                    link: None,
                    summary: "x".repeat(400),
                    number: u64::from(n),
                    published_at: None,
                    replaces: None,
                };
                (
                    Kind::FeedPost,
                    feed_mailbox(&identity.public_key(), &name),
                    post.encode(),
                    30 * 86_400,
                )
            }
            Target::Random => (
                Kind::BuddyRequest,
                MailboxId::derive(b"flood", &n.to_le_bytes()),
                sealed(400),
                14 * 86_400,
            ),
            Target::Inbox => (
                Kind::BuddyRequest,
                self.victim_inbox,
                sealed(400),
                14 * 86_400,
            ),
        };
        let expires_at = self.now + life;
        let header = Header {
            kind,
            mailbox,
            instance: InstanceId {
                bucket: InstanceId::bucket_of(expires_at),
                seq: n,
            },
            sender: identity.public_key(),
            created_at: self.now,
            expires_at,
        };
        header.sign(identity, &body)
    }

    /// Sends `puts` (node, record) with up to `window` in flight; returns
    /// the answers' tally.
    pub async fn send(
        &mut self,
        puts: Vec<((PeerId, Multiaddr), Vec<u8>)>,
        window: usize,
    ) -> Round {
        let mut round = Round::default();
        let mut queue = puts.into_iter();
        let mut in_flight: HashSet<OutboundRequestId> = HashSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            while in_flight.len() < window {
                let Some(((peer, addr), bytes)) = queue.next() else {
                    break;
                };
                let id = self.swarm.behaviour_mut().send_request_with_addresses(
                    &peer,
                    MailboxRequest::Put(bytes),
                    vec![addr],
                );
                in_flight.insert(id);
                round.sent += 1;
            }
            if in_flight.is_empty() {
                return round;
            }
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .expect("the flood timed out");
            match event {
                SwarmEvent::Behaviour(Event::Message {
                    message:
                        Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if in_flight.remove(&request_id) => match response {
                    MailboxResponse::Put(PutAnswer::Stored | PutAnswer::AlreadyHeld) => {
                        round.stored += 1
                    }
                    MailboxResponse::Put(PutAnswer::Refused {
                        kind: RefusalKind::Quota,
                        ..
                    }) => round.quota_refused += 1,
                    _ => round.other += 1,
                },
                SwarmEvent::Behaviour(Event::OutboundFailure { request_id, .. })
                    if in_flight.remove(&request_id) =>
                {
                    round.other += 1
                }
                _ => {}
            }
        }
    }

    /// One round: every key writes one record of every target to every node.
    pub async fn round(&mut self, nodes: &[(PeerId, Multiaddr)]) -> Round {
        let mut puts = Vec::new();
        for key in 0..self.keys.len() {
            for target in [Target::Feed, Target::Random, Target::Inbox] {
                for node in nodes {
                    let record = self.record(key, target);
                    puts.push((node.clone(), record));
                }
            }
        }
        self.send(puts, 48).await
    }

    /// Rounds until most of one is refused (equal holders keep displacing
    /// each other, so some puts are always stored), at most `max_rounds`.
    /// Returns every round's tally.
    pub async fn flood_until_refused(
        &mut self,
        nodes: &[(PeerId, Multiaddr)],
        max_rounds: usize,
    ) -> Vec<Round> {
        let mut rounds = Vec::new();
        for _ in 0..max_rounds {
            let round = self.round(nodes).await;
            rounds.push(round);
            if round.quota_refused * 10 >= round.sent * 6 {
                break;
            }
        }
        rounds
    }
}

/// Bytes shaped like a sealed body with `ciphertext` bytes.
pub fn sealed(ciphertext: usize) -> Vec<u8> {
    let mut blob = vec![SEALED_SCHEME_V1];
    blob.resize(1 + 32 + 24 + 16 + ciphertext, 0xA5);
    blob
}

/// A node's peer id and its address without the `/p2p` part.
pub fn target_of(node: &Node) -> (PeerId, Multiaddr) {
    let addr = node.listen_addrs()[0]
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    (node.peer_id(), addr)
}

/// Small limits that a flood fills in seconds.
pub fn small_limits() -> Limits {
    Limits {
        max_records_per_sender_per_mailbox: 16,
        max_records_per_mailbox: 64,
        max_bytes_per_mailbox: 48 * 1024,
        max_bytes_per_sender: 16 * 1024,
        max_total_bytes: 192 * 1024,
        reserved_bytes: 48 * 1024,
        ..Limits::default()
    }
}

/// Every cap of `limits` holds in `store` (a stopped node's file); returns
/// the records held by each key of `attackers`.
pub fn assert_within_caps(store: &Store, limits: &Limits, what: &str) {
    let records: Vec<Record> = store.list().unwrap();
    let total: u64 = records.iter().map(|r| r.bytes().len() as u64).sum();
    assert!(
        total <= limits.max_total_bytes,
        "{what}: {total} bytes held over the {} cap",
        limits.max_total_bytes
    );
    let mut mailboxes: HashMap<MailboxId, (u64, u64)> = HashMap::new();
    let mut senders: HashMap<PublicKey, u64> = HashMap::new();
    let mut pairs: HashMap<(MailboxId, PublicKey), u64> = HashMap::new();
    for record in &records {
        let size = record.bytes().len() as u64;
        let entry = mailboxes.entry(record.header.mailbox).or_default();
        entry.0 += 1;
        entry.1 += size;
        *senders.entry(record.header.sender).or_default() += size;
        *pairs
            .entry((record.header.mailbox, record.header.sender))
            .or_default() += 1;
    }
    for (mailbox, (count, bytes)) in mailboxes {
        assert!(
            count <= limits.max_records_per_mailbox && bytes <= limits.max_bytes_per_mailbox,
            "{what}: mailbox {mailbox:?} holds {count} records, {bytes} bytes"
        );
    }
    for (sender, bytes) in senders {
        assert!(
            bytes <= limits.max_bytes_per_sender,
            "{what}: sender {sender} holds {bytes} bytes"
        );
    }
    for (_, count) in pairs {
        assert!(count <= limits.max_records_per_sender_per_mailbox);
    }
}
