//! How much of this node other peers may use: connections, streams,
//! per-peer request budgets and the inbound worker pool.
//!
//! Why: at a meetup anyone can join the Wi-Fi, and a peer id costs
//! nothing. Without limits one peer can open hundreds of connections with
//! a thousand streams each and keep the node busy judging junk, so that
//! the user's own publishes wait behind it. Every default here is far
//! above what honest peers of a LAN of ≤ 50 phones use, and small enough
//! that a phone survives a flood (see node/README.md, "Load limits").

/// Limits on what other peers may ask of this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    /// Established inbound connections, all peers together (libp2p
    /// `connection_limits`). Default 128: a LAN of phones needs one per
    /// peer; each connection costs buffers (noise, yamux) of a few hundred
    /// KiB at most, so 128 bound that memory to tens of MiB. Outbound
    /// connections (this node dialling its replicas) are not capped, so a
    /// flood of inbound connections never cuts the user's own publishes off.
    pub max_established_incoming: u32,
    /// Established connections per peer, both directions (a peer needs
    /// one; two appear when both sides dial at once). Default 3.
    pub max_established_per_peer: u32,
    /// Inbound connections still in their handshake. Default 32.
    pub max_pending_incoming: u32,
    /// Concurrent streams per connection of the mailbox protocol (inbound
    /// and outbound share the count; libp2p drops inbound streams over
    /// it). Default 32: a republish sends at most 16 records per tick to
    /// one replica, and answers take a LAN round trip.
    pub mailbox_streams: usize,
    /// Concurrent streams per connection of the reconcile protocol.
    /// Default 32: a repair pass runs a few sessions at a time.
    pub reconcile_streams: usize,
    /// Puts one peer may send: (per second, burst). Default (100, 200):
    /// a republishing writer sends at most 80 a second to one replica.
    pub puts_per_second: (u32, u32),
    /// Listings and next-seq questions one peer may ask: (per second,
    /// burst). Default (100, 200).
    pub reads_per_second: (u32, u32),
    /// Worker threads that check signatures and run SQLite for inbound
    /// requests. Default 2 (a phone has more cores, but the store is one
    /// SQLite file and the app needs a core too).
    pub workers: usize,
    /// Inbound requests of one peer waiting for a worker before further
    /// ones are answered busy. Default 32.
    pub queue_per_peer: usize,
    /// Inbound requests of all peers waiting for a worker before further
    /// ones are answered busy. Default 512.
    pub queue_total: usize,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            max_established_incoming: 128,
            max_established_per_peer: 3,
            max_pending_incoming: 32,
            mailbox_streams: 32,
            reconcile_streams: 32,
            puts_per_second: (100, 200),
            reads_per_second: (100, 200),
            workers: 2,
            queue_per_peer: 32,
            queue_total: 512,
        }
    }
}

impl PeerLimits {
    /// libp2p's connection limits for these settings.
    pub fn connection_limits(&self) -> libp2p::connection_limits::ConnectionLimits {
        libp2p::connection_limits::ConnectionLimits::default()
            .with_max_established_incoming(Some(self.max_established_incoming))
            .with_max_established_per_peer(Some(self.max_established_per_peer))
            .with_max_pending_incoming(Some(self.max_pending_incoming))
    }
}
