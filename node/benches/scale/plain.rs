//! The baseline of the scale bench: plain rust-libp2p Kademlia swarms
//! (`MemoryStore`, `Quorum::One` puts, gets finished at the first record
//! found) on the same in-process memory transport, with the same noise +
//! yamux upgrades as the SDK's nodes.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::transport::{MemoryTransport, Transport as _};
use libp2p::core::upgrade;
use libp2p::kad::{self, GetRecordOk, PeerRecord, QueryResult, Quorum, store::MemoryStore};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, noise, yamux};
use tokio::sync::{mpsc, oneshot};

#[derive(NetworkBehaviour)]
struct PlainBehaviour {
    kad: kad::Behaviour<MemoryStore>,
}

/// What one operation of the baseline returned: its outcome and the
/// Kademlia requests it sent.
pub struct Done<T> {
    pub value: T,
    pub requests: u32,
}

enum PlainCommand {
    Put(Vec<u8>, Vec<u8>, oneshot::Sender<Done<bool>>),
    Get(Vec<u8>, oneshot::Sender<Done<Option<Vec<u8>>>>),
    AddPeer(PeerId, Multiaddr),
    Bootstrap(oneshot::Sender<()>),
}

/// One plain Kademlia swarm, driven by its own task.
#[derive(Clone)]
pub struct PlainNode {
    pub peer: PeerId,
    pub addr: Multiaddr,
    commands: mpsc::Sender<PlainCommand>,
}

/// The baseline's protocol name, so it can never mix with SDK nodes.
const KAD_PROTOCOL_BASELINE: libp2p::StreamProtocol =
    libp2p::StreamProtocol::new("/baseline/kad/1.0.0");

impl PlainNode {
    pub async fn start() -> Self {
        let mut swarm: Swarm<PlainBehaviour> = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_other_transport(|key| {
                let noise = noise::Config::new(key)?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    MemoryTransport::default()
                        .upgrade(upgrade::Version::V1Lazy)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default()),
                )
            })
            .unwrap()
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let store = MemoryStore::with_config(
                    id,
                    kad::store::MemoryStoreConfig {
                        max_records: 100_000,
                        ..Default::default()
                    },
                );
                let mut kad =
                    kad::Behaviour::with_config(id, store, kad::Config::new(KAD_PROTOCOL_BASELINE));
                kad.set_mode(Some(kad::Mode::Server));
                PlainBehaviour { kad }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
            .build();
        swarm.listen_on("/memory/0".parse().unwrap()).unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer = *swarm.local_peer_id();
        let (commands, rx) = mpsc::channel::<PlainCommand>(1024);
        tokio::spawn(drive(swarm, rx));
        Self {
            peer,
            addr,
            commands,
        }
    }

    pub async fn add_peer(&self, peer: PeerId, addr: Multiaddr) {
        let _ = self.commands.send(PlainCommand::AddPeer(peer, addr)).await;
    }

    pub async fn bootstrap(&self) {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(PlainCommand::Bootstrap(tx)).await;
        let _ = rx.await;
    }

    pub async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Done<bool> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(PlainCommand::Put(key, value, tx))
            .await
            .unwrap();
        rx.await.unwrap_or(Done {
            value: false,
            requests: 0,
        })
    }

    pub async fn get(&self, key: Vec<u8>) -> Done<Option<Vec<u8>>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(PlainCommand::Get(key, tx))
            .await
            .unwrap();
        rx.await.unwrap_or(Done {
            value: None,
            requests: 0,
        })
    }
}

/// A get in flight: where its answer goes, and the first record found.
type PendingGet = (oneshot::Sender<Done<Option<Vec<u8>>>>, Option<Vec<u8>>);

async fn drive(mut swarm: Swarm<PlainBehaviour>, mut rx: mpsc::Receiver<PlainCommand>) {
    let mut puts: HashMap<kad::QueryId, oneshot::Sender<Done<bool>>> = HashMap::new();
    let mut gets: HashMap<kad::QueryId, PendingGet> = HashMap::new();
    let mut boots: HashMap<kad::QueryId, oneshot::Sender<()>> = HashMap::new();
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                None => break,
                Some(PlainCommand::Put(key, value, reply)) => {
                    let record = kad::Record::new(key, value);
                    match swarm.behaviour_mut().kad.put_record(record, Quorum::One) {
                        Ok(id) => { puts.insert(id, reply); }
                        Err(_) => { let _ = reply.send(Done { value: false, requests: 0 }); }
                    }
                }
                Some(PlainCommand::Get(key, reply)) => {
                    let id = swarm.behaviour_mut().kad.get_record(key.into());
                    gets.insert(id, (reply, None));
                }
                Some(PlainCommand::AddPeer(peer, addr)) => {
                    swarm.behaviour_mut().kad.add_address(&peer, addr);
                }
                Some(PlainCommand::Bootstrap(reply)) => {
                    match swarm.behaviour_mut().kad.bootstrap() {
                        Ok(id) => { boots.insert(id, reply); }
                        Err(_) => { let _ = reply.send(()); }
                    }
                }
            },
            event = swarm.select_next_some() => {
                let SwarmEvent::Behaviour(PlainBehaviourEvent::Kad(
                    kad::Event::OutboundQueryProgressed { id, result, step, stats },
                )) = event else {
                    continue;
                };
                match result {
                    QueryResult::PutRecord(result) => {
                        if let Some(reply) = puts.remove(&id) {
                            let _ = reply.send(Done { value: result.is_ok(), requests: stats.num_requests() });
                        }
                    }
                    QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(PeerRecord { record, .. }))) => {
                        // Finish at the first record found; the reply goes
                        // out with the final step (and its request count).
                        if let Some((_, found)) = gets.get_mut(&id) {
                            found.get_or_insert(record.value);
                        }
                        if let Some(mut q) = swarm.behaviour_mut().kad.query_mut(&id) {
                            q.finish();
                        }
                        if step.last
                            && let Some((reply, found)) = gets.remove(&id)
                        {
                            let _ = reply.send(Done { value: found, requests: stats.num_requests() });
                        }
                    }
                    QueryResult::GetRecord(_) if step.last => {
                        if let Some((reply, found)) = gets.remove(&id) {
                            let _ = reply.send(Done { value: found, requests: stats.num_requests() });
                        }
                    }
                    QueryResult::Bootstrap(_) if step.last => {
                        if let Some(reply) = boots.remove(&id) {
                            let _ = reply.send(());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `n` plain swarms. A plain kad swarm learns no address of a peer that
/// dialled it (there is no identify here), so a start from one known peer
/// would leave a star; instead every swarm is given every other's address
/// (kad keeps what its k-buckets hold, as a warmed-up network would), then
/// every one bootstraps.
pub async fn cluster(n: usize) -> Vec<PlainNode> {
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(PlainNode::start().await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.peer != b.peer {
                a.add_peer(b.peer, b.addr.clone()).await;
            }
        }
    }
    futures::future::join_all(nodes.iter().map(|n| n.bootstrap())).await;
    nodes
}
