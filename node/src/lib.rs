//! The Pigeonhole DHT peer: what phones and laptops run to find each other
//! on a local network with no internet, hold records for one another, and
//! let the sequenced mailbox publish and fetch through real Kademlia.
//!
//! Why a separate crate: the `pigeonhole` core knows nothing of libp2p, so
//! that the record rules and the mailbox algorithm stay small, testable in
//! memory and free of networking dependencies. This crate plugs libp2p in
//! underneath through the core's [`pigeonhole::mailbox::Dht`] trait.
//!
//! Shape: [`Node::start`] spawns one task that owns the libp2p `Swarm`
//! (kad + identify + optional mDNS + the mailbox protocol v2) and the
//! SQLite store; the cloneable
//! [`Node`] handle talks to it through a command channel with one-shot
//! replies. Nothing else touches the swarm, so there are no locks around it.
//!
//! Modules, each doing one thing:
//! * [`config`] — what a node is started with, with safe defaults;
//! * [`error`] — the typed errors of the node;
//! * [`quota`] — storage limits, fair shares and displacement: how an inbound
//!   record is checked against them;
//! * [`record_store`] — libp2p's Kademlia record store on the core's SQLite store;
//! * [`behaviour`] — the libp2p behaviour and swarm construction;
//! * `keys` — conversions between core and libp2p keys, the persisted peer key;
//! * `command`, `runner` — the task: commands in, events handled;
//! * `replicas` — peers' standing (age, served records, trust), and whom a
//!   reader asks first;
//! * `placement` — who holds a mailbox: the closest peers of standing and
//!   the closest overall;
//! * `lookup`, [`referral`] — referrals: answers name closer peers, and
//!   the peers found per mailbox;
//! * [`roster`] — every LAN peer known (large k-buckets, the roster
//!   exchange), so a read asks the right replicas at once;
//! * [`mailbox_protocol`] — peer protocol v2 (put, list, next seq) and its codec;
//! * `queries`, `protocol`, `serve` — operations in flight, publishing and
//!   reading through the replica set, answering other peers;
//! * `merge` — checking and merging replicas' listing pages;
//! * `slot_index` — which mailbox a slot key belongs to;
//! * [`reconcile`], [`reconcile_codec`], `reconcile_driver` — replica repair
//!   by set reconciliation (negentropy) when peers (re)connect;
//! * [`node`] — the public handle and its `Dht` implementation;
//! * [`peer_limits`], `budget`, `inbound`, `inbound_jobs`, [`shared_store`],
//!   [`load`] — what other peers may ask of this node (connection limits,
//!   per-peer budgets) and the worker pool that answers them off the
//!   swarm task.

#![deny(missing_docs)]

pub mod behaviour;
mod budget;
mod closest;
mod command;
pub mod config;
pub mod error;
mod inbound;
mod inbound_jobs;
mod keys;
pub mod load;
mod local_read;
mod lookup;
pub mod mailbox_protocol;
mod maintenance;
mod mdns_redial;
mod merge;
pub mod node;
mod own_lane;
pub mod peer_limits;
mod placement;
mod protocol;
mod put;
mod queries;
pub mod quota;
pub mod reconcile;
pub mod reconcile_codec;
mod reconcile_driver;
pub mod record_store;
pub mod referral;
mod replicas;
pub mod roster;
mod runner;
mod serve;
pub mod shared_store;
mod slot_index;

pub use config::{NodeConfig, ReplicationConfig, Transport};
pub use error::{NodeError, RefusalKind};
pub use libp2p::{Multiaddr, PeerId};
pub use load::LoadStats;
pub use node::{Node, NodeStatus, Published};
pub use peer_limits::PeerLimits;
pub use quota::Limits;
pub use record_store::StoreStats;
