//! Opening a sealed body (X25519 + XChaCha20-Poly1305): any bytes a peer
//! serves as a request or response body reach this before anything else.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pigeonhole::identity::Identity;
use pigeonhole::record::{Kind, MailboxId};
use pigeonhole::seal::{self, SealContext};

fn fixture() -> &'static (Identity, SealContext) {
    static FIXTURE: OnceLock<(Identity, SealContext)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let context = SealContext {
            kind: Kind::BuddyRequest,
            mailbox: MailboxId([1; 32]),
            sender: Identity::from_secret_bytes([7; 32]).public_key(),
        };
        (Identity::from_secret_bytes([6; 32]), context)
    })
}

fuzz_target!(|data: &[u8]| {
    let (identity, context) = fixture();
    let _ = seal::open(identity, context, data);
});
