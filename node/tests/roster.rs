//! The roster exchange (peer protocol version 5, `/pigeonhole/roster/1.0.0`)
//! between real nodes and raw rust-libp2p peers on loopback TCP: what a
//! node answers (its connected peers at age 0, peers that left with their
//! age, never the asker), and what it takes in (a peer it never met and
//! that no Kademlia lookup could have found becomes a replica it reads
//! from; a peer reported absent for longer than the TTL does not).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use libp2p::request_response::{self, Event, Message, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use pigeonhole::record::MailboxId;
use pigeonhole_node::Node;
use pigeonhole_node::referral::Referral;
use pigeonhole_node::roster::{
    ROSTER_PROTOCOL, ROSTER_TTL, RosterCodec, RosterEntry, RosterRequest,
};
use support::*;

type RosterSwarm = Swarm<request_response::Behaviour<RosterCodec>>;

/// A raw libp2p peer (TCP, noise, yamux) speaking only the roster
/// protocol: no Kademlia, no identify, no mailbox protocol.
async fn roster_swarm() -> (RosterSwarm, Multiaddr) {
    let mut swarm = raw_swarm(
        |_| {
            request_response::Behaviour::new(
                [(ROSTER_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        },
        Duration::from_secs(60),
    );
    let addr = listen_on_loopback(&mut swarm).await;
    let peer = *swarm.local_peer_id();
    (swarm, addr.with(libp2p::multiaddr::Protocol::P2p(peer)))
}

/// Asks `node` for its roster from the raw peer `swarm`, naming no peer.
async fn ask(swarm: &mut RosterSwarm, node: &Node) -> Vec<RosterEntry> {
    ask_with(swarm, node, RosterRequest(Vec::new())).await
}

/// Sends `request` (the raw peer's own roster) to `node`; returns its
/// answer.
async fn ask_with(
    swarm: &mut RosterSwarm,
    node: &Node,
    request: RosterRequest,
) -> Vec<RosterEntry> {
    let id = swarm.behaviour_mut().send_request_with_addresses(
        &node.peer_id(),
        request,
        node.listen_addrs(),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .expect("roster answer in time");
        match event {
            SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) if request_id == id => return response,
            SwarmEvent::Behaviour(Event::OutboundFailure {
                request_id, error, ..
            }) if request_id == id => panic!("roster request failed: {error}"),
            _ => {}
        }
    }
}

fn age_of(entries: &[RosterEntry], peer: PeerId) -> Option<u16> {
    entries
        .iter()
        .find(|entry| entry.peer.peer == peer)
        .map(|entry| entry.age_secs)
}

/// A node's roster names the peers connected to it at age 0 with their
/// addresses, a peer that left with its (small, growing) age, and never
/// the asker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_names_present_peers_with_their_ages() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(3, &clock).await;
    let (mut raw, _) = roster_swarm().await;
    let asker = *raw.local_peer_id();
    let entries = ask(&mut raw, &nodes[0]).await;
    for other in &nodes[1..] {
        assert_eq!(age_of(&entries, other.peer_id()), Some(0), "{entries:?}");
        let entry = entries.iter().find(|e| e.peer.peer == other.peer_id());
        assert!(
            entry.is_some_and(|e| e.peer.addrs.contains(&other.listen_addrs()[0])),
            "addresses sent: {entries:?}"
        );
    }
    assert_eq!(age_of(&entries, asker), None, "the asker is left out");
    let left = nodes[2].peer_id();
    nodes[2].stop().await;
    nodes[0]
        .wait_for_status(|s| s.connected_peers <= 2, WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let entries = ask(&mut raw, &nodes[0]).await;
    let age = age_of(&entries, left);
    assert!(
        age.is_some_and(|age| (1..60).contains(&age)),
        "a peer that just left is named with its age: {age:?}"
    );
    assert_eq!(age_of(&entries, nodes[1].peer_id()), Some(0));
    stop_all(&nodes[..2]).await;
}

/// A node whose only peer is a raw roster peer (no Kademlia, so no lookup
/// can teach it anything) learns from that peer's roster a node it never
/// met, and reads a record from it; a peer reported absent for the TTL
/// or longer is not taken in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_never_met_is_routed_and_read_from_after_a_roster() {
    init_tracing();
    let clock = clock();
    let holder = Node::start(node_config(&clock)).await.expect("start");
    let inbox = MailboxId::derive(b"roster-test", b"inbox");
    // Alone: stored by the holder itself (and queued in its outbox).
    mailbox(&holder, &clock)
        .publish(&identity(1), request_draft(inbox, DAY))
        .await
        .expect("publish alone");
    let (mut raw, raw_addr) = roster_swarm().await;
    let gone = PeerId::random();
    let answer = vec![
        RosterEntry {
            peer: Referral {
                peer: holder.peer_id(),
                addrs: holder.listen_addrs(),
            },
            age_secs: 5,
        },
        RosterEntry {
            peer: Referral {
                peer: gone,
                addrs: vec!["/ip4/127.0.0.1/tcp/9".parse().unwrap()],
            },
            age_secs: u16::try_from(ROSTER_TTL.as_secs()).unwrap(),
        },
    ];
    let newcomer = Node::start(node_config(&clock)).await.expect("start");
    newcomer.add_peer(raw_addr).await.expect("add the raw peer");
    // Serve the newcomer's roster request (its first connection asks).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut served = false;
    while !served {
        let event = tokio::time::timeout_at(deadline, raw.select_next_some())
            .await
            .expect("the newcomer asks for a roster in time");
        if let SwarmEvent::Behaviour(Event::Message {
            message: Message::Request { channel, .. },
            ..
        }) = event
        {
            raw.behaviour_mut()
                .send_response(channel, answer.clone())
                .expect("answer sent");
            served = true;
        }
    }
    let driver = tokio::spawn(async move {
        loop {
            raw.select_next_some().await;
        }
    });
    let status = newcomer.wait_for_peers(2, WAIT).await;
    let fetched = mailbox(&newcomer, &clock)
        .fetch_all(inbox)
        .await
        .expect("fetch");
    driver.abort();
    assert_eq!(
        status.routing_peers, 2,
        "the raw peer and the holder are routed, the long-gone peer is not: {status:?}"
    );
    assert!(status.roster_pulls >= 1);
    assert_eq!(
        fetched.records.len(),
        1,
        "the record is read from the peer the roster named"
    );
    stop_all(&[holder, newcomer]).await;
}

/// Push-pull: a roster request carries the asker's roster, which a node
/// takes in while it knows no peer of standing (everyone is new), and
/// not from a peer without standing once it knows peers of standing (a
/// sybil's made-up roster would fill its routing table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_roster_is_taken_in_only_while_no_peer_has_standing() {
    init_tracing();
    let clock = clock();
    let node = Node::start(node_config(&clock)).await.expect("start");
    let named = [
        Node::start(node_config(&clock)).await.expect("start"),
        Node::start(node_config(&clock)).await.expect("start"),
    ];
    let roster_naming = |other: &Node| {
        RosterRequest(vec![RosterEntry {
            peer: Referral {
                peer: other.peer_id(),
                addrs: other.listen_addrs(),
            },
            age_secs: 3,
        }])
    };
    let wait_routed = |count: usize| {
        let node = node.clone();
        async move {
            node.wait_for_peers(count, Duration::from_secs(3))
                .await
                .routing_peers
        }
    };
    // Blind: the pushed roster is taken in.
    let (mut raw, _) = roster_swarm().await;
    ask_with(&mut raw, &node, roster_naming(&named[0])).await;
    assert_eq!(wait_routed(1).await, 1, "the pushed peer is routed");
    // A peer of standing appears; a newcomer's push is then ignored.
    let friend = Node::start(node_config(&clock)).await.expect("start");
    friend
        .add_peer(node.listen_addrs()[0].clone())
        .await
        .expect("add peer");
    // Connected (both sides) before the clock moves: age counts from the
    // connection.
    friend
        .wait_for_status(|s| s.connected_peers > 0, WAIT)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    age_cluster(&[node.clone(), friend.clone()], &clock).await;
    let routed = wait_routed(2).await;
    let (mut newcomer, _) = roster_swarm().await;
    ask_with(&mut newcomer, &node, roster_naming(&named[1])).await;
    let after = wait_routed(routed + 1).await;
    stop_all(&[node, friend]).await;
    stop_all(&named).await;
    assert_eq!(
        after, routed,
        "a push from a peer without standing is not taken in"
    );
}
