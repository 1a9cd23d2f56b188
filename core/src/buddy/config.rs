//! The buddy layer's limits and lifetimes ([`BuddyConfig`]).
//!
//! Why a module of its own: the one knob set an app or the SDK passes in,
//! read by every other part of the layer (admission caps, lifetimes, the
//! expiry grace), apart from the code that applies it.

/// Limits and lifetimes of the buddy layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuddyConfig {
    /// How long a request waits for its recipient.
    pub request_lifetime_secs: u64,
    /// How long a response waits for the requester.
    pub response_lifetime_secs: u64,
    /// How long a directory entry lives before it must be republished.
    pub directory_lifetime_secs: u64,
    /// Most pending requests kept; further senders are dropped.
    pub max_pending: u64,
    /// Most pending requests from unknown senders (neither asked by this
    /// user, nor confirmed by a directory claim): a share of `max_pending`
    /// that throwaway keys cannot exceed, so they never crowd out senders
    /// the user knows.
    pub max_pending_unknown: u64,
    /// Least proof-of-work ([`crate::stamp`]) accepted from a sender who is
    /// not a buddy. Senders always mint [`crate::stamp::STAMP_BITS`].
    pub stamp_bits: u32,
    /// How long a directory lookup (claims found, or none) is trusted
    /// before the name is looked up again.
    pub directory_cache_secs: u64,
    /// Most distinct requests accepted from one sender per repeat window.
    pub max_requests_per_sender: u64,
    /// The window of `max_requests_per_sender`.
    pub repeat_window_secs: u64,
    /// How long (elapsed time, counted by the syncs) the clock must show a
    /// pending, seen or answered request expired before its row is
    /// deleted; until then it is only not shown. A clock that jumps and
    /// comes back within this loses nothing ([`crate::store::expiry`]).
    pub expiry_grace: std::time::Duration,
}

impl Default for BuddyConfig {
    fn default() -> Self {
        Self {
            request_lifetime_secs: 7 * 86_400,
            response_lifetime_secs: 7 * 86_400,
            directory_lifetime_secs: 30 * 86_400,
            max_pending: 200,
            max_pending_unknown: 50,
            stamp_bits: crate::stamp::STAMP_BITS,
            directory_cache_secs: 3_600,
            max_requests_per_sender: 3,
            repeat_window_secs: 86_400,
            expiry_grace: crate::store::expiry::DEFAULT_EXPIRY_GRACE,
        }
    }
}
