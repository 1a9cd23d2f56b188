//! Bad input gets a clear message on stderr, exit code 2, and nothing
//! written: every kind of malformed contact code, an unknown request id, an
//! unwritable data directory, a port in use, an unknown subcommand.

mod common;

use std::path::Path;

use common::{Run, User, run, snapshot};
use sha2::{Digest, Sha256};

fn assert_bad_input(run: &Run, says: &str) {
    assert_eq!(run.code, Some(2), "expected exit 2: {run:#?}");
    assert!(
        run.stderr.contains(says),
        "stderr should say {says:?}: {run:#?}"
    );
    assert!(run.stdout.is_empty(), "nothing on stdout: {run:#?}");
}

/// A contact code text for these 41 bytes' first 37, with a correct checksum.
fn code_for(payload: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"pigeonhole/contact/v1");
    hasher.update([0]);
    hasher.update(payload);
    let digest = hasher.finalize();
    let mut bytes = payload.to_vec();
    bytes.extend_from_slice(&digest[..4]);
    format!("PH-{}", data_encoding::BASE32_NOPAD.encode(&bytes))
}

fn send_to(dir: &Path, code: &str) -> Run {
    run(&[
        "--data-dir",
        &dir.display().to_string(),
        "--no-mdns",
        "request",
        "send",
        code,
    ])
}

#[test]
fn each_kind_of_malformed_contact_code_is_refused_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("alice");
    let valid = User::new(&root.path().join("bob"), &[])
        .run(&["--json", "id"])
        .json()["contact_code"]
        .as_str()
        .unwrap()
        .to_string();
    let body = &valid[3..];
    // Each case: the code, and what the message must say.
    let mut weak_key = [0u8; 49];
    weak_key[0] = 2; // version 2, an all-zero (small-order) key
    // A well-formed version-1 code of Bob's key (a 4-byte token): retired.
    let bob_bytes = data_encoding::BASE32_NOPAD
        .decode(body.as_bytes())
        .expect("a valid code");
    let mut version_1 = vec![1u8];
    version_1.extend_from_slice(&bob_bytes[1..33]);
    version_1.extend_from_slice(&[1, 2, 3, 4]);
    let too_short = format!("PH-{}", &body[..body.len() - 1]);
    let mut typo: Vec<char> = body.chars().collect();
    typo[20] = if typo[20] == 'A' { 'B' } else { 'A' };
    let typo = format!("PH-{}", typo.into_iter().collect::<String>());
    let newer_version = format!("PH-AM{}", &body[2..]);
    let cases = [
        (format!("XX-{body}"), "starts with \"PH-\""),
        (
            format!("PH-{}1{}", &body[..5], &body[6..]),
            "'1' at position 5",
        ),
        (too_short, "holds 53 bytes"),
        (newer_version, "version 3 is not supported"),
        (typo, "checksum does not match"),
        (code_for(&weak_key), "not a valid ed25519 key"),
        (code_for(&version_1), "ask its owner for a new code"),
    ];
    for (code, says) in cases {
        let outcome = send_to(&dir, &code);
        assert_bad_input(&outcome, says);
        assert!(!dir.exists(), "the data directory was created for {code}");
    }
}

#[test]
fn an_unknown_request_id_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let bob = User::new(&root.path().join("bob"), &[]);
    bob.run(&["profile", "Bob"]).ok();
    let before = snapshot(&bob.dir);
    for verb in ["accept", "decline"] {
        assert_bad_input(
            &bob.run(&[verb, "deadbeef"]),
            "no pending request with id deadbeef",
        );
    }
    assert_bad_input(&bob.run(&["accept", "not-hex"]), "4 to 64 hex digits");
    assert_eq!(snapshot(&bob.dir), before, "files changed");
    // No identity at all: refused without creating one.
    let nobody = root.path().join("nobody");
    let outcome = run(&[
        "--data-dir",
        &nobody.display().to_string(),
        "accept",
        "abcd",
    ]);
    assert_bad_input(&outcome, "no Pigeonhole identity");
    assert!(!nobody.exists());
}

#[test]
fn an_unwritable_data_directory_is_bad_input() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let under_file = file.join("data");
    let outcome = run(&["--data-dir", &under_file.display().to_string(), "id"]);
    assert_bad_input(&outcome, "cannot create data directory");
    let outcome = run(&["--data-dir", &file.display().to_string(), "id"]);
    assert_bad_input(&outcome, "is not a directory");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
    // A read-only file system: root ignores permission bits, not this.
    let read_only = Path::new("/proc/pigeonhole-test");
    let outcome = run(&["--data-dir", &read_only.display().to_string(), "id"]);
    assert_bad_input(&outcome, "cannot create data directory");
}

#[test]
fn a_port_in_use_is_bad_input() {
    let root = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = root.path().join("laptop");
    let outcome = run(&[
        "--data-dir",
        &dir.display().to_string(),
        "--no-mdns",
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
        "serve",
    ]);
    assert_bad_input(&outcome, &format!("port {port} is in use"));
    assert!(!dir.exists());
}

#[test]
fn usage_errors_exit_2() {
    assert_bad_input(
        &run(&["frobnicate"]),
        "unrecognized subcommand 'frobnicate'",
    );
    assert_bad_input(&run(&["--peer", "not-an-address", "sync"]), "invalid value");
    assert_bad_input(
        &run(&["request", "send", "--contact", "fax=123", "PH-AAAA"]),
        "unknown contact kind",
    );
    let help = run(&["accept", "--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("Example"), "{help:?}");
}
