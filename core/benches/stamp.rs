//! What the proof-of-work stamp on a first-contact buddy request costs: the
//! sender's minting time per request (p50, p90, max over many (sender,
//! inbox) pairs) against the recipient's check, in the same run, next to
//! one plain SHA-256 of the same input as the baseline. Target: mint p50
//! ≤ 50 ms on this machine; check within a few hashes.
//!
//! `cargo bench -p pigeonhole --bench stamp` (optional argument: how many
//! requests, default 200) prints the table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use pigeonhole::identity::PublicKey;
use pigeonhole::record::MailboxId;
use pigeonhole::stamp::{STAMP_BITS, check_stamp, mint_stamp, stamp_hash};
use sha2::{Digest, Sha256};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn main() {
    let requests: u32 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(200);
    let mut mint = Vec::new();
    let mut check = Vec::new();
    let mut hashes = 0u64;
    for n in 0..requests {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        let inbox = MailboxId(Sha256::digest(seed).into());
        let sender = PublicKey(Sha256::digest(inbox.0).into());
        let start = Instant::now();
        let nonce = mint_stamp(&inbox, &sender, STAMP_BITS);
        mint.push(start.elapsed());
        hashes += nonce + 1;
        let start = Instant::now();
        assert!(black_box(check_stamp(&inbox, &sender, nonce, STAMP_BITS)));
        check.push(start.elapsed());
    }
    // Baseline: one SHA-256 of the stamp input, averaged over many.
    let rounds = 200_000u64;
    let start = Instant::now();
    for nonce in 0..rounds {
        black_box(stamp_hash(&MailboxId([1; 32]), &PublicKey([2; 32]), nonce));
    }
    let one_hash = start.elapsed() / rounds as u32;
    mint.sort();
    check.sort();
    println!(
        "stamp cost, {requests} requests, {STAMP_BITS} bits (mean {:.0} hashes/request)",
        hashes as f64 / requests as f64
    );
    println!("| what | p50 | p90 | max |");
    println!("|---|---|---|---|");
    for (what, sorted) in [("mint (sender)", &mint), ("check (recipient)", &check)] {
        println!(
            "| {what} | {:?} | {:?} | {:?} |",
            percentile(sorted, 0.5),
            percentile(sorted, 0.9),
            sorted[sorted.len() - 1]
        );
    }
    println!("| baseline: one SHA-256 | {one_hash:?} | | |");
}
