//! The proof-of-work stamp on first-contact buddy requests.
//!
//! Keys cost nothing, so without a price one peer can send a buddy request
//! from every key it likes and crowd out everyone else's. A stamp is a
//! nonce such that `H("pigeonhole/stamp/v1" ‖ 0x00 ‖ inbox ‖ sender ‖
//! nonce)` starts with [`STAMP_BITS`] zero bits: about 2^`STAMP_BITS`
//! hashes to find, one hash to check. It is bound to the recipient's inbox
//! and the sender's key, so every (sender key, recipient) pair pays once:
//! a flooder pays per request, an honest user pays once per person asked.
//! The stamp is not bound to a time, so a request re-put after a crash
//! (the same sealed body) keeps its stamp; repeats by one key to one inbox
//! are bounded by the per-sender cap instead.
//!
//! The stamp travels inside the sealed request body (PROTOCOL §5, §9): only
//! the recipient checks it, and it checks it only for senders it does not
//! know (a buddy's request needs none).

use sha2::{Digest, Sha256};

use crate::identity::PublicKey;
use crate::record::MailboxId;

/// Leading zero bits a stamp's hash needs (protocol version 3). Tuned so
/// one stamp costs a few tens of milliseconds on a laptop core (see the
/// `stamp` bench): p50 ≈ ln 2 · 2^16 hashes.
pub const STAMP_BITS: u32 = 16;

/// The stamp's domain tag.
pub const STAMP_DOMAIN: &str = "pigeonhole/stamp/v1";

fn prefix(inbox: &MailboxId, sender: &PublicKey) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(STAMP_DOMAIN.as_bytes());
    hasher.update([0u8]);
    hasher.update(inbox.0);
    hasher.update(sender.0);
    hasher
}

fn zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// The stamp hash of `nonce` for a request from `sender` into `inbox`.
pub fn stamp_hash(inbox: &MailboxId, sender: &PublicKey, nonce: u64) -> [u8; 32] {
    let mut hasher = prefix(inbox, sender);
    hasher.update(nonce.to_be_bytes());
    hasher.finalize().into()
}

/// The leading zero bits of `nonce`'s stamp hash (the work it proves).
pub fn stamp_work(inbox: &MailboxId, sender: &PublicKey, nonce: u64) -> u32 {
    zero_bits(&stamp_hash(inbox, sender, nonce))
}

/// Whether `nonce` proves at least `bits` of work for a request from
/// `sender` into `inbox`: one hash.
pub fn check_stamp(inbox: &MailboxId, sender: &PublicKey, nonce: u64, bits: u32) -> bool {
    stamp_work(inbox, sender, nonce) >= bits
}

/// Finds the first nonce (counting from 0) proving `bits` of work for a
/// request from `sender` into `inbox`. Deterministic; about 2^`bits`
/// hashes. Runs on the calling thread: call it off an async executor.
pub fn mint_stamp(inbox: &MailboxId, sender: &PublicKey, bits: u32) -> u64 {
    let prefix = prefix(inbox, sender);
    let mut nonce = 0u64;
    loop {
        let mut hasher = prefix.clone();
        hasher.update(nonce.to_be_bytes());
        if zero_bits(&hasher.finalize()) >= bits {
            return nonce;
        }
        nonce = nonce.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_stamp_checks_only_for_its_inbox_and_sender() {
        let inbox = MailboxId([1; 32]);
        let sender = PublicKey([2; 32]);
        let nonce = mint_stamp(&inbox, &sender, 10);
        assert!(check_stamp(&inbox, &sender, nonce, 10));
        assert!(stamp_work(&inbox, &sender, nonce) >= 10);
        // Another inbox or sender almost surely needs another nonce; the
        // first nonce that works there is not this one for both.
        let other = mint_stamp(&MailboxId([3; 32]), &sender, 10);
        let third = mint_stamp(&inbox, &PublicKey([4; 32]), 10);
        assert!(other != nonce || third != nonce);
        assert_eq!(zero_bits(&[0, 0x10]), 11);
        assert_eq!(zero_bits(&[0x80]), 0);
    }
}
