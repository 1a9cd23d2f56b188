//! End to end over several processes on loopback: three `pigeonhole serve`
//! holders, then Alice and Bob as separate invocations with their own data
//! directories, every answer read from `--json` output. Bob's data
//! directory runs no peer while Alice sends: the request crosses while its
//! recipient is offline.

mod common;

use common::{Serve, User};

#[test]
fn a_buddy_request_crosses_between_processes_while_its_recipient_is_offline() {
    let root = tempfile::tempdir().unwrap();
    let first = Serve::loopback(&root.path().join("holder1"), &[]);
    let second = Serve::loopback(&root.path().join("holder2"), &first.addrs);
    let third = Serve::loopback(&root.path().join("holder3"), &first.addrs);
    let peers: Vec<String> = [&first, &second, &third]
        .iter()
        .map(|s| s.addrs[0].clone())
        .collect();
    let alice = User::new(&root.path().join("alice"), &peers);
    let bob = User::new(&root.path().join("bob"), &peers);

    // Identities and names, offline.
    let set = alice.run(&["--json", "profile", "Alice"]).json();
    assert_eq!(set["schema"], "pigeonhole.profile/1");
    assert_eq!(set["display_name"], "Alice");
    bob.run(&["profile", "Bob"]).ok();
    let bob_id = bob.run(&["--json", "id"]).json();
    assert_eq!(bob_id["schema"], "pigeonhole.id/1");
    assert_eq!(bob_id["display_name"], "Bob");
    let bob_code = bob_id["contact_code"].as_str().unwrap().to_string();
    let bob_key = bob_id["public_key"].as_str().unwrap().to_string();
    let alice_key = alice.run(&["--json", "id"]).json()["public_key"]
        .as_str()
        .unwrap()
        .to_string();

    // Alice sends; the command returns once replicas confirmed.
    let sent = alice
        .run(&[
            "--json",
            "request",
            "send",
            &bob_code,
            "--message",
            "Hi Bob, we met at the meetup",
            "--contact",
            "email=alice@example.org",
        ])
        .json();
    assert_eq!(sent["schema"], "pigeonhole.sent_request/1");
    assert_eq!(sent["to"], bob_key.as_str());
    assert_eq!(sent["status"], "pending");
    let request_id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(request_id.len(), 64);

    // Bob, never online until now: nothing pending locally until he syncs.
    let before = bob.run(&["--json", "requests"]).json();
    assert_eq!(before["requests"].as_array().unwrap().len(), 0);
    let listed = bob.run(&["--json", "requests", "--sync"]).json();
    assert_eq!(listed["schema"], "pigeonhole.requests/1");
    let requests = listed["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{listed}");
    let request = &requests[0];
    assert_eq!(request["id"], request_id.as_str());
    assert_eq!(request["from"], alice_key.as_str());
    assert_eq!(request["display_name"], "Alice");
    assert_eq!(request["message"], "Hi Bob, we met at the meetup");
    assert_eq!(request["contacts"][0]["kind"], "email");
    assert_eq!(request["contacts"][0]["value"], "alice@example.org");

    // The local list now has it, with no peers at all.
    let offline = User::new(&bob.dir, &[]);
    let local = offline.run(&["--json", "requests"]).json();
    assert_eq!(local["requests"][0]["id"], request_id.as_str());

    // Accept by a unique prefix.
    let accepted = bob.run(&["--json", "accept", &request_id[..10]]).json();
    assert_eq!(accepted["schema"], "pigeonhole.accepted/1");
    assert_eq!(accepted["request_id"], request_id.as_str());
    assert_eq!(accepted["buddy"]["display_name"], "Alice");
    assert_eq!(accepted["buddy"]["public_key"], alice_key.as_str());
    let bob_buddies = offline.run(&["--json", "buddies"]).json();
    assert_eq!(bob_buddies["schema"], "pigeonhole.buddies/1");
    assert_eq!(bob_buddies["buddies"][0]["display_name"], "Alice");
    let after = offline.run(&["--json", "requests"]).json();
    assert_eq!(after["requests"].as_array().unwrap().len(), 0);

    // Alice comes back: her sync sees the answer.
    let synced = alice.run(&["--json", "sync"]).json();
    assert_eq!(synced["schema"], "pigeonhole.sync/1");
    assert_eq!(synced["answers_received"], 1, "{synced}");
    let alice_buddies = User::new(&alice.dir, &[])
        .run(&["--json", "buddies"])
        .json();
    let buddies = alice_buddies["buddies"].as_array().unwrap();
    assert_eq!(buddies.len(), 1);
    assert_eq!(buddies[0]["display_name"], "Bob");
    assert_eq!(buddies[0]["public_key"], bob_key.as_str());
    assert_eq!(buddies[0]["contact_code"], bob_code.as_str());
    let sent_list = alice.run(&["--json", "sent"]).json();
    assert_eq!(sent_list["sent"][0]["status"], "accepted");

    // The holders hold records; status reads it from the database alone.
    let status = User::new(&alice.dir, &[]).run(&["--json", "status"]).json();
    assert_eq!(status["schema"], "pigeonhole.status/1");
    assert_eq!(status["buddies"], 1);
    assert_eq!(status["serving"], false);
}

#[test]
fn block_rotate_and_peers_work_on_the_local_database() {
    let root = tempfile::tempdir().unwrap();
    let alice = User::new(&root.path().join("alice"), &[]);
    let bob = User::new(&root.path().join("bob"), &[]);
    alice.run(&["profile", "Alice"]).ok();
    let bob_id = bob.run(&["--json", "id"]).json();
    let bob_code = bob_id["contact_code"].as_str().unwrap();
    let bob_key = bob_id["public_key"].as_str().unwrap();

    let blocked = alice.run(&["--json", "block", bob_code]).json();
    assert_eq!(blocked["public_key"], bob_key);
    assert_eq!(blocked["blocked"], true);
    let unblocked = alice.run(&["--json", "unblock", bob_key]).json();
    assert_eq!(unblocked["changed"], true);
    let again = alice.run(&["--json", "unblock", bob_key]).json();
    assert_eq!(again["changed"], false);

    let rotated = bob.run(&["--json", "rotate-token"]).json();
    let new_code = rotated["contact_code"].as_str().unwrap();
    assert_ne!(new_code, bob_code);
    assert_eq!(bob.run(&["--json", "id"]).json()["contact_code"], new_code);

    let peers = alice.run(&["--json", "peers"]).json();
    assert_eq!(peers["saved"].as_array().unwrap().len(), 0);

    // The human forms print what the JSON says.
    let text = bob.run(&["id", "--no-qr"]);
    assert!(text.ok().stdout.contains(new_code), "{text:?}");
    let qr = bob.run(&["id"]);
    assert!(qr.ok().stdout.contains('█'), "no QR code drawn: {qr:?}");
}
