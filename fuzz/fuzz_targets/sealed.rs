//! Opening a sealed body (X25519 + XChaCha20-Poly1305): any bytes a peer
//! serves as a request or response body reach this before anything else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pigeonhole::identity::Identity;
use pigeonhole::record::{Kind, MailboxId};
use pigeonhole::seal::{self, SealContext};

fuzz_target!(|data: &[u8]| {
    let identity = Identity::from_secret_bytes([6; 32]);
    let context = SealContext {
        kind: Kind::BuddyRequest,
        mailbox: MailboxId([1; 32]),
        sender: Identity::from_secret_bytes([7; 32]).public_key(),
    };
    let _ = seal::open(&identity, &context, data);
});
