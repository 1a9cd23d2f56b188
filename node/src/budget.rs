//! Per-peer budgets: how much work one remote peer may ask of this node.
//!
//! Why: answering a put costs a signature check and a SQLite transaction,
//! a listing a SQLite read; a peer id costs nothing and a LAN peer can
//! send thousands of requests a second. Each connected peer gets a token
//! bucket per class of request ([`Class`]): a burst, then a steady rate.
//! A request over budget is answered "busy" at once (the writer then asks
//! another replica, see [`crate::inbound`]); it is never silently dropped.
//! The rates are far above what an honest peer sends (a republishing
//! writer sends at most 80 puts a second to one replica), so only a
//! flooder meets them.
//!
//! Buckets of peers that disconnect are forgotten; the map is bounded by
//! the connection limits (and cut back when it grows past
//! [`MAX_TRACKED_PEERS`]).

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

use crate::peer_limits::PeerLimits;

/// Peers whose buckets are kept at most (far above the connection limits;
/// full buckets are dropped first when it is reached).
pub const MAX_TRACKED_PEERS: usize = 4096;

/// A classic token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate: rate.max(0.0),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// What a request costs against: each class has its own bucket per peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// A record to judge and store (a v2 put, a Kademlia PUT_VALUE).
    Put,
    /// A read of the store (a v2 list or next-seq).
    Read,
    /// Charged elsewhere: replica repair has its own per-peer limit
    /// (`reconcile_driver::INBOUND_PER_WINDOW`) and records this node
    /// pulled were asked for. Only the queue limits apply.
    Uncharged,
}

/// Every connected peer's buckets.
#[derive(Debug)]
pub struct PeerBudgets {
    limits: PeerLimits,
    peers: HashMap<PeerId, [TokenBucket; 2]>,
}

impl PeerBudgets {
    /// Budgets with `limits`' rates.
    pub fn new(limits: PeerLimits) -> Self {
        Self {
            limits,
            peers: HashMap::new(),
        }
    }

    fn fresh(&self, now: Instant) -> [TokenBucket; 2] {
        let bucket =
            |(rate, burst): (u32, u32)| TokenBucket::new(f64::from(rate), f64::from(burst), now);
        [
            bucket(self.limits.puts_per_second),
            bucket(self.limits.reads_per_second),
        ]
    }

    /// Whether `peer` may make one more request of `class` now (and if so
    /// it is counted).
    pub fn allow(&mut self, peer: &PeerId, class: Class, now: Instant) -> bool {
        if !self.peers.contains_key(peer) && self.peers.len() >= MAX_TRACKED_PEERS {
            self.peers
                .retain(|_, buckets| !buckets.iter_mut().all(|b| b.is_full(now)));
        }
        let index = match class {
            Class::Put => 0,
            Class::Read => 1,
            Class::Uncharged => return true,
        };
        let fresh = self.fresh(now);
        let buckets = self.peers.entry(*peer).or_insert(fresh);
        buckets[index].take(now)
    }

    /// Forgets a peer that has no connection left.
    pub fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0, start);
        assert_eq!((0..20).filter(|_| bucket.take(start)).count(), 5);
        let later = start + Duration::from_millis(500);
        assert_eq!((0..20).filter(|_| bucket.take(later)).count(), 5);
        let much_later = later + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| bucket.take(much_later)).count(), 5);
    }

    #[test]
    fn peers_and_classes_have_their_own_buckets() {
        let limits = PeerLimits {
            puts_per_second: (1, 3),
            ..PeerLimits::default()
        };
        let mut budgets = PeerBudgets::new(limits);
        let now = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(
            (0..10)
                .filter(|_| budgets.allow(&a, Class::Put, now))
                .count(),
            3
        );
        assert!(budgets.allow(&b, Class::Put, now));
        assert!(budgets.allow(&a, Class::Read, now));
        budgets.forget(&a);
        assert!(budgets.allow(&a, Class::Put, now));
    }
}
