//! Retrying a failed dial to a peer that mDNS found.
//!
//! Why: libp2p's mDNS reports a (peer, address) pair once and then keeps it
//! cached until its TTL runs out (minutes). If the one dial that follows the
//! discovery fails — both sides dialled in the same instant, a handshake
//! timed out on a busy phone — nothing dials that peer again and the two
//! nodes stay strangers on one Wi-Fi. So a failed dial to an mDNS-found
//! peer is retried a few times with a doubling delay; a peer that connects,
//! or that mDNS forgets, is dropped from the list. Bounded: at most
//! [`MAX_ATTEMPTS`] retries per peer, so a LAN device that is not a
//! Pigeonhole peer costs a handful of dials, not a dial every few seconds.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// Retries per peer after its first failed dial.
pub const MAX_ATTEMPTS: u32 = 5;
/// Delay before the first retry; doubled for each further one.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// How often the runner looks for due retries.
pub const TICK: Duration = Duration::from_millis(250);

/// Peers whose dial after an mDNS discovery failed, with their next retry.
#[derive(Debug, Default)]
pub struct MdnsRedial {
    found: HashMap<PeerId, Vec<Multiaddr>>,
    due: HashMap<PeerId, (u32, Instant)>,
}

impl MdnsRedial {
    /// mDNS found `peer` at `addr`.
    pub fn discovered(&mut self, peer: PeerId, addr: Multiaddr) {
        let addrs = self.found.entry(peer).or_default();
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }

    /// mDNS forgot `peer` (its record expired): no more retries.
    pub fn expired(&mut self, peer: &PeerId) {
        self.found.remove(peer);
        self.due.remove(peer);
    }

    /// The addresses mDNS gave for `peer`.
    pub fn addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.found.get(peer).cloned().unwrap_or_default()
    }

    /// A dial to `peer` failed at `now`: if mDNS found it, schedule a retry
    /// unless its retries are used up.
    pub fn failed(&mut self, peer: PeerId, now: Instant) {
        if !self.found.contains_key(&peer) {
            return;
        }
        let attempts = self.due.get(&peer).map_or(0, |(attempts, _)| *attempts);
        if attempts >= MAX_ATTEMPTS {
            return;
        }
        let delay = FIRST_DELAY.saturating_mul(1 << attempts);
        self.due.insert(peer, (attempts + 1, now + delay));
    }

    /// `peer` connected: nothing more to retry.
    pub fn connected(&mut self, peer: &PeerId) {
        self.due.remove(peer);
    }

    /// Whether any retry is scheduled.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// The peers whose retry is due at `now`; they stay listed (with their
    /// attempt count) until they connect or fail again.
    pub fn take_due(&mut self, now: Instant) -> Vec<PeerId> {
        let mut due = Vec::new();
        for (peer, (_, at)) in self.due.iter_mut() {
            if *at <= now {
                due.push(*peer);
                // Not due again until the dial's outcome reschedules it.
                *at = now + Duration::from_secs(3600);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_stop_after_the_limit_and_end_on_connect() {
        let mut redial = MdnsRedial::default();
        let peer = PeerId::random();
        let start = Instant::now();
        redial.failed(peer, start);
        assert!(redial.is_empty(), "a peer mDNS did not find is not retried");
        redial.discovered(peer, "/ip4/10.0.0.2/tcp/4001".parse().unwrap());
        redial.failed(peer, start);
        assert!(
            redial.take_due(start).is_empty(),
            "not due before its delay"
        );
        assert_eq!(redial.take_due(start + FIRST_DELAY), vec![peer]);
        assert!(
            redial.take_due(start + FIRST_DELAY).is_empty(),
            "taken once"
        );
        let mut now = start + FIRST_DELAY;
        let mut retries = 1;
        loop {
            redial.failed(peer, now);
            now += FIRST_DELAY.saturating_mul(1 << MAX_ATTEMPTS);
            if redial.take_due(now).is_empty() {
                break;
            }
            retries += 1;
            assert!(retries <= MAX_ATTEMPTS, "bounded");
        }
        assert_eq!(retries, MAX_ATTEMPTS);

        let other = PeerId::random();
        redial.discovered(other, "/ip4/10.0.0.3/tcp/4001".parse().unwrap());
        redial.failed(other, start);
        redial.connected(&other);
        assert!(redial.take_due(start + Duration::from_secs(60)).is_empty());
    }
}
