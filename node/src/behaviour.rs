//! The libp2p behaviour of a node and how its swarm is built.
//!
//! TCP + noise + yamux on tokio (QUIC adds little on a LAN and a second
//! transport to test); benches and tests may swap TCP for libp2p's
//! in-process memory transport ([`crate::config::Transport::Memory`]) under
//! the same noise + yamux upgrades, to run hundreds of nodes in one process. Kademlia is fixed in server mode: a LAN node never
//! gets an external address confirmed, so in the default automatic mode it
//! would stay a client and store nothing. Its protocol name is our own, so
//! that we never talk records with an unrelated IPFS swarm on the same
//! Wi-Fi, and its message limit fits the largest valid record plus the
//! closer-peers list of a response. Kad's own republish / replication jobs
//! and its TTL are off: the node republishes its outbox and re-replicates
//! held records itself, and expiry is the record's signed `expires_at`.
//! Identify tells us the listen addresses of peers that dialled us (kad
//! does not add inbound peers by itself). mDNS sits in a `Toggle`, off by
//! config. The mailbox protocol (v2) asks one replica about one mailbox.
//! libp2p `ping` answers liveness checks: other libp2p DHT clients
//! (js-libp2p's kad-dht) ping a new peer before admitting it to their
//! routing table, and it lets us notice a dead connection before a request
//! times out on it. The reconcile protocol repairs replicas (see
//! [`crate::reconcile`]); the roster exchange and k-buckets of
//! [`crate::roster::ROUTING_BUCKET_SIZE`] let every node know every LAN
//! peer ([`crate::roster`]). libp2p `connection_limits` comes first and caps
//! inbound connections (total, per peer, in handshake), and both
//! request-response protocols cap their streams per connection
//! ([`crate::peer_limits::PeerLimits`]): one peer cannot pin the node's
//! memory or its swarm task.

use std::num::NonZeroUsize;

use libp2p::core::transport::{MemoryTransport, Transport as _};
use libp2p::core::upgrade;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, connection_limits, identify, kad, mdns, noise, ping, tcp,
    yamux,
};
use pigeonhole::record::MAX_RECORD_BYTES;

use crate::config::{NodeConfig, Transport};
use crate::error::NodeError;
use crate::mailbox_protocol::{MAILBOX_PROTOCOL, MAILBOX_PROTOCOL_V3, MailboxCodec};
use crate::reconcile_codec::{RECONCILE_PROTOCOL, ReconcileCodec};
use crate::roster::{ROSTER_PROTOCOL, ROUTING_BUCKET_SIZE, RosterCodec};
use crate::shared_store::SharedStore;

/// Our Kademlia protocol name.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/pigeonhole/kad/1.0.0");
/// The `protocolVersion` field this node sends in its identify messages
/// (libp2p identify's free-form "protocol family" string). It is not a wire
/// protocol name: identify itself always runs over the standard
/// `/ipfs/id/1.0.0`, and peers learn which protocols we speak from the
/// identify `protocols` list (where [`KAD_PROTOCOL`] is checked).
pub const IDENTIFY_PROTOCOL: &str = "/pigeonhole/id/1.0.0";
/// Largest Kademlia message: the largest valid record plus room for the
/// key, framing and the closer-peers list a response carries.
pub const MAX_KAD_PACKET: usize = MAX_RECORD_BYTES + 8 * 1024;
/// Concurrent roster streams per connection (a node asks one at a time).
const ROSTER_STREAMS: usize = 2;

pub use derived::{Behaviour, BehaviourEvent};

mod derived {
    // The derive generates `BehaviourEvent`, one variant per field, with
    // no doc comments of its own.
    #![allow(missing_docs)]

    use super::*;

    /// The node's behaviour: connection limits, kad, identify, optional
    /// mDNS, slot requests, ping and replica repair.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Connection limits (first, so that a denied connection is denied
        /// before any other behaviour sets up state for it).
        pub limits: connection_limits::Behaviour,
        /// Kademlia with the SQLite record store.
        pub kad: kad::Behaviour<SharedStore>,
        /// Identify, to learn peers' listen addresses and protocols.
        pub identify: identify::Behaviour,
        /// mDNS discovery, when enabled.
        pub mdns: Toggle<mdns::tokio::Behaviour>,
        /// Requests to a mailbox's replicas (see [`crate::mailbox_protocol`]).
        pub mailbox: request_response::Behaviour<MailboxCodec>,
        /// libp2p ping: answers (and sends) liveness checks.
        pub ping: ping::Behaviour,
        /// Replica repair by set reconciliation (see [`crate::reconcile`]).
        pub reconcile: request_response::Behaviour<ReconcileCodec>,
        /// The roster exchange: every LAN peer known (see
        /// [`crate::roster`]).
        pub roster: request_response::Behaviour<RosterCodec>,
    }
}

/// The Kademlia configuration for `config`.
pub fn kad_config(config: &NodeConfig) -> kad::Config {
    let replication = &config.replication;
    let mut kad = kad::Config::new(KAD_PROTOCOL);
    kad.set_max_packet_size(MAX_KAD_PACKET)
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_record_ttl(None)
        .set_publication_interval(None)
        .set_replication_interval(None)
        .set_provider_publication_interval(None)
        .set_replication_factor(replication.factor)
        .set_parallelism(replication.parallelism)
        .set_query_timeout(replication.query_timeout)
        .set_caching(kad::Caching::Disabled)
        .set_kbucket_size(if config.one_hop_routing {
            NonZeroUsize::new(ROUTING_BUCKET_SIZE).expect("a non-zero bucket size")
        } else {
            kad::K_VALUE
        });
    kad
}

/// Builds the swarm (must run inside the tokio runtime: mDNS opens sockets).
pub fn build_swarm(
    keypair: Keypair,
    config: &NodeConfig,
    store: SharedStore,
) -> Result<Swarm<Behaviour>, NodeError> {
    let setup = |error: &dyn std::fmt::Display| NodeError::Setup(error.to_string());
    let kad_cfg = kad_config(config);
    let request_timeout = config.replication.query_timeout;
    let peer_limits = config.peer_limits;
    let mdns_on = config.mdns && config.transport == Transport::Tcp;
    let mdns_cfg = mdns_on.then(|| mdns::Config {
        query_interval: config.mdns_query_interval,
        ..Default::default()
    });
    let make_behaviour =
        move |key: &Keypair| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
            let peer_id = key.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(peer_id, store, kad_cfg);
            kad.set_mode(Some(kad::Mode::Server));
            let identify = identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                    .with_agent_version(format!("pigeonhole-node/{}", env!("CARGO_PKG_VERSION"))),
            );
            let mdns = match mdns_cfg {
                Some(cfg) => Some(mdns::tokio::Behaviour::new(cfg, peer_id)?),
                None => None,
            };
            // Version 4 first (answers with referrals); version 3 still
            // answered and spoken to peers that only know it.
            let mailbox = request_response::Behaviour::new(
                [
                    (MAILBOX_PROTOCOL, ProtocolSupport::Full),
                    (MAILBOX_PROTOCOL_V3, ProtocolSupport::Full),
                ],
                request_response::Config::default()
                    .with_request_timeout(request_timeout)
                    .with_max_concurrent_streams(peer_limits.mailbox_streams),
            );
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(peer_limits.connection_limits()),
                kad,
                identify,
                mdns: Toggle::from(mdns),
                mailbox,
                ping: ping::Behaviour::new(ping::Config::new()),
                reconcile: request_response::Behaviour::new(
                    [(RECONCILE_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(peer_limits.reconcile_streams),
                ),
                roster: request_response::Behaviour::new(
                    [(ROSTER_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(ROSTER_STREAMS),
                ),
            })
        };
    let idle = config.idle_connection_timeout;
    let builder = SwarmBuilder::with_existing_identity(keypair).with_tokio();
    let swarm = match config.transport {
        Transport::Tcp => builder
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup(&e))?
            .with_behaviour(make_behaviour)
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        // The same upgrades as TCP (noise, then yamux), over in-process
        // channels.
        Transport::Memory => builder
            .with_other_transport(|key| {
                let noise = noise::Config::new(key)?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    MemoryTransport::default()
                        .upgrade(upgrade::Version::V1Lazy)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default()),
                )
            })
            .map_err(|e| setup(&e))?
            .with_behaviour(make_behaviour)
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
    };
    Ok(swarm)
}
