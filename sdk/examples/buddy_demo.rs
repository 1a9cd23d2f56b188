//! The product in one run: three Pigeonhole nodes on this machine's
//! loopback — an always-on laptop, Alice's phone and Bob's phone — and a
//! buddy request that crosses while its recipient is offline.
//!
//! `cargo run -p pigeonhole-sdk --example buddy_demo`

use std::path::Path;
use std::time::Duration;

use pigeonhole::buddy::BuddyEvent;
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole_sdk::{Config, Multiaddr, Node, PeerConfig};

fn config(dir: &Path, bootstrap: Vec<Multiaddr>) -> Config {
    let mut config = Config::in_dir(dir);
    config.peer = PeerConfig {
        data_dir: Some(dir.to_path_buf()),
        bootstrap_peers: bootstrap,
        ..PeerConfig::loopback()
    };
    config.sync_interval = None;
    config
}

async fn phone(dir: &Path, laptop: &Node) -> Result<Node, Box<dyn std::error::Error>> {
    let node = Node::start(config(dir, laptop.peer().listen_addrs())).await?;
    node.peer().wait_for_peers(1, Duration::from_secs(10)).await;
    Ok(node)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("pigeonhole-demo-{}", std::process::id()));
    let (laptop_dir, alice_dir, bob_dir) =
        (root.join("laptop"), root.join("alice"), root.join("bob"));

    let laptop = Node::start(config(&laptop_dir, vec![])).await?;
    println!(
        "laptop peer listening on {:?}",
        laptop.peer().listen_addrs()
    );

    let bob = phone(&bob_dir, &laptop).await?;
    bob.buddies().set_profile("Bob", None)?;
    let bob_code = bob.buddies().contact_code()?.to_string();
    println!("Bob's contact code (he shows it as a QR code): {bob_code}");
    bob.stop().await;
    println!("Bob's phone goes offline.");

    let alice = phone(&alice_dir, &laptop).await?;
    alice.buddies().set_profile("Alice", None)?;
    let contacts = vec![ContactField {
        kind: ContactFieldKind::Email,
        value: "alice@example.org".into(),
    }];
    let sent = alice
        .buddies()
        .send_request(&bob_code, "Hi Bob, we met at the meetup!", contacts)
        .await?;
    println!(
        "Alice sends a sealed buddy request ({}…) and leaves.",
        &hex::encode(sent.id)[..12]
    );
    alice.stop().await;

    let bob = phone(&bob_dir, &laptop).await?;
    let report = bob.sync_now().await?;
    println!(
        "Bob comes back; his sync finds {} request(s).",
        report.requests_received
    );
    for request in bob.buddies().pending_requests()? {
        println!(
            "  from {} ({}…): {:?}, contacts {:?}",
            request.body.display_name,
            &request.from.to_hex()[..12],
            request.body.message,
            request
                .body
                .contacts
                .iter()
                .map(|c| c.value.as_str())
                .collect::<Vec<_>>()
        );
        bob.buddies().accept(&request.id).await?;
        println!("  Bob accepts.");
    }
    bob.stop().await;

    let alice = phone(&alice_dir, &laptop).await?;
    let mut events = alice.subscribe();
    alice.sync_now().await?;
    while let Ok(event) = events.try_recv() {
        match event {
            BuddyEvent::RequestAnswered { accepted, .. } => {
                println!(
                    "Alice comes back: her request was {}.",
                    if accepted { "accepted" } else { "declined" }
                )
            }
            BuddyEvent::BuddyAdded { display_name, .. } => {
                println!("Alice's buddy list gains {display_name}.")
            }
            _ => {}
        }
    }
    let buddies: Vec<_> = alice
        .buddies()
        .buddies()?
        .into_iter()
        .map(|b| b.display_name)
        .collect();
    println!("Alice's buddies: {buddies:?}; her request is withdrawn from Bob's inbox.");
    alice.stop().await;
    laptop.stop().await;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
