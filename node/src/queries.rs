//! Bookkeeping of the node's operations in flight.
//!
//! One operation (a publish, a listing read, a next-seq question, a slot
//! read) sends requests to several replicas; each request id maps back to
//! the operation and the peer asked ([`Runner::requests`]), and the
//! operation finishes when enough replicas answered. Kademlia query ids
//! ([`Pending`]) remain for the interop fallback read and bootstraps.
//!
//! [`Runner::requests`]: crate::runner::Runner

use std::collections::VecDeque;

use libp2p::PeerId;
use pigeonhole::mailbox::{ListCursor, ListPage};
use pigeonhole::record::{DhtKey, InstanceId, MailboxId, Record};

use crate::command::Reply;
use crate::mailbox_protocol::RefusalKind;
use crate::node::Published;

/// A slot read in flight (the probe fallback).
pub struct PendingGet {
    /// The slot.
    pub key: DhtKey,
    /// Who should hear the answer.
    pub reply: Reply<Option<Vec<u8>>>,
}

/// What a Kademlia query id belongs to.
pub enum Pending {
    /// A slot read that fell back to a Kademlia lookup.
    Get(PendingGet),
    /// A bootstrap for a handle.
    Bootstrap(Reply<()>),
}

/// A publish (or a republish) in flight: a put sent to every replica.
pub struct PutOp {
    /// The validated record.
    pub record: Record,
    /// Who waits for the outcome (`None` for a republish, or once answered).
    pub reply: Option<Reply<Published>>,
    /// Requests not yet answered.
    pub waiting: usize,
    /// Replicas (other than this node) that stored it or already held it.
    pub acks: usize,
    /// Replicas that refused, with the kind and reason.
    pub refusals: Vec<(PeerId, RefusalKind, String)>,
    /// Replicas that did not answer.
    pub silent: usize,
    /// The peers asked whose acknowledgement counts as "a peer of standing
    /// stored it" (empty: any acknowledgement counts).
    pub standing: Vec<PeerId>,
    /// Acknowledgements from peers in `standing`.
    pub standing_acks: usize,
    /// The next peers of standing, asked when a peer of standing does not
    /// answer, or when none of those asked stored the record.
    pub standing_spares: VecDeque<PeerId>,
    /// The next-closest known peers, asked in turn for each other replica
    /// that does not answer (a departed peer still in the routing table
    /// must not make a publish fail while live peers remain).
    pub spares: VecDeque<PeerId>,
    /// Puts sent again after a "busy" answer (see [`crate::put::BusyRetries`]).
    pub busy_retries: u32,
}

/// What a read asks the replicas.
pub enum ReadKind {
    /// A listing page.
    List {
        /// The mailbox.
        mailbox: MailboxId,
        /// Resume strictly after this.
        after: Option<ListCursor>,
        /// Most records wanted.
        limit: u16,
        /// Who waits.
        reply: Reply<ListPage>,
    },
    /// The next free seq of a bucket.
    NextSeq {
        /// The mailbox.
        mailbox: MailboxId,
        /// The bucket.
        bucket: u32,
        /// Who waits.
        reply: Reply<u32>,
    },
    /// One slot, read as a one-slot listing of its mailbox.
    Slot {
        /// The slot key.
        key: DhtKey,
        /// Its mailbox.
        mailbox: MailboxId,
        /// Its instance.
        instance: InstanceId,
        /// Who waits.
        reply: Reply<Option<Vec<u8>>>,
    },
}

/// One replica's answer to a read.
pub enum ReadAnswer {
    /// A page of records and whether more follow, with the position of the
    /// last record the replica sent (valid or not).
    Page {
        /// Records that passed the checks, with their listing positions.
        records: Vec<(ListCursor, Vec<u8>)>,
        /// The replica has more after `last`.
        more: bool,
        /// Position of the last record sent.
        last: Option<ListCursor>,
    },
    /// A next seq.
    Seq(u32),
}

/// A read in flight: asks the first two peers of its order, the next one
/// when one fails, the closer ones when an answer names them, and merges
/// what answered.
pub struct ReadOp {
    /// What is asked, and who waits.
    pub kind: ReadKind,
    /// The mailbox read.
    pub mailbox: MailboxId,
    /// The replicas to ask, best first (recomputed when referrals name
    /// peers closer to the mailbox).
    pub order: Vec<PeerId>,
    /// Peers asked so far.
    pub asked: Vec<PeerId>,
    /// Peers asked that did not answer.
    pub failed: Vec<PeerId>,
    /// Times the order was recomputed from referrals.
    pub referral_rounds: u8,
    /// Requests not yet answered.
    pub waiting: usize,
    /// Answers so far (this node's own first, when it is a replica).
    pub answers: Vec<ReadAnswer>,
    /// Who gave each answer (`None`: this node), for crediting standing.
    pub answered_by: Vec<Option<PeerId>>,
    /// This node's own answer is still being read (on the own lane).
    pub local_pending: bool,
    /// Records that passed the full validator in this read's sampled
    /// checks (see [`crate::merge::Verified`]).
    pub verified: crate::merge::Verified,
}

/// Any operation in flight (boxed: the two differ much in size).
pub enum Op {
    /// A put to the replica set.
    Put(Box<PutOp>),
    /// A read from the replica set.
    Read(Box<ReadOp>),
}
