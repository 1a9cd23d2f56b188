//! Every body kind's decoder (format, then syntax). Public kinds arrive
//! inside a signed record, so the input body is signed by a fixed key and
//! validated; sealed kinds are checked after decryption, so the input is
//! given to `open_sealed` as the decrypted plaintext. The first byte
//! picks the kind.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pigeonhole::identity::Identity;
use pigeonhole::record::{
    Header, InstanceId, Kind, MAX_BODY_BYTES, MailboxId, Policy, Record, Validator,
};

const NOW: u64 = 1_800_000_000;

fn header(kind: Kind, identity: &Identity) -> Header {
    let expires_at = NOW + 3600;
    Header {
        kind,
        mailbox: MailboxId([9; 32]),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(expires_at),
            seq: 0,
        },
        sender: identity.public_key(),
        created_at: NOW,
        expires_at,
    }
}

/// A valid sealed record of `kind` to pass as the envelope of a plaintext.
fn sealed_envelope(kind: Kind, identity: &Identity, validator: &Validator) -> Record {
    let header = header(kind, identity);
    let context = pigeonhole::seal::SealContext {
        kind,
        mailbox: header.mailbox,
        sender: header.sender,
    };
    let body = pigeonhole::seal::seal(&identity.public_key(), &context, b"x").unwrap();
    validator
        .validate(&header.dht_key(), &header.sign(identity, &body), NOW)
        .unwrap()
}

struct Fixture {
    identity: Identity,
    validator: Validator,
    request: Record,
    response: Record,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let identity = Identity::from_secret_bytes([5; 32]);
        let validator = Validator::new(Policy::default());
        let request = sealed_envelope(Kind::BuddyRequest, &identity, &validator);
        let response = sealed_envelope(Kind::BuddyResponse, &identity, &validator);
        Fixture {
            identity,
            validator,
            request,
            response,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match selector % 6 {
        0 => {
            let _ = f.validator.open_sealed(&f.request, body);
        }
        1 => {
            let _ = f.validator.open_sealed(&f.response, body);
        }
        public => {
            if body.len() > MAX_BODY_BYTES {
                return;
            }
            let kind = [
                Kind::FeedPost,
                Kind::DocNotice,
                Kind::KeyDirectory,
                Kind::Tombstone,
            ][usize::from(public - 2)];
            let header = header(kind, &f.identity);
            let bytes = header.sign(&f.identity, body);
            let _ = f.validator.validate(&header.dht_key(), &bytes, NOW);
        }
    }
});
