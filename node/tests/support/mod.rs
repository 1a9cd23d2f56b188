//! Helpers for node tests: loopback clusters on a shared manual clock, a
//! raw plain-Kademlia client, bounded waits; nodes in their own processes
//! (`peer_process`).

#![allow(dead_code)]

pub mod peer_process;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::kad::{self, Quorum, store::MemoryStore};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, noise, tcp, yamux};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Mailbox, MailboxConfig};
use pigeonhole::record::{DhtKey, Policy, Validator};
use pigeonhole_node::behaviour::{IDENTIFY_PROTOCOL, KAD_PROTOCOL};
use pigeonhole_node::mailbox_protocol::{
    MAILBOX_PROTOCOL, MailboxCodec, MailboxRequest, MailboxResponse, PutAnswer,
};
use pigeonhole_node::{Node, NodeConfig};

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A loopback node config on `clock`.
pub fn node_config(clock: &Arc<ManualClock>) -> NodeConfig {
    NodeConfig {
        clock: clock.clone(),
        ..NodeConfig::loopback()
    }
}

/// Starts `n` loopback nodes, all introduced to the first, and waits until
/// every routing table holds every other node.
pub async fn cluster(n: usize, clock: &Arc<ManualClock>) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(Node::start(node_config(clock)).await.expect("start"));
    }
    connect_all(&nodes).await;
    nodes
}

/// Lets the honest nodes of `nodes` gain standing with each other by age:
/// advances the shared clock by the default `standing_after` (standing is
/// judged on the node's clock) and checks that every node sees every other
/// as a peer of standing. Peers that connect afterwards (sybils) stay
/// without standing for as long as the test does not advance the clock
/// again, however slow the machine.
pub async fn age_cluster(nodes: &[Node], clock: &Arc<ManualClock>) {
    let after = pigeonhole_node::ReplicationConfig::default().standing_after;
    clock.advance(after.as_secs());
    wait_for_standing(nodes, WAIT).await;
}

/// Waits (at most `timeout`) until every node sees every other as a peer
/// of standing; panics if they do not.
pub async fn wait_for_standing(nodes: &[Node], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    for node in nodes {
        for other in nodes {
            if other.peer_id() == node.peer_id() {
                continue;
            }
            while !node.has_standing(other.peer_id()).await.expect("standing") {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} never gained standing with {}",
                    other.peer_id(),
                    node.peer_id()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Introduces every node to the first and waits for full routing tables.
pub async fn connect_all(nodes: &[Node]) {
    let first = nodes[0].listen_addrs()[0].clone();
    for node in &nodes[1..] {
        node.add_peer(first.clone()).await.expect("add peer");
    }
    let n = nodes.len();
    for attempt in 0..3 {
        let mut complete = true;
        for node in nodes {
            let status = node.wait_for_peers(n - 1, Duration::from_secs(5)).await;
            complete &= status.routing_peers >= n - 1;
        }
        if complete {
            return;
        }
        // A node that bootstrapped before later nodes joined learns them
        // from a fresh lookup.
        for node in nodes {
            let _ = node.bootstrap().await;
        }
        eprintln!("routing tables incomplete after attempt {attempt}; bootstrapped again");
    }
    for (i, node) in nodes.iter().enumerate() {
        assert!(
            node.status().routing_peers >= n - 1,
            "node {i} knows only {:?}",
            node.status()
        );
    }
}

pub async fn stop_all(nodes: &[Node]) {
    for node in nodes {
        node.stop().await;
    }
}

pub fn mailbox(node: &Node, clock: &Arc<ManualClock>) -> Mailbox<Node> {
    Mailbox::new(
        node.clone(),
        Validator::new(Policy::default()),
        clock.clone(),
        MailboxConfig::default(),
    )
}

/// A plain rust-libp2p Kademlia peer speaking our protocol name, with the
/// in-memory store and no validation: what a hostile or buggy peer sends.
#[derive(NetworkBehaviour)]
pub struct RawBehaviour {
    pub kad: kad::Behaviour<MemoryStore>,
}

pub struct RawClient {
    pub swarm: Swarm<RawBehaviour>,
}

impl RawClient {
    pub async fn new() -> Self {
        let mut swarm = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let mut cfg = kad::Config::new(KAD_PROTOCOL);
                cfg.set_max_packet_size(1024 * 1024);
                let mut kad = kad::Behaviour::with_config(id, MemoryStore::new(id), cfg);
                kad.set_mode(Some(kad::Mode::Client));
                RawBehaviour { kad }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        Self { swarm }
    }

    /// Sends every `(key, value)` straight to `target`, `window` at a time,
    /// and waits for every put to be answered. Returns how many the target
    /// acknowledged.
    pub async fn put_all(
        &mut self,
        target: PeerId,
        addr: Multiaddr,
        records: Vec<(DhtKey, Vec<u8>)>,
        window: usize,
    ) -> usize {
        let addr: Multiaddr = addr
            .iter()
            .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
            .collect();
        self.swarm.behaviour_mut().kad.add_address(&target, addr);
        let mut queue = records.into_iter();
        let mut in_flight = std::collections::HashSet::new();
        let mut acked = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            while in_flight.len() < window {
                let Some((key, value)) = queue.next() else {
                    break;
                };
                let record = kad::Record::new(key.0.to_vec(), value);
                let id = self.swarm.behaviour_mut().kad.put_record_to(
                    record,
                    std::iter::once(target),
                    Quorum::One,
                );
                in_flight.insert(id);
            }
            if in_flight.is_empty() {
                return acked;
            }
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .expect("raw client timed out");
            if let SwarmEvent::Behaviour(RawBehaviourEvent::Kad(
                kad::Event::OutboundQueryProgressed {
                    id,
                    result: kad::QueryResult::PutRecord(result),
                    ..
                },
            )) = event
                && in_flight.remove(&id)
                && result.is_ok()
            {
                acked += 1;
            }
        }
    }
}

/// A raw libp2p swarm (TCP, noise, yamux) with a fresh identity and only
/// the behaviour `make` builds: what hostile or foreign peers are made of.
pub fn raw_swarm<B: NetworkBehaviour>(
    make: impl FnOnce(&libp2p::identity::Keypair) -> B,
    idle: Duration,
) -> Swarm<B> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(make)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build()
}

/// Makes `swarm` listen on a free loopback port; returns the address.
pub async fn listen_on_loopback<B: NetworkBehaviour>(swarm: &mut Swarm<B>) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address;
        }
    }
}

/// A raw libp2p swarm that speaks only the mailbox protocol v2, with no
/// validation of its own: the hostile peers' transport.
pub fn raw_mailbox_swarm(
    config: libp2p::request_response::Config,
    idle: Duration,
) -> Swarm<libp2p::request_response::Behaviour<MailboxCodec>> {
    use libp2p::request_response::{self, ProtocolSupport};
    raw_swarm(
        |_| request_response::Behaviour::new([(MAILBOX_PROTOCOL, ProtocolSupport::Full)], config),
        idle,
    )
}

pub struct RawMailboxClient {
    pub swarm: Swarm<libp2p::request_response::Behaviour<MailboxCodec>>,
}

impl RawMailboxClient {
    pub async fn new() -> Self {
        let swarm = raw_mailbox_swarm(
            libp2p::request_response::Config::default(),
            Duration::from_secs(60),
        );
        Self { swarm }
    }

    /// Sends one request to `target` and returns its answer (`None`: the
    /// request failed, e.g. the stream was refused).
    pub async fn request(
        &mut self,
        target: PeerId,
        addr: Multiaddr,
        request: MailboxRequest,
    ) -> Option<MailboxResponse> {
        use libp2p::request_response::{Event, Message};
        let id =
            self.swarm
                .behaviour_mut()
                .send_request_with_addresses(&target, request, vec![addr]);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .expect("mailbox client timed out");
            match event {
                SwarmEvent::Behaviour(Event::Message {
                    message:
                        Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if request_id == id => return Some(response),
                SwarmEvent::Behaviour(Event::OutboundFailure { request_id, .. })
                    if request_id == id =>
                {
                    return None;
                }
                _ => {}
            }
        }
    }
}

/// A sybil replica: a raw rust-libp2p peer (kad server, identify, mailbox
/// protocol v2) that joins the DHT like a node but holds nothing: it
/// answers every listing with `served` (nothing, or forgeries), every
/// next-seq with 0, and claims to have stored every put.
#[derive(NetworkBehaviour)]
pub struct SilentBehaviour {
    pub kad: kad::Behaviour<MemoryStore>,
    pub identify: libp2p::identify::Behaviour,
    pub mailbox: libp2p::request_response::Behaviour<MailboxCodec>,
}

/// A running [`SilentBehaviour`] peer.
pub struct SilentPeer {
    pub peer_id: PeerId,
    pub addr: Multiaddr,
    /// Listing requests it has answered.
    pub lists: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentPeer {
    /// Starts a silent peer with `keypair` and connects it to `node`.
    pub async fn start(keypair: libp2p::identity::Keypair, node: &Node) -> Self {
        Self::serving(keypair, node, Vec::new()).await
    }

    /// Starts a silent peer with `keypair` and connects it to the node
    /// listening on `target` (one in another process).
    pub async fn start_at(keypair: libp2p::identity::Keypair, target: Multiaddr) -> Self {
        Self::serving_at(keypair, target, Vec::new()).await
    }

    /// Starts a peer that answers every listing with `served`.
    pub async fn serving(
        keypair: libp2p::identity::Keypair,
        node: &Node,
        served: Vec<Vec<u8>>,
    ) -> Self {
        Self::serving_at(keypair, node.listen_addrs()[0].clone(), served).await
    }

    /// Starts a peer that answers every listing with `served` and connects
    /// it to the node listening on `target`.
    pub async fn serving_at(
        keypair: libp2p::identity::Keypair,
        target: Multiaddr,
        served: Vec<Vec<u8>>,
    ) -> Self {
        use libp2p::request_response::{self, Event, Message, ProtocolSupport};
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let mut cfg = kad::Config::new(KAD_PROTOCOL);
                cfg.set_max_packet_size(1024 * 1024);
                let mut kad = kad::Behaviour::with_config(id, MemoryStore::new(id), cfg);
                kad.set_mode(Some(kad::Mode::Server));
                SilentBehaviour {
                    kad,
                    identify: libp2p::identify::Behaviour::new(libp2p::identify::Config::new(
                        IDENTIFY_PROTOCOL.to_string(),
                        key.public(),
                    )),
                    mailbox: request_response::Behaviour::new(
                        [(MAILBOX_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default(),
                    ),
                }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let addr = listen_on_loopback(&mut swarm).await;
        swarm.dial(target).unwrap();
        let peer_id = *swarm.local_peer_id();
        let lists = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = lists.clone();
        let task = tokio::spawn(async move {
            loop {
                if let SwarmEvent::Behaviour(SilentBehaviourEvent::Mailbox(Event::Message {
                    message:
                        Message::Request {
                            request, channel, ..
                        },
                    ..
                })) = swarm.select_next_some().await
                {
                    let response = match request {
                        MailboxRequest::Put(_) => MailboxResponse::Put(PutAnswer::Stored),
                        MailboxRequest::List { .. } => {
                            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            MailboxResponse::List {
                                records: served.clone(),
                                more: false,
                                closer: Vec::new(),
                            }
                        }
                        MailboxRequest::NextSeq { .. } => MailboxResponse::NextSeq {
                            seq: 0,
                            closer: Vec::new(),
                        },
                    };
                    let _ = swarm
                        .behaviour_mut()
                        .mailbox
                        .send_response(channel, response);
                }
            }
        });
        Self {
            peer_id,
            addr,
            lists,
            task,
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
