//! Counters of the load limits at work, shared by the swarm task, the
//! worker pool and the [`crate::Node`] handle (atomics: no command round
//! trip, so a flooded node still answers [`crate::Node::load_stats`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// What the load limits have done since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Inbound requests answered "busy" because their peer was over its
    /// budget ([`crate::peer_limits::PeerLimits`] rates).
    pub busy_over_budget: u64,
    /// Inbound requests answered "busy" because the worker pool's queue
    /// (the peer's share or the total) was full.
    pub busy_queue_full: u64,
    /// Inbound requests the worker pool has run.
    pub inbound_served: u64,
    /// Kademlia PUT_VALUE records dropped unjudged (over budget or queue
    /// full; libp2p had already acknowledged them).
    pub kad_puts_dropped: u64,
    /// Kademlia GET_VALUE lookups answered "not here" over the node-wide
    /// read budget.
    pub kad_reads_refused: u64,
    /// Inbound connections denied by the connection limits.
    pub connections_denied: u64,
}

/// The live counters behind [`LoadStats`].
#[derive(Debug, Default)]
pub struct LoadCounters {
    busy_over_budget: AtomicU64,
    busy_queue_full: AtomicU64,
    inbound_served: AtomicU64,
    kad_puts_dropped: AtomicU64,
    kad_reads_refused: AtomicU64,
    connections_denied: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl LoadCounters {
    /// A snapshot.
    pub fn stats(&self) -> LoadStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        LoadStats {
            busy_over_budget: get(&self.busy_over_budget),
            busy_queue_full: get(&self.busy_queue_full),
            inbound_served: get(&self.inbound_served),
            kad_puts_dropped: get(&self.kad_puts_dropped),
            kad_reads_refused: get(&self.kad_reads_refused),
            connections_denied: get(&self.connections_denied),
        }
    }

    pub(crate) fn note_busy_over_budget(&self) {
        bump(&self.busy_over_budget);
    }

    pub(crate) fn note_busy_queue_full(&self) {
        bump(&self.busy_queue_full);
    }

    pub(crate) fn note_served(&self) {
        bump(&self.inbound_served);
    }

    pub(crate) fn note_kad_put_dropped(&self) {
        bump(&self.kad_puts_dropped);
    }

    pub(crate) fn note_kad_read_refused(&self) {
        bump(&self.kad_reads_refused);
    }

    pub(crate) fn note_connection_denied(&self) {
        bump(&self.connections_denied);
    }
}
