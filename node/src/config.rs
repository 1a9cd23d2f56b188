//! What a node is started with.
//!
//! Every field has a default that is safe on a phone on a shared Wi-Fi:
//! listen on all interfaces on an ephemeral port, mDNS on, bounded storage,
//! a quorum that a LAN of two nodes can meet. Tests and the CLI override
//! fields directly (all are public); [`NodeConfig::loopback`] is the preset
//! for in-process clusters.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::Multiaddr;
use pigeonhole::clock::{Clock, SystemClock};
use pigeonhole::record::Policy;

use crate::peer_limits::PeerLimits;
use crate::quota::Limits;

/// How records are spread over the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// How many peers hold a mailbox: the `factor` peers closest to the
    /// mailbox id (this node among them when it is that close). Default 5:
    /// a LAN of phones loses several at once (a meeting ends, a train
    /// stops), and a record survives while any one of its 5 replicas stays
    /// or comes back; a read asks 2 of them, so up to 3 silent or lying
    /// replicas are tolerated while honest ones are asked first; and every
    /// publish costs 5 requests, not Kademlia's 20 (each peer holds about
    /// 5/N of all mailboxes). LANs of 5 or fewer hold everything everywhere.
    pub factor: NonZeroUsize,
    /// Requests a lookup keeps in flight at once (Kademlia's alpha). On a
    /// LAN round trips are cheap and peers few, so a lookup asks all
    /// `factor` candidates in one round.
    pub parallelism: NonZeroUsize,
    /// Longest time one request to a replica (or a Kademlia lookup) may take.
    pub query_timeout: Duration,
    /// How often the node republishes its own records (the outbox).
    pub republish_interval: Duration,
    /// How often each connected peer gets a periodic replica-repair pass
    /// (jittered over the interval, within the reconciliation rate limits).
    /// Passes also run on every (re)connection; this one repairs replicas
    /// that stay connected but drift apart (a put one of them refused, a
    /// request lost). Default 5 minutes: an idle pass costs one round of a
    /// few hundred bytes per shared mailbox.
    pub repair_interval: Duration,
    /// How long a peer must stay connected before it has *standing* here
    /// (peers of standing are always among a mailbox's replicas, a publish
    /// needs one of them to store the record, and reads ask them first).
    /// Peer ids are free to mint; time is not. Default 2 minutes: longer
    /// than a drive-by flood of fresh ids, shorter than a meeting. Peers
    /// the app trusts (`Node::trust_peer`) have standing at once. Measured on the node's `clock`
    /// (tests advance a `ManualClock` past it).
    pub standing_after: Duration,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            factor: NonZeroUsize::new(5).expect("non-zero"),
            parallelism: NonZeroUsize::new(8).expect("non-zero"),
            query_timeout: Duration::from_secs(5),
            republish_interval: Duration::from_secs(10 * 60),
            repair_interval: Duration::from_secs(5 * 60),
            standing_after: Duration::from_secs(2 * 60),
        }
    }
}

/// Which transport a node's connections run over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// TCP + noise + yamux: what every real node uses.
    #[default]
    Tcp,
    /// libp2p's in-process memory transport (`/memory/N` addresses) with
    /// the same noise + yamux upgrades: many nodes in one process without
    /// sockets or ports, for scale benches and tests. Such a node reaches
    /// only nodes of the same process; mDNS is never started on it.
    Memory,
}

/// Everything a node is started with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The transport (TCP unless a bench or test asks for the in-process
    /// memory transport; see [`NodeConfig::memory`]).
    pub transport: Transport,
    /// Addresses to listen on; port 0 picks a free port (`/memory/0` on
    /// the memory transport).
    pub listen_addrs: Vec<Multiaddr>,
    /// Directory for the SQLite file and the peer key; `None` keeps both in
    /// memory (nothing survives a restart).
    pub data_dir: Option<PathBuf>,
    /// Find peers on the local link with mDNS. Off where multicast is not
    /// allowed (iOS without the entitlement, Android without a
    /// MulticastLock); peers then come from [`NodeConfig::bootstrap_peers`]
    /// and `Node::add_peer`. Ignored (off) on [`Transport::Memory`].
    pub mdns: bool,
    /// How often mDNS queries once it has settled. It also queries at
    /// start-up and whenever an interface comes up, whatever this says;
    /// this period bounds how long two nodes that start in the same instant
    /// (and so miss each other's first query) stay unaware of each other.
    pub mdns_query_interval: Duration,
    /// Peers to connect to at start (`/ip4/…/tcp/…/p2p/<peer id>`; the
    /// `/p2p` part may be left out).
    pub bootstrap_peers: Vec<Multiaddr>,
    /// Replication and quorum.
    pub replication: ReplicationConfig,
    /// Storage quotas.
    pub limits: Limits,
    /// The validation policy; all peers of a network should agree on it.
    pub policy: Policy,
    /// The time source for validation and expiry (a `ManualClock` in tests).
    pub clock: Arc<dyn Clock>,
    /// How often expired records are swept from the store.
    pub sweep_interval: Duration,
    /// How long (monotonic time, counted by the sweeps) the clock must show
    /// a held or outbox record expired before it is deleted. Until then it
    /// is kept but never served, so a wall clock that jumps forward (or
    /// back) and is corrected within this period loses nothing. Default
    /// 1 hour ([`pigeonhole::store::expiry::DEFAULT_EXPIRY_GRACE`]); zero
    /// deletes at the first sweep that sees a record expired.
    pub expiry_grace: Duration,
    /// How long an unused connection stays open.
    pub idle_connection_timeout: Duration,
    /// What other peers may ask of this node: connection limits, streams,
    /// per-peer budgets and the inbound worker pool.
    pub peer_limits: PeerLimits,
    /// Know every peer of the network (default on): k-buckets of
    /// [`crate::roster::ROUTING_BUCKET_SIZE`] peers and roster pulls
    /// ([`crate::roster`]), so that a read or publish asks a mailbox's
    /// replicas at once. Off: Kademlia's 20-peer k-buckets and no roster
    /// pulls (roster requests are still answered), for networks much larger
    /// than a LAN; reads then find replicas by following referrals.
    pub one_hop_routing: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            transport: Transport::Tcp,
            listen_addrs: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("valid multiaddr")],
            data_dir: None,
            mdns: true,
            mdns_query_interval: Duration::from_secs(10),
            bootstrap_peers: Vec::new(),
            replication: ReplicationConfig::default(),
            limits: Limits::default(),
            policy: Policy::default(),
            clock: Arc::new(SystemClock),
            sweep_interval: Duration::from_secs(60),
            expiry_grace: pigeonhole::store::expiry::DEFAULT_EXPIRY_GRACE,
            idle_connection_timeout: Duration::from_secs(60),
            peer_limits: PeerLimits::default(),
            one_hop_routing: true,
        }
    }
}

impl NodeConfig {
    /// A node listening on 127.0.0.1 with mDNS off, for in-process clusters.
    pub fn loopback() -> Self {
        Self::on_ip(std::net::Ipv4Addr::LOCALHOST)
    }

    /// A node on the in-process memory transport (`/memory/0`: a free
    /// port is picked), mDNS off: hundreds of nodes fit in one process
    /// (the scale bench runs 200). Peers are added with `Node::add_peer`
    /// and the `/memory/N/p2p/<id>` addresses of `Node::listen_addrs`.
    pub fn memory() -> Self {
        Self {
            transport: Transport::Memory,
            listen_addrs: vec!["/memory/0".parse().expect("valid multiaddr")],
            mdns: false,
            ..Self::default()
        }
    }

    /// A node listening on `ip` (port 0) with mDNS off. Takes an address,
    /// not a string, so a bad one cannot get this far (`"10.0.0.7".parse()`
    /// reports it where the text comes from).
    pub fn on_ip(ip: std::net::Ipv4Addr) -> Self {
        Self {
            listen_addrs: vec![
                Multiaddr::empty()
                    .with(libp2p::multiaddr::Protocol::Ip4(ip))
                    .with(libp2p::multiaddr::Protocol::Tcp(0)),
            ],
            mdns: false,
            ..Self::default()
        }
    }
}
