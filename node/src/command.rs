//! Requests from [`crate::Node`] handles to the swarm task.
//!
//! The task owns the swarm and the store; handles only send commands and
//! await one-shot replies, so no lock is ever held across the network.

use libp2p::Multiaddr;
use pigeonhole::mailbox::{ListCursor, ListPage};
use pigeonhole::record::{DhtKey, MailboxId};
use pigeonhole::store::Totals;
use tokio::sync::oneshot;

use crate::error::NodeError;
use crate::node::Published;

/// A reply channel.
pub type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// One request to the swarm task.
#[derive(Debug)]
pub enum Command {
    /// Look the slot up on the network.
    Get {
        key: DhtKey,
        reply: Reply<Option<Vec<u8>>>,
    },
    /// Publish a value (own record) under a slot.
    Put {
        key: DhtKey,
        value: Vec<u8>,
        reply: Reply<Published>,
    },
    /// A listing page of a mailbox from its replicas.
    List {
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
        reply: Reply<ListPage>,
    },
    /// The next free seq of a bucket, from the mailbox's replicas.
    NextSeq {
        mailbox: MailboxId,
        bucket: u32,
        reply: Reply<u32>,
    },
    /// Connect to a peer found another way.
    AddPeer { addr: Multiaddr, reply: Reply<()> },
    /// Run a Kademlia bootstrap now.
    Bootstrap { reply: Reply<()> },
    /// What this node itself holds under a slot (no network).
    Held {
        key: DhtKey,
        reply: Reply<Option<Vec<u8>>>,
    },
    /// Count and bytes this node holds.
    HeldTotals { reply: Reply<Totals> },
    /// recon7: the record ids of a mailbox this node holds (no network).
    HeldIds {
        mailbox: pigeonhole::record::MailboxId,
        reply: Reply<Vec<[u8; 32]>>,
    },
    /// Replace the set of mailboxes fair storage protects (issue 11).
    Protect {
        mailboxes: Vec<MailboxId>,
        reply: Reply<()>,
    },
    /// What the store holds and what its quotas did.
    StoreStats {
        reply: Reply<crate::record_store::StoreStats>,
    },
    /// sybil: the app vouches for a peer (`trusted`) or withdraws it; the
    /// reply is false when the trusted set is full.
    Trust {
        peer: libp2p::PeerId,
        trusted: bool,
        reply: Reply<bool>,
    },
    /// sybil: whether a peer has standing here.
    HasStanding {
        peer: libp2p::PeerId,
        reply: Reply<bool>,
    },
    /// Republish the outbox and sweep expired records now.
    Maintain { reply: Reply<()> },
    /// Stop the task (the store is closed when it ends).
    Stop,
}
