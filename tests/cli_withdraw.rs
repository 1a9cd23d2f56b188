//! `pigeonhole withdraw` across processes on loopback: Alice sends, Bob sees
//! it, Alice withdraws it by a unique prefix, and Bob's next sync drops it.
//! An unknown or already withdrawn id is bad input (exit 2) that writes
//! nothing.

mod common;

use common::{Serve, User, snapshot};

#[test]
fn a_withdrawn_request_leaves_the_recipients_pending_list() {
    let root = tempfile::tempdir().unwrap();
    let first = Serve::loopback(&root.path().join("holder1"), &[]);
    let second = Serve::loopback(&root.path().join("holder2"), &first.addrs);
    let peers: Vec<String> = [&first, &second]
        .iter()
        .map(|s| s.addrs[0].clone())
        .collect();
    let alice = User::new(&root.path().join("alice"), &peers);
    let bob = User::new(&root.path().join("bob"), &peers);
    alice.run(&["profile", "Alice"]).ok();
    bob.run(&["profile", "Bob"]).ok();
    let bob_code = bob.run(&["--json", "id"]).json()["contact_code"]
        .as_str()
        .unwrap()
        .to_string();

    let sent = alice
        .run(&["--json", "request", "send", &bob_code, "--message", "hi"])
        .json();
    let request_id = sent["id"].as_str().unwrap().to_string();
    let listed = bob.run(&["--json", "requests", "--sync"]).json();
    assert_eq!(listed["requests"].as_array().unwrap().len(), 1, "{listed}");

    let withdrawn = alice.run(&["--json", "withdraw", &request_id[..10]]).json();
    assert_eq!(withdrawn["schema"], "pigeonhole.withdrawn/1");
    assert_eq!(withdrawn["request_id"], request_id.as_str());
    let offline_alice = User::new(&alice.dir, &[]);
    let sent_list = offline_alice.run(&["--json", "sent"]).json();
    assert_eq!(sent_list["sent"][0]["status"], "withdrawn");

    let synced = bob.run(&["--json", "sync"]).json();
    assert_eq!(synced["withdrawn"], 1, "{synced}");
    let after = User::new(&bob.dir, &[]).run(&["--json", "requests"]).json();
    assert_eq!(after["requests"].as_array().unwrap().len(), 0, "{after}");

    // Withdrawing again, or an id Alice never sent: exit 2, nothing written.
    let before = snapshot(&alice.dir);
    for id in [&request_id[..10], "0123456789abcdef"] {
        let again = alice.run(&["withdraw", id]);
        assert_eq!(again.code, Some(2), "{again:?}");
        assert!(
            again.stderr.contains("no unanswered sent request"),
            "{again:?}"
        );
    }
    assert_eq!(snapshot(&alice.dir), before, "files changed");
}
