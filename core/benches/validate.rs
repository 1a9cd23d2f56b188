//! Records validated per second against raw `verify_strict` per second, on
//! the same core and the same signed bytes. Target: validation reaches at
//! least 85% of the raw figure (the signature check should dominate).
//!
//! `cargo bench -p pigeonhole --bench validate` prints criterion's figures,
//! then a two-line table with the ratio.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use ed25519_dalek::{Signature, VerifyingKey};
use pigeonhole::identity::{Identity, tagged};
use pigeonhole::record::body::{BodyRules, FeedPost, feed_mailbox};
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind, Validator};

const NOW: u64 = 1_800_000_000;

struct Fixture {
    key: DhtKey,
    bytes: Vec<u8>,
    verifying: VerifyingKey,
    signed_input: Vec<u8>,
    signature: Signature,
}

/// A 512-byte feed post and the exact input its signature covers.
fn fixture() -> Fixture {
    let identity = Identity::from_secret_bytes([3; 32]);
    let mut post = FeedPost {
        feed_name: "news".into(),
        title: "Benchmark".into(),
        link: None,
        summary: String::new(),
        number: 1,
        published_at: None,
        replaces: None,
    };
    post.summary = "x".repeat(512 - 156 - post.encode().len());
    let expires_at = NOW + 86_400;
    let header = Header {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&identity.public_key(), "news"),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(expires_at),
            seq: 0,
        },
        sender: identity.public_key(),
        created_at: NOW,
        expires_at,
    };
    let bytes = header.sign(&identity, &post.encode());
    assert_eq!(bytes.len(), 512);
    let split = bytes.len() - 64;
    Fixture {
        key: header.dht_key(),
        verifying: identity.public_key().verifying_key().unwrap(),
        signed_input: tagged(b"pigeonhole/record/v1", &bytes[..split]),
        signature: Signature::from_bytes(bytes[split..].try_into().unwrap()),
        bytes,
    }
}

fn raw(f: &Fixture) -> bool {
    f.verifying
        .verify_strict(black_box(&f.signed_input), &f.signature)
        .is_ok()
}

fn full(f: &Fixture, validator: &Validator) -> bool {
    validator.validate(&f.key, black_box(&f.bytes), NOW).is_ok()
}

fn per_second(mut op: impl FnMut() -> bool, iterations: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        assert!(op());
    }
    f64::from(iterations) / start.elapsed().as_secs_f64()
}

fn main() {
    let f = fixture();
    let validator = Validator::default();
    assert!(raw(&f) && full(&f, &validator));

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("validate_512B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_verify_strict", |b| b.iter(|| raw(&f)));
    group.bench_function("validator_validate", |b| b.iter(|| full(&f, &validator)));
    group.finish();
    criterion.final_summary();

    // Interleaved rounds, best of each, so drift of the machine hits both.
    let (mut best_raw, mut best_full) = (0f64, 0f64);
    for _ in 0..7 {
        best_raw = best_raw.max(per_second(|| raw(&f), 3000));
        best_full = best_full.max(per_second(|| full(&f, &validator), 3000));
    }
    let ratio = best_full / best_raw;
    println!();
    println!("| measure (512-byte record, one core) | per second |");
    println!("|---|---|");
    println!("| raw verify_strict | {best_raw:.0} |");
    println!("| Validator::validate | {best_full:.0} |");
    println!(
        "| ratio | {:.1}% (target >= 85%: {}) |",
        ratio * 100.0,
        if ratio >= 0.85 { "met" } else { "NOT met" }
    );
}
