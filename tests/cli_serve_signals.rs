//! `serve` on signals: SIGTERM (and Ctrl-C's SIGINT) end it with exit 0
//! within 2 s, and a restart on the same data directory keeps its peer id
//! and the records it held — it still serves them to a phone that only
//! knows this one peer. Also: `add-peer` saves a peer that later commands
//! and `serve` use, and a second peer on a directory in use is refused.

mod common;

use std::time::Duration;

use common::{Serve, User};
use nix::sys::signal::Signal;

const EXIT_BOUND: Duration = Duration::from_secs(2);

#[test]
fn sigterm_stops_serve_cleanly_and_a_restart_keeps_identity_and_records() {
    let root = tempfile::tempdir().unwrap();
    let holder_dir = root.path().join("holder");
    let mut holder = Serve::loopback(&holder_dir, &[]);
    let peer_id = holder.peer_id.clone();
    let alice = User::new(&root.path().join("alice"), &holder.addrs);
    let bob = User::new(&root.path().join("bob"), &[]);
    alice.run(&["profile", "Alice"]).ok();
    let bob_code = bob.run(&["--json", "id"]).json()["contact_code"]
        .as_str()
        .unwrap()
        .to_string();
    alice.run(&["request", "send", &bob_code]).ok();

    // A peer on a directory `serve` holds is refused, with exit 1.
    let busy = User::new(&holder_dir, &holder.addrs).run(&["sync"]);
    assert_eq!(busy.code, Some(1), "{busy:?}");
    assert!(
        busy.stderr.contains("in use by another pigeonhole peer"),
        "{busy:?}"
    );
    let status = User::new(&holder_dir, &[])
        .run(&["--json", "status"])
        .json();
    assert_eq!(status["serving"], true);

    let (exit, took) = holder.signal_and_wait(Signal::SIGTERM, EXIT_BOUND);
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    assert!(took < EXIT_BOUND, "took {took:?}");
    let stopped: Vec<String> = holder.log.try_iter().collect();
    assert!(
        stopped
            .iter()
            .any(|l| l.contains("stopping") && l.contains("SIGTERM")),
        "no shutdown log: {stopped:#?}"
    );
    let status = User::new(&holder_dir, &[])
        .run(&["--json", "status"])
        .json();
    assert_eq!(status["serving"], false);
    let held = status["records_held"].as_u64().unwrap();
    assert!(held >= 1, "the holder kept no record: {status}");
    drop(holder);

    let mut restarted = Serve::loopback(&holder_dir, &[]);
    assert_eq!(restarted.peer_id, peer_id, "the peer id changed on restart");
    let bob = User::new(&bob.dir, &restarted.addrs);
    bob.run(&["profile", "Bob"]).ok();
    let listed = bob.run(&["--json", "requests", "--sync"]).json();
    assert_eq!(listed["requests"].as_array().unwrap().len(), 1, "{listed}");

    let (exit, took) = restarted.signal_and_wait(Signal::SIGINT, EXIT_BOUND);
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    assert!(took < EXIT_BOUND, "took {took:?}");
}

#[test]
fn add_peer_saves_a_peer_for_later_commands() {
    let root = tempfile::tempdir().unwrap();
    let holder = Serve::loopback(&root.path().join("holder"), &[]);
    let alice = User::new(&root.path().join("alice"), &[]);
    alice.run(&["profile", "Alice"]).ok();

    // No peers and no mDNS: a networked command cannot work, and says so.
    let before = common::snapshot(&alice.dir);
    let alone = User::new(&alice.dir, &[]).run(&["sync"]);
    assert_eq!(alone.code, Some(2), "{alone:?}");
    assert!(alone.stderr.contains("no way to find a peer"), "{alone:?}");
    assert_eq!(common::snapshot(&alice.dir), before, "files changed");
    // A given peer that is not there: it fails naming what it waited for.
    let gone = User::new(&alice.dir, &["/ip4/127.0.0.1/tcp/9".to_string()]).run(&[
        "--timeout",
        "2",
        "sync",
    ]);
    assert_eq!(gone.code, Some(1), "{gone:?}");
    assert!(
        gone.stderr
            .contains("timed out after 2 s waiting for a peer (given with --peer"),
        "{gone:?}"
    );

    let added = alice.run(&["--json", "add-peer", &holder.addrs[0]]).json();
    assert_eq!(added["newly_saved"], true);
    let again = alice.run(&["--json", "add-peer", &holder.addrs[0]]).json();
    assert_eq!(again["newly_saved"], false);
    let peers = alice.run(&["--json", "peers"]).json();
    assert_eq!(peers["saved"][0], holder.addrs[0].as_str());
    // Now sync works with no --peer: the saved one is used.
    let synced = alice.run(&["--json", "sync"]).json();
    assert_eq!(synced["requests_received"], 0);
}
