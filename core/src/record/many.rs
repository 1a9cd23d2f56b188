//! Validating many records at once (a listing page of a mailbox read).
//!
//! Every record still passes the one validator's checks, in their order,
//! with the same result as [`Validator::validate`] would give it alone. Two
//! things are shared across the batch, neither able to change a result:
//! * the work is spread over the machine's cores (a page of 256 records is
//!   256 signature checks: most of a read's time);
//! * each sender's public key is decompressed once per batch, not once per
//!   record (a feed or a busy inbox has few senders).
//!
//! Why not ed25519 batch verification (`verify_batch`): it checks the
//! cofactored equation, while the validator's `verify_strict` checks the
//! cofactorless one. A crafted signature (a torsion component in R) passes
//! one and fails the other, so a reader and a storing peer could disagree
//! on whether a record is valid. The validator is the single gate; a batch
//! must not open a second one.

use std::collections::HashMap;
use std::sync::OnceLock;

use ed25519_dalek::VerifyingKey;

use crate::identity::PublicKey;
use crate::record::validate::{RecordError, Validator};
use crate::record::{DhtKey, Record, signature_valid_with};

/// Fewest records worth a thread of their own (a thread costs tens of
/// microseconds; a signature check tens of microseconds too).
const MIN_PER_THREAD: usize = 32;

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
    })
}

impl Validator {
    /// [`Validator::validate`] of every `(key, bytes)` at `now`, results in
    /// the same order. Runs on up to the machine's cores (scoped threads;
    /// the call blocks until all are done, as a single `validate` does).
    pub fn validate_many(
        &self,
        items: &[(DhtKey, &[u8])],
        now: u64,
    ) -> Vec<Result<Record, RecordError>> {
        let threads = cores().min(items.len() / MIN_PER_THREAD).max(1);
        if threads == 1 {
            return self.validate_chunk(items, now);
        }
        let chunk = items.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut chunks = items.chunks(chunk);
            let first = chunks.next().unwrap_or(&[]);
            let helpers: Vec<_> = chunks
                .map(|part| scope.spawn(move || self.validate_chunk(part, now)))
                .collect();
            let mut results = self.validate_chunk(first, now);
            for helper in helpers {
                match helper.join() {
                    Ok(part) => results.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            results
        })
    }

    fn validate_chunk(
        &self,
        items: &[(DhtKey, &[u8])],
        now: u64,
    ) -> Vec<Result<Record, RecordError>> {
        let mut keys: HashMap<PublicKey, Option<VerifyingKey>> = HashMap::new();
        items
            .iter()
            .map(|(key, bytes)| {
                self.validate_with(key, bytes, now, &mut |decoded| {
                    let sender = decoded.header.sender;
                    let verifying = keys.entry(sender).or_insert_with(|| sender.verifying_key());
                    signature_valid_with(decoded, verifying.as_ref())
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::record::body::SEALED_SCHEME_V1;
    use crate::record::{Header, InstanceId, Kind, MailboxId, Policy};

    const NOW: u64 = 1_800_000_000;

    fn signed(sender: &Identity, seq: u32, created_at: u64) -> (DhtKey, Vec<u8>) {
        let expires_at = created_at + 3_600;
        let header = Header {
            kind: Kind::BuddyRequest,
            mailbox: MailboxId::derive(b"test", b"many"),
            instance: InstanceId {
                bucket: InstanceId::bucket_of(expires_at),
                seq,
            },
            sender: sender.public_key(),
            created_at,
            expires_at,
        };
        let mut body = vec![SEALED_SCHEME_V1];
        body.resize(200, 7);
        (header.dht_key(), header.sign(sender, &body))
    }

    /// Valid, forged, expired, mis-keyed and bad-key records, many of each,
    /// across several senders: the batch gives each exactly what
    /// `validate` gives it alone, in order.
    #[test]
    fn a_batch_judges_every_record_as_validate_does() {
        let validator = Validator::new(Policy::default());
        let senders: Vec<Identity> = (1..=3)
            .map(|i| Identity::from_secret_bytes([i; 32]))
            .collect();
        let mut items = Vec::new();
        for i in 0..300u32 {
            let sender = &senders[i as usize % senders.len()];
            let (mut key, mut bytes) = signed(sender, i, NOW - 10);
            match i % 6 {
                1 => *bytes.last_mut().unwrap() ^= 1, // forged signature
                2 => (key, bytes) = signed(sender, i, NOW - 7_200), // expired
                3 => key = signed(sender, i + 1, NOW - 10).0, // another slot's key
                4 => bytes[42..74].fill(0xff),        // another sender's key bytes
                _ => {}
            }
            items.push((key, bytes));
        }
        let borrowed: Vec<(DhtKey, &[u8])> = items.iter().map(|(k, b)| (*k, &b[..])).collect();
        let batch = validator.validate_many(&borrowed, NOW);
        assert_eq!(batch.len(), items.len());
        let mut kinds = std::collections::HashSet::new();
        for ((key, bytes), got) in items.iter().zip(&batch) {
            let alone = validator.validate(key, bytes, NOW);
            match (&alone, got) {
                (Ok(a), Ok(b)) => assert_eq!(a.id(), b.id()),
                (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind()),
                _ => panic!("batch and single validation disagree: {alone:?} vs {got:?}"),
            }
            kinds.insert(format!(
                "{:?}",
                got.as_ref().map(|_| ()).map_err(|e| e.kind())
            ));
        }
        assert!(
            kinds.len() >= 4,
            "the fixture exercises several outcomes: {kinds:?}"
        );
    }
}
