//! Property test: every single-field mutation of a valid record is rejected
//! with its own error kind, and no valid record is rejected.

mod common;

use common::*;
use pigeonhole::record::body::{BodyRules, BuddyRequest, BuddyResponse, FeedPost};
use pigeonhole::record::{DhtKey, ErrorKind, InstanceId, Kind, Policy};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Mutation {
    FlipSignatureBit(usize),
    OtherSenderKey,
    OtherSlot,
    OtherRecipient,
    MovedToOtherRecipient,
    Expired,
    LifetimeTooLong,
    CreatedInFuture(u64),
    ExpiresBeforeCreated,
    BucketMismatch,
    OversizeBody,
    TrailingBytes(u8),
    Truncated(usize),
    UnknownKind(u8),
    BadFormat,
    BadSyntax,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..512).prop_map(Mutation::FlipSignatureBit),
        Just(Mutation::OtherSenderKey),
        Just(Mutation::OtherSlot),
        Just(Mutation::OtherRecipient),
        Just(Mutation::MovedToOtherRecipient),
        Just(Mutation::Expired),
        Just(Mutation::LifetimeTooLong),
        (1u64..1_000_000).prop_map(Mutation::CreatedInFuture),
        Just(Mutation::ExpiresBeforeCreated),
        Just(Mutation::BucketMismatch),
        Just(Mutation::OversizeBody),
        any::<u8>().prop_map(Mutation::TrailingBytes),
        (1usize..64).prop_map(Mutation::Truncated),
        (9u8..=255).prop_map(Mutation::UnknownKind),
        Just(Mutation::BadFormat),
        Just(Mutation::BadSyntax),
    ]
}

/// A random valid record: kind, signer, slot, lifetime and body text vary.
fn valid_spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(Kind::ALL.to_vec()),
        1u8..=250,
        0u32..1000,
        60u64..(7 * DAY),
        "[a-zA-Z0-9 ]{0,40}",
    )
        .prop_map(|(kind, seed, seq, lifetime, text)| {
            let mut spec = Spec::new(kind, identity(seed), lifetime, seq);
            if kind == Kind::FeedPost {
                let summary = text.trim().to_string();
                spec.body = FeedPost {
                    summary: if summary.is_empty() {
                        "x".into()
                    } else {
                        summary
                    },
                    ..sample_post()
                }
                .encode();
            }
            spec
        })
}

/// Applies `mutation`; returns the bytes, the key they are offered under,
/// and the error kind the validator must report.
fn apply(spec: &Spec, mutation: &Mutation) -> (Vec<u8>, DhtKey, ErrorKind) {
    let mut spec = spec.clone();
    let key = spec.key();
    let policy = Policy::default();
    let resigned = |spec: &Spec| (spec.bytes(), spec.key());
    match mutation {
        Mutation::FlipSignatureBit(bit) => {
            let mut bytes = spec.bytes();
            let at = bytes.len() - 64 + bit / 8;
            bytes[at] ^= 1 << (bit % 8);
            (bytes, key, ErrorKind::BadSignature)
        }
        Mutation::OtherSenderKey => {
            let mut bytes = spec.bytes();
            bytes[42..74].copy_from_slice(&identity(251).public_key().0);
            (bytes, key, ErrorKind::BadSignature)
        }
        Mutation::OtherSlot => {
            let other = DhtKey::for_slot(
                &spec.header.mailbox,
                InstanceId {
                    seq: spec.header.instance.seq + 1,
                    ..spec.header.instance
                },
            );
            (spec.bytes(), other, ErrorKind::KeyMismatch)
        }
        Mutation::OtherRecipient => {
            // The same bytes offered for another recipient's slot.
            let mut other = spec.header;
            other.mailbox.0[0] ^= 0xFF;
            (spec.bytes(), other.dht_key(), ErrorKind::KeyMismatch)
        }
        Mutation::MovedToOtherRecipient => {
            // The header rewritten to another mailbox and offered under that
            // mailbox's key: the binding holds, the signature does not.
            let mut bytes = spec.bytes();
            bytes[2] ^= 0xFF;
            spec.header.mailbox.0[0] ^= 0xFF;
            (bytes, spec.key(), ErrorKind::BadSignature)
        }
        Mutation::Expired => {
            spec.set_times(NOW - 2 * DAY, NOW - DAY);
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::Expired)
        }
        Mutation::LifetimeTooLong => {
            let max = policy.max_lifetime(spec.header.kind);
            spec.set_times(NOW, NOW + max + 1);
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::LifetimeTooLong)
        }
        Mutation::CreatedInFuture(extra) => {
            let created = NOW + policy.clock_skew_secs + extra;
            spec.set_times(created, created + 60);
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::CreatedInFuture)
        }
        Mutation::ExpiresBeforeCreated => {
            spec.set_times(NOW, NOW);
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::ExpiresBeforeCreated)
        }
        Mutation::BucketMismatch => {
            spec.header.instance.bucket += 1;
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::BucketMismatch)
        }
        Mutation::OversizeBody => {
            let mut bytes = spec.bytes();
            let target = policy.max_record_bytes + 1;
            bytes.resize(target.max(bytes.len() + 1), 0);
            (bytes, key, ErrorKind::TooLarge)
        }
        Mutation::TrailingBytes(byte) => {
            let mut bytes = spec.bytes();
            bytes.push(*byte);
            (bytes, key, ErrorKind::TrailingBytes)
        }
        Mutation::Truncated(cut) => {
            let bytes = spec.bytes();
            (
                bytes[..bytes.len() - cut].to_vec(),
                key,
                ErrorKind::Truncated,
            )
        }
        Mutation::UnknownKind(kind) => {
            let mut bytes = spec.bytes();
            bytes[1] = *kind;
            (bytes, key, ErrorKind::UnknownKind)
        }
        Mutation::BadFormat => {
            spec.body = match spec.header.kind {
                // Sealed bodies: the carried shape is the format.
                Kind::BuddyRequest | Kind::BuddyResponse => vec![1; 10],
                Kind::FeedPost => FeedPost {
                    title: "bad\u{0}title".into(),
                    ..sample_post()
                }
                .encode(),
                // One byte short of a fixed-size field.
                _ => vec![0; 31],
            };
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::Format)
        }
        Mutation::BadSyntax => {
            // Keep a valid shape but break the relation with the mailbox
            // (public kinds) — sealed kinds are checked in stage two.
            spec.header.mailbox = inbox_of(199);
            if spec.header.kind == Kind::Tombstone {
                spec.body = pigeonhole::record::body::Tombstone { replaced: [0; 32] }.encode();
            }
            let (bytes, key) = resigned(&spec);
            (bytes, key, ErrorKind::Syntax)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn valid_records_are_accepted(spec in valid_spec()) {
        let record = validator().validate(&spec.key(), &spec.bytes(), NOW);
        prop_assert!(record.is_ok(), "{:?}", record);
    }

    #[test]
    fn each_mutation_is_rejected_with_its_own_kind(spec in valid_spec(), mutation in mutation()) {
        let sealed = spec.header.kind.is_sealed();
        // Sealed kinds have no mailbox relation at stage one.
        prop_assume!(!(sealed && matches!(mutation, Mutation::BadSyntax)));
        let (bytes, key, expected) = apply(&spec, &mutation);
        let error = validator().validate(&key, &bytes, NOW).expect_err("mutation accepted");
        prop_assert_eq!(error.kind(), expected, "{:?}: {}", mutation, error);
    }

    #[test]
    fn sealed_stage_two_rejects_bad_format_and_syntax(name_len in 65usize..200, zero in any::<bool>()) {
        let spec = Spec::new(Kind::BuddyResponse, identity(1), DAY, 0);
        let v = validator();
        let record = v.validate(&spec.key(), &spec.bytes(), NOW).unwrap();
        let (plain, expected) = if zero {
            (BuddyResponse { request_id: [0; 32], ..sample_response() }.encode(), ErrorKind::Syntax)
        } else {
            (BuddyResponse { display_name: "n".repeat(name_len), ..sample_response() }.encode(), ErrorKind::Format)
        };
        prop_assert_eq!(v.open_sealed(&record, &plain).unwrap_err().kind(), expected);
        let mut duplicate = sample_request();
        duplicate.contacts.push(duplicate.contacts[0].clone());
        let request = Spec::new(Kind::BuddyRequest, identity(1), DAY, 0);
        let request_record = v.validate(&request.key(), &request.bytes(), NOW).unwrap();
        prop_assert_eq!(
            v.open_sealed(&request_record, &BuddyRequest { ..duplicate }.encode()).unwrap_err().kind(),
            ErrorKind::Syntax
        );
    }
}
