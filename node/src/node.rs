//! The public handle of a running node, and its [`Dht`] implementation.
//!
//! [`Node::start`] opens the store, builds the swarm, binds the listen
//! addresses and spawns the swarm task; the handle is cheap to clone and
//! every method is a command to that task. [`Node::stop`] ends the task and
//! waits for it, so that when it returns the swarm is gone and the SQLite
//! file is closed (a new node may open it at once).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use pigeonhole::mailbox::{Dht, DhtError, ListCursor, ListPage};
use pigeonhole::record::{DhtKey, MailboxId, Validator};
use pigeonhole::store::{Store, Totals};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::info;

use crate::behaviour::build_swarm;
use crate::command::Command;
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::keys::load_or_create_keypair;
use crate::load::{LoadCounters, LoadStats};
use crate::record_store::SqliteRecordStore;
use crate::runner::Runner;
use crate::shared_store::SharedStore;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "pigeonhole.sqlite3";
/// How long start-up waits for the listen addresses to be bound.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Commands queued before senders wait.
const COMMAND_QUEUE: usize = 1024;

/// What the node currently sees of the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// Peers in the Kademlia routing table.
    pub routing_peers: usize,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// Inbound records accepted into the store since start (a counter that
    /// tests and apps can wait on).
    pub records_accepted: u64,
    /// Protocol-v2 requests this node has sent since start (what a read or
    /// a publish costs on the network; benches count it).
    pub requests_sent: u64,
    /// Reads that asked further peers because an answer named peers
    /// closer to the mailbox (referrals, peer protocol version 4) since
    /// start: each cost one more round trip (its requests are counted in
    /// [`NodeStatus::requests_sent`]).
    pub referrals_followed: u64,
    /// Roster requests this node has sent since start (peer protocol
    /// version 5, see `crate::roster`: the background cost of knowing every
    /// LAN peer; not counted in [`NodeStatus::requests_sent`]).
    pub roster_pulls: u64,
}

/// How a publish ended when it succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// Every replica answered (or timed out) and this many of them, other
    /// than this node, judged and stored the record or already held it.
    Stored {
        /// Replicas that acknowledged (at least 1).
        replicas: usize,
    },
    /// This node knows no peer at all: the record is stored here and waits
    /// in the outbox; it is sent to the replicas when peers appear (the
    /// republish timer, or [`Node::maintain`]).
    Alone,
}

struct Shared {
    peer_id: PeerId,
    listen_addrs: watch::Receiver<Vec<Multiaddr>>,
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<NodeStatus>,
    load: Arc<LoadCounters>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A running DHT peer. Clone it freely; all clones talk to one task.
#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.shared.peer_id)
            .field("listen_addrs", &*self.shared.listen_addrs.borrow())
            .finish()
    }
}

impl Node {
    /// Starts a node: opens (or creates) its store, binds its listen
    /// addresses and connects to the configured bootstrap peers. Must be
    /// called inside a tokio runtime.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        let validator = Validator::new(config.policy.clone());
        // The store's migrations and the key file are blocking I/O: off
        // the caller's async worker.
        let (store, keypair) = {
            let (dir, validator, clock) = (
                config.data_dir.clone(),
                validator.clone(),
                config.clock.clone(),
            );
            let (limits, grace) = (config.limits, config.expiry_grace);
            tokio::task::spawn_blocking(move || open_store(dir, validator, clock, limits, grace))
                .await
                .map_err(|error| NodeError::Store(format!("opening the store failed: {error}")))??
        };
        let load = Arc::new(LoadCounters::default());
        let store = SharedStore::new(store, load.clone());
        let mut swarm = build_swarm(keypair, &config, store)?;
        let peer_id = *swarm.local_peer_id();

        let mut listeners = Vec::new();
        for addr in &config.listen_addrs {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|error| NodeError::Listen {
                    addr: addr.to_string(),
                    reason: error.to_string(),
                })?;
            listeners.push(id);
        }
        // Wait until every listener has bound at least one address. Every
        // other event is kept for the runner: an mDNS answer can arrive in
        // this window, and libp2p's mDNS reports a peer only once, so a
        // dropped `Discovered` left the node alone until the next periodic
        // query (10 s by default).
        let mut listen_addrs = Vec::new();
        let mut early_events = Vec::new();
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !listeners.is_empty() {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .map_err(|_| NodeError::Listen {
                    addr: format!("{:?}", config.listen_addrs),
                    reason: "no address bound in time".into(),
                })?;
            match event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    listeners.retain(|id| *id != listener_id);
                    listen_addrs.push(address);
                }
                SwarmEvent::ListenerError { error, .. }
                | SwarmEvent::ListenerClosed {
                    reason: Err(error), ..
                } => {
                    return Err(NodeError::Listen {
                        addr: format!("{:?}", config.listen_addrs),
                        reason: error.to_string(),
                    });
                }
                other => early_events.push(other),
            }
        }
        info!(%peer_id, ?listen_addrs, "node started");

        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (status_tx, status) = watch::channel(NodeStatus::default());
        let (addrs_tx, addrs) = watch::channel(listen_addrs);
        let runner = Runner::new(swarm, receiver, status_tx, addrs_tx, config, validator);
        let task = tokio::spawn(runner.run_after(early_events));
        Ok(Node {
            shared: Arc::new(Shared {
                peer_id,
                listen_addrs: addrs,
                commands,
                status,
                load,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// What the load limits have done since start (busy answers, requests
    /// served by the worker pool, connections denied). Read from shared
    /// counters, so it answers at once even while the node is flooded.
    pub fn load_stats(&self) -> LoadStats {
        self.shared.load.stats()
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// The addresses the node listens on now, each with this node's
    /// `/p2p` suffix, ready to hand to another node's [`Node::add_peer`]
    /// (or to show as a QR code). A wildcard listen address (`0.0.0.0`)
    /// expands to one address per interface, and follows interfaces as
    /// they come and go.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.shared
            .listen_addrs
            .borrow()
            .iter()
            .map(|addr| {
                addr.clone()
                    .with_p2p(self.shared.peer_id)
                    .unwrap_or_else(|addr| addr)
            })
            .collect()
    }

    /// Waits until some listen address satisfies `condition` (e.g. a LAN
    /// address has been bound), or `timeout` passes; returns the addresses
    /// then (with `/p2p` suffixes, as [`Node::listen_addrs`]).
    pub async fn wait_for_listen_addr(
        &self,
        mut condition: impl FnMut(&Multiaddr) -> bool,
        timeout: Duration,
    ) -> Vec<Multiaddr> {
        let mut addrs = self.shared.listen_addrs.clone();
        let _ = tokio::time::timeout(
            timeout,
            addrs.wait_for(|all| all.iter().any(&mut condition)),
        )
        .await;
        self.listen_addrs()
    }

    /// What the node sees of the network now.
    pub fn status(&self) -> NodeStatus {
        *self.shared.status.borrow()
    }

    /// Waits until the routing table holds at least `peers` peers, or
    /// `timeout` passes; returns the status reached either way.
    pub async fn wait_for_peers(&self, peers: usize, timeout: Duration) -> NodeStatus {
        self.wait_for_status(|s| s.routing_peers >= peers, timeout)
            .await
    }

    /// Waits until the status satisfies `condition`, or `timeout` passes;
    /// returns the status reached either way.
    pub async fn wait_for_status(
        &self,
        condition: impl FnMut(&NodeStatus) -> bool,
        timeout: Duration,
    ) -> NodeStatus {
        let mut status = self.shared.status.clone();
        let _ = tokio::time::timeout(timeout, status.wait_for(condition)).await;
        *status.borrow()
    }

    /// Connects to a peer found another way (QR code, NWBrowser,
    /// NsdManager). With a `/p2p/<peer id>` suffix the peer enters the
    /// routing table at once; without, once identify has run.
    pub async fn add_peer(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.request(|reply| Command::AddPeer { addr, reply }).await
    }

    /// Vouches for `peer` (a buddy's node, the user's own other device):
    /// it has *standing* here at once, so it is among the replicas of every
    /// mailbox it is close to, a publish counts its acknowledgement, and
    /// reads ask it first (node/README.md, "Standing"). `trusted = false`
    /// withdraws it. Returns `false` when 1,024 peers are trusted already
    /// (the peer is then not added). Not persisted: apps call it at start.
    pub async fn trust_peer(&self, peer: PeerId, trusted: bool) -> Result<bool, NodeError> {
        self.request(|reply| Command::Trust {
            peer,
            trusted,
            reply,
        })
        .await
    }

    /// Whether `peer` has standing with this node now: trusted, or
    /// connected for `standing_after` (now or before).
    pub async fn has_standing(&self, peer: PeerId) -> Result<bool, NodeError> {
        self.request(|reply| Command::HasStanding { peer, reply })
            .await
    }

    /// Runs a Kademlia bootstrap (refreshes the routing table) and waits
    /// for it to finish.
    pub async fn bootstrap(&self) -> Result<(), NodeError> {
        self.request(|reply| Command::Bootstrap { reply }).await
    }

    /// Looks a slot up on the network: the value of the closest holder.
    pub async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, NodeError> {
        self.request(|reply| Command::Get { key, reply }).await
    }

    /// Publishes a record: sends it to the replica set of its mailbox and
    /// returns once one replica other than this node has judged and stored
    /// it ([`Published::Stored`]), or at once when this node has no peers
    /// ([`Published::Alone`]: queued in the outbox). Either way it is queued
    /// for republishing. Fails with [`NodeError::Rejected`] (kind and reason)
    /// when every replica that answered refused it, and
    /// [`NodeError::Unavailable`] when none answered.
    pub async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<Published, NodeError> {
        self.request(|reply| Command::Put { key, value, reply })
            .await
    }

    /// A page of `mailbox` after `after` (at most `limit` records, capped
    /// at the protocol's page size), merged from two replicas and validated.
    pub async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<ListPage, NodeError> {
        self.request(|reply| Command::List {
            mailbox,
            after,
            limit,
            reply,
        })
        .await
    }

    /// The first free seq of `bucket` in `mailbox`, as its replicas know it
    /// (the highest of the answers).
    pub async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<u32, NodeError> {
        self.request(|reply| Command::NextSeq {
            mailbox,
            bucket,
            reply,
        })
        .await
    }

    /// What this node itself holds under a slot (no network).
    pub async fn held(&self, key: DhtKey) -> Result<Option<Vec<u8>>, NodeError> {
        self.request(|reply| Command::Held { key, reply }).await
    }

    /// The ids of the unexpired records of `mailbox` this node itself holds
    /// (no network), in listing order: the set replica repair compares.
    pub async fn held_ids(
        &self,
        mailbox: pigeonhole::record::MailboxId,
    ) -> Result<Vec<[u8; 32]>, NodeError> {
        self.request(|reply| Command::HeldIds { mailbox, reply })
            .await
    }

    /// Count and bytes of the records this node holds.
    pub async fn held_totals(&self) -> Result<Totals, NodeError> {
        self.request(|reply| Command::HeldTotals { reply }).await
    }

    /// Protects `mailboxes` in this node's store: records in them are never
    /// displaced by other mailboxes' records, and records into them may
    /// displace others within [`crate::Limits::reserved_bytes`] (see
    /// [`crate::quota`]). Replaces the previous set. The app passes its
    /// user's inbox, its buddies' inboxes and the feeds and documents it
    /// follows; the set is not persisted (pass it again after a restart).
    pub async fn protect_mailboxes(&self, mailboxes: Vec<MailboxId>) -> Result<(), NodeError> {
        self.request(|reply| Command::Protect { mailboxes, reply })
            .await
    }

    /// What this node's store holds and what its quotas did (records and
    /// bytes held, protected mailboxes, displacements, quota refusals).
    pub async fn store_stats(&self) -> Result<crate::record_store::StoreStats, NodeError> {
        self.request(|reply| Command::StoreStats { reply }).await
    }

    /// Sweeps expired records and republishes the outbox now, instead of
    /// waiting for the timers.
    pub async fn maintain(&self) -> Result<(), NodeError> {
        self.request(|reply| Command::Maintain { reply }).await
    }

    /// Stops the node and waits until its task has ended: when this
    /// returns the swarm is dropped (listeners closed; libp2p's per-connection
    /// tasks see their channels close and end on their own) and the
    /// database is closed. Other clones of the handle then fail with
    /// [`NodeError::Stopped`]; calling `stop` again returns at once.
    pub async fn stop(&self) {
        let _ = self.shared.commands.send(Command::Stop).await;
        let task = self
            .shared
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        info!(peer = %self.shared.peer_id, "node stopped");
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, NodeError>>) -> Command,
    ) -> Result<T, NodeError> {
        let (reply, response) = oneshot::channel();
        self.shared
            .commands
            .send(command(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        response.await.map_err(|_| NodeError::Stopped)?
    }
}

#[async_trait]
impl Dht for Node {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        Node::get(self, key)
            .await
            .map_err(NodeError::into_dht_error)
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        Node::put(self, key, value)
            .await
            .map(|_| ())
            .map_err(NodeError::into_dht_error)
    }

    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        Node::list(self, mailbox, after, limit)
            .await
            .map(Some)
            .map_err(NodeError::into_dht_error)
    }

    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        Node::next_seq(self, mailbox, bucket)
            .await
            .map(Some)
            .map_err(NodeError::into_dht_error)
    }
}

/// Opens (or creates) the node's store and its libp2p key in `dir` (in
/// memory and a fresh key without one). Blocking: run off async workers.
fn open_store(
    dir: Option<std::path::PathBuf>,
    validator: Validator,
    clock: Arc<dyn pigeonhole::clock::Clock>,
    limits: crate::quota::Limits,
    grace: std::time::Duration,
) -> Result<(SqliteRecordStore, libp2p::identity::Keypair), NodeError> {
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir).map_err(|error| {
            NodeError::Store(format!("cannot create {}: {error}", dir.display()))
        })?;
    }
    let store = match &dir {
        Some(dir) => Store::open(dir.join(DB_FILE), validator.clone(), clock.clone())?,
        None => Store::open_in_memory(validator.clone(), clock.clone())?,
    };
    let store = SqliteRecordStore::new(store, validator, clock, limits, grace)?;
    let keypair = load_or_create_keypair(dir.as_deref())?;
    Ok((store, keypair))
}
