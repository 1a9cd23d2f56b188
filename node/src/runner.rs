//! The swarm task: the only owner of the libp2p swarm and the store.
//!
//! One `select!` loop takes commands from handles, swarm events, and the
//! timers: the expiry sweep, the outbox republish, the republish drain
//! that sends queued outbox records in small batches (so a large outbox
//! never floods the replicas), and replica repair (due passes, periodic
//! passes), and the answers of the inbound worker pool. Other peers'
//! requests are only routed here: their signature checks and SQLite work
//! run on the pool's threads ([`crate::inbound`]); the user's own store
//! calls (local copies, outbox rows, local pages, sweeps) run on the own
//! lane's thread ([`crate::own_lane`]), whose continuations come back here.
//! This task does no SQLite of its own but Kademlia's synchronous
//! `RecordStore::get` (for another implementation's GET_VALUE, and the
//! local check of the rare slot read by Kademlia key), one row by key and
//! rate-limited (see [`crate::shared_store`]). Publishing and reading live in
//! [`crate::protocol`], routing peers' requests in [`crate::serve`].
//!
//! There is no push of held records to peers that join: replicas repair
//! each other by set reconciliation, and publishers repair their own
//! records by republishing through the put path.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use libp2p::kad::{self, GetRecordOk, PeerRecord, QueryId, QueryResult};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns};
use pigeonhole::record::{Record, Validator};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tracing::{debug, info, trace, warn};

use crate::behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL};
use crate::command::Command;
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::keys::dht_key;
use crate::node::NodeStatus;
use crate::queries::{Op, Pending};
use crate::replicas::Standing;
use crate::slot_index::SlotIndex;

/// Shortest time between two outbox republishes triggered by peers joining
/// (minting peer ids cannot make a node republish more often than this).
const JOIN_REPUBLISH_GAP: Duration = Duration::from_secs(10);

/// The task's state.
pub struct Runner {
    pub(crate) swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    status: watch::Sender<NodeStatus>,
    listen_addrs: watch::Sender<Vec<Multiaddr>>,
    pub(crate) config: NodeConfig,
    pub(crate) validator: Validator,
    pub(crate) local: PeerId,
    pub(crate) pending: HashMap<QueryId, Pending>,
    pub(crate) ops: HashMap<u64, Op>,
    pub(crate) next_op: u64,
    pub(crate) requests: HashMap<OutboundRequestId, (u64, PeerId)>,
    pub(crate) standing: Standing,
    pub(crate) slots: SlotIndex,
    pub(crate) republish_queue: VecDeque<Record>,
    last_join_republish: Option<Instant>,
    records_accepted: u64,
    pub(crate) requests_sent: u64,
    // recon7: replica repair state (see reconcile_driver.rs).
    pub(crate) reconciler: crate::reconcile_driver::Reconciler,
    /// The peers found close to each mailbox (see [`crate::lookup`]).
    pub(crate) found_peers: crate::lookup::FoundPeers,
    pub(crate) roster: crate::roster::Roster,
    /// Failed dials to mDNS-found peers, retried (see mdns_redial.rs).
    mdns_redial: crate::mdns_redial::MdnsRedial,
    /// Other peers' requests, answered off this task (see inbound.rs).
    pub(crate) inbound: crate::inbound::InboundPool,
    /// The user's own store calls, off this task (see own_lane.rs).
    pub(crate) own: crate::own_lane::OwnLane,
    /// Puts answered busy, sent again shortly (see put.rs).
    pub(crate) busy_retries: crate::put::BusyRetries,
    /// Offers of newcomers' records to replicas (see placement.rs).
    pub(crate) relays: crate::placement::Relays,
}

impl Runner {
    /// A runner for an already listening swarm.
    pub fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        status: watch::Sender<NodeStatus>,
        listen_addrs: watch::Sender<Vec<Multiaddr>>,
        config: NodeConfig,
        validator: Validator,
    ) -> Self {
        let local = *swarm.local_peer_id();
        let mut swarm = swarm;
        let store = swarm.behaviour_mut().kad.store_mut().clone();
        let inbound = crate::inbound::InboundPool::start(
            config.peer_limits,
            store.clone(),
            validator.clone(),
            config.clock.clone(),
            store.counters(),
        );
        let own = crate::own_lane::OwnLane::start(store.clone());
        let standing = Standing::new(config.replication.standing_after, config.clock.clone());
        Self {
            swarm,
            commands,
            status,
            listen_addrs,
            config,
            validator,
            local,
            pending: HashMap::new(),
            ops: HashMap::new(),
            next_op: 0,
            requests: HashMap::new(),
            standing,
            slots: SlotIndex::default(),
            republish_queue: VecDeque::new(),
            last_join_republish: None,
            records_accepted: 0,
            requests_sent: 0,
            reconciler: Default::default(),
            found_peers: Default::default(),
            roster: Default::default(),
            mdns_redial: Default::default(),
            inbound,
            own,
            busy_retries: Default::default(),
            relays: Default::default(),
        }
    }

    // ---- recon7: start-up events (issue 7, item 8) -------------------------
    /// Handles the swarm events that arrived while `Node::start` waited for
    /// its listen addresses (an early mDNS answer among them), then runs.
    pub async fn run_after(mut self, early: Vec<SwarmEvent<BehaviourEvent>>) {
        for event in early {
            self.on_event(event);
        }
        self.run().await
    }
    // ---- end recon7 ---------------------------------------------------------

    /// Runs until a `Stop` command or until every handle is dropped. The
    /// swarm and the store are dropped (connections closed, database
    /// closed) when this returns.
    pub async fn run(mut self) {
        for addr in self.config.bootstrap_peers.clone() {
            if let Err(error) = self.add_peer(addr) {
                warn!(%error, "bootstrap peer skipped");
            }
        }
        let start = Instant::now();
        let mut sweep = interval_at(
            start + self.config.sweep_interval,
            self.config.sweep_interval,
        );
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let republish_every = self.config.replication.republish_interval;
        let mut republish = interval_at(start + republish_every, republish_every);
        republish.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut drain = interval_at(
            start + crate::maintenance::REPUBLISH_TICK,
            crate::maintenance::REPUBLISH_TICK,
        );
        drain.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // recon7: due reconcile passes.
        let mut reconcile = tokio::time::interval(crate::reconcile_driver::TICK);
        reconcile.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let repair_every = self.config.replication.repair_interval;
        let mut repair = interval_at(start + repair_every, repair_every);
        repair.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut redial = tokio::time::interval(crate::mdns_redial::TICK);
        redial.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let roster_tick = crate::roster::ROSTER_FOLLOW_UP;
        let mut roster = interval_at(start + roster_tick, roster_tick);
        roster.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let busy_due = self.busy_retries.next_due();
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                Some(done) = self.inbound.next_done() => self.on_inbound_done(done),
                Some(then) = self.own.next() => then(&mut self),
                _ = tokio::time::sleep_until(busy_due.unwrap_or_else(Instant::now)),
                    if busy_due.is_some() => self.resend_busy_puts(),
                _ = sweep.tick() => self.sweep(),
                _ = republish.tick() => self.republish(),
                _ = drain.tick(), if !self.republish_queue.is_empty() => self.drain_republish(),
                _ = reconcile.tick(), if self.reconciler.has_due() => self.run_due_passes(),
                _ = repair.tick() => self.schedule_periodic_repair(),
                _ = redial.tick(), if !self.mdns_redial.is_empty() => self.redial_mdns(),
                _ = roster.tick() => self.pull_roster_in_turn(),
            }
        }
        info!(peer = %self.local, "node stopping");
        // Pending replies are dropped: their handles see `NodeError::Stopped`.
    }

    pub(crate) fn kad(&mut self) -> &mut kad::Behaviour<crate::shared_store::SharedStore> {
        &mut self.swarm.behaviour_mut().kad
    }

    pub(crate) fn routing_size(&mut self) -> usize {
        self.kad()
            .kbuckets()
            .map(|bucket| bucket.num_entries())
            .sum()
    }

    pub(crate) fn publish_status(&mut self) {
        let status = NodeStatus {
            routing_peers: self.routing_size(),
            connected_peers: self.swarm.connected_peers().count(),
            records_accepted: self.records_accepted,
            requests_sent: self.requests_sent,
            referrals_followed: self.found_peers.followed,
            roster_pulls: self.roster.pulls,
        };
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }

    /// Counts an inbound record accepted into the store.
    pub(crate) fn note_accepted(&mut self) {
        self.records_accepted += 1;
        self.publish_status();
    }

    // ---- commands -------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Get { key, reply } => self.start_get(key, reply),
            Command::Put { key, value, reply } => self.start_put(key, value, reply),
            Command::List {
                mailbox,
                after,
                limit,
                reply,
            } => self.start_list(mailbox, after, limit, reply),
            Command::NextSeq {
                mailbox,
                bucket,
                reply,
            } => self.start_next_seq(mailbox, bucket, reply),
            Command::AddPeer { addr, reply } => {
                let _ = reply.send(self.add_peer(addr));
            }
            Command::Bootstrap { reply } => match self.kad().bootstrap() {
                Ok(id) => {
                    self.pending.insert(id, Pending::Bootstrap(reply));
                }
                Err(_) => {
                    let _ = reply.send(Err(NodeError::Unavailable("no known peers".into())));
                }
            },
            Command::Held { key, reply } => self.own.spawn(move |store| {
                let held = store.lock().get_valid(&key);
                let _ = reply.send(
                    held.map(|record| record.map(|r| r.bytes().to_vec()))
                        .map_err(NodeError::from),
                );
            }),
            Command::HeldTotals { reply } => self.own.spawn(move |store| {
                let _ = reply.send(store.lock().totals().map_err(NodeError::from));
            }),
            // recon7: what reconciliation compares, for tests and apps.
            Command::HeldIds { mailbox, reply } => self.own.spawn(move |store| {
                let items = store.lock().inner().items(&mailbox);
                let _ = reply.send(
                    items
                        .map(|items| items.into_iter().map(|(_, id)| id).collect())
                        .map_err(NodeError::from),
                );
            }),
            // Fair storage (issue 11): see crate::quota.
            Command::Protect { mailboxes, reply } => self.own.spawn(move |store| {
                store.lock().set_protected(mailboxes);
                let _ = reply.send(Ok(()));
            }),
            Command::StoreStats { reply } => self.own.spawn(move |store| {
                let _ = reply.send(store.lock().stats().map_err(NodeError::from));
            }),
            Command::Trust {
                peer,
                trusted,
                reply,
            } => {
                let _ = reply.send(Ok(self.standing.set_trusted(peer, trusted)));
            }
            Command::HasStanding { peer, reply } => {
                let _ = reply.send(Ok(self.standing.has_standing(&peer)));
            }
            Command::Maintain { reply } => self.own.run(
                |store| {
                    crate::maintenance::log_sweep(store.sweep());
                    store.inner().outbox_list()
                },
                move |runner, queued| {
                    runner.queue_republish(queued);
                    runner.drain_republish();
                    let _ = reply.send(Ok(()));
                },
            ),
            Command::Stop => unreachable!("handled by the loop"),
        }
    }

    fn add_peer(&mut self, addr: Multiaddr) -> Result<(), NodeError> {
        let peer = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        };
        if peer == Some(self.local) {
            return Ok(());
        }
        if let Some(peer) = peer {
            let transport_addr: Multiaddr = addr
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect();
            self.kad().add_address(&peer, transport_addr);
        }
        // Dial now: identify then tells both sides each other's listen
        // addresses, and kad bootstraps from the new routing entry.
        self.swarm
            .dial(addr.clone())
            .map_err(|error| NodeError::BadAddress {
                addr: addr.to_string(),
                reason: error.to_string(),
            })?;
        debug!(%addr, "peer added");
        Ok(())
    }

    // ---- events ---------------------------------------------------------

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mailbox(event)) => match event {
                request_response::Event::Message {
                    peer,
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                } => self.on_mailbox_request(peer, request, channel),
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                } => self.on_mailbox_response(request_id, Some(response)),
                request_response::Event::OutboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                } => {
                    debug!(%peer, %error, "mailbox request failed");
                    self.on_mailbox_response(request_id, None);
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for addr in info.listen_addrs {
                        self.kad().add_address(&peer_id, addr);
                    }
                } else {
                    trace!(%peer_id, "peer does not speak our kad protocol");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                // mDNS's service name is shared by every libp2p app on the
                // LAN: dial, and let identify's protocol check decide
                // whether the peer enters kad. Both sides usually discover
                // each other in the same instant and dial at once; with the
                // default port reuse the two dials become one TCP
                // simultaneous open that the noise handshake (two
                // initiators) rejects, so dial from a fresh port.
                for (peer, addr) in found {
                    self.mdns_redial.discovered(peer, addr.clone());
                    if peer != self.local && !self.swarm.is_connected(&peer) {
                        debug!(%peer, %addr, "mDNS discovered a peer");
                        let dial = DialOpts::peer_id(peer)
                            .addresses(vec![addr])
                            .allocate_new_port()
                            .build();
                        if let Err(error) = self.swarm.dial(dial) {
                            debug!(%peer, %error, "dial after mDNS failed");
                        }
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                // A new interface address: the network changed. mDNS probes
                // the new interface by itself; refresh the routing table.
                debug!(%address, "listening");
                self.listen_addrs.send_if_modified(|addrs| {
                    let new = !addrs.contains(&address);
                    if new {
                        addrs.push(address);
                    }
                    new
                });
                if self.routing_size() > 0 {
                    let _ = self.kad().bootstrap();
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                debug!(%address, "no longer listening");
                self.listen_addrs.send_if_modified(|addrs| {
                    let before = addrs.len();
                    addrs.retain(|a| *a != address);
                    addrs.len() != before
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Reconcile(event)) => self.on_reconcile(event),
            SwarmEvent::Behaviour(BehaviourEvent::Roster(event)) => self.on_roster(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, _) in gone {
                    self.mdns_redial.expired(&peer);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } if !self.swarm.is_connected(&peer) => {
                debug!(%peer, %error, "dial failed");
                self.mdns_redial.failed(peer, Instant::now());
            }
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                send_back_addr,
                ..
            } => {
                debug!(%send_back_addr, %cause, "inbound connection denied");
                self.inbound.counters().note_connection_denied();
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.mdns_redial.connected(&peer_id);
                self.standing.connected(peer_id);
                // recon7: every (re)connection asks for a replica-repair pass.
                self.reconciler.on_connected(peer_id);
                self.roster.seen(peer_id, Instant::now());
                self.pull_roster_from_first_peer(peer_id);
                self.publish_status();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                debug!(%peer_id, num_established, ?cause, "connection closed");
                if num_established == 0 {
                    self.roster.seen(peer_id, Instant::now());
                    self.standing.disconnected(&peer_id);
                    self.inbound.forget(&peer_id);
                }
                self.publish_status();
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                // kad has already acknowledged (FilterBoth); this is where
                // the record is judged — by the store's one write path. A
                // key that is not the record's own slot key is refused.
                if dht_key(&record.key) == crate::mailbox_protocol::slot_key_of(&record.value) {
                    self.submit_kad_put(source, record.value);
                } else {
                    debug!(%source, "inbound kad record under a foreign key refused");
                }
            }
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => match result {
                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(PeerRecord {
                    peer: Some(peer),
                    record,
                }))) => self.on_found(id, peer, record.value),
                QueryResult::GetRecord(_) if step.last => self.on_get_finished(id),
                QueryResult::Bootstrap(result) if step.last => {
                    if let Some(Pending::Bootstrap(reply)) = self.pending.remove(&id) {
                        // Connections exist now: ask the peer connected
                        // longest who else is here.
                        self.pull_roster(None, true);
                        let _ = reply.send(
                            result
                                .map(|_| ())
                                .map_err(|error| NodeError::Unavailable(error.to_string())),
                        );
                    }
                }
                _ => {}
            },
            kad::Event::RoutingUpdated { is_new_peer, .. } => {
                // A new peer may be a new replica of mailboxes we published
                // into: repair our own records (rate-limited).
                let due = self
                    .last_join_republish
                    .is_none_or(|last| last.elapsed() >= JOIN_REPUBLISH_GAP);
                if is_new_peer && due && self.republish_queue.is_empty() {
                    self.last_join_republish = Some(Instant::now());
                    self.republish();
                }
                self.publish_status();
            }
            _ => {}
        }
    }

    // ---- maintenance ----------------------------------------------------

    /// Dials again the mDNS-found peers whose earlier dial failed.
    fn redial_mdns(&mut self) {
        for peer in self.mdns_redial.take_due(Instant::now()) {
            if self.swarm.is_connected(&peer) {
                self.mdns_redial.connected(&peer);
                continue;
            }
            let dial = DialOpts::peer_id(peer)
                .addresses(self.mdns_redial.addresses(&peer))
                .allocate_new_port()
                .build();
            debug!(%peer, "dialling an mDNS-found peer again");
            if let Err(error) = self.swarm.dial(dial) {
                debug!(%peer, %error, "redial failed at once");
                self.mdns_redial.failed(peer, Instant::now());
            }
        }
    }
}
