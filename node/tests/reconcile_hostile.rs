//! A peer speaking the reconcile protocol dishonestly: it offers ids, then
//! answers the node's fetch with the record asked for plus one it was not
//! asked for and a forged one. Only the record asked for, and valid, is
//! stored; the rest is dropped (nothing reaches the store unasked).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{SwarmBuilder, noise, tcp, yamux};
use pigeonhole::record::{Header, InstanceId, Kind, MailboxId, record_id};
use pigeonhole_node::Node;
use pigeonhole_node::reconcile_codec::{
    RECONCILE_PROTOCOL, ReconcileCodec, ReconcileRequest, ReconcileResponse,
};
use support::*;

fn record(mailbox: MailboxId, seq: u32, seed: u8) -> (InstanceId, Vec<u8>) {
    let sender = identity(seed);
    let expires_at = NOW + DAY;
    let instance = InstanceId {
        bucket: InstanceId::bucket_of(expires_at),
        seq,
    };
    let header = Header {
        kind: Kind::BuddyRequest,
        mailbox,
        instance,
        sender: sender.public_key(),
        created_at: NOW,
        expires_at,
    };
    (instance, header.sign(&sender, &sealed_blob(64)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requested_valid_records_are_stored() {
    init_tracing();
    let clock = clock();
    let node = Node::start(node_config(&clock)).await.expect("start");
    let inbox = inbox_of(77);
    let asked = record(inbox, 0, 1);
    let unasked = record(inbox, 1, 2);
    let mut forged = record(inbox, 2, 3);
    let last = forged.1.len() - 1;
    forged.1[last] ^= 1; // broken signature
    let (asked_id, unasked_id, forged_id) = (
        record_id(&asked.1),
        record_id(&unasked.1),
        record_id(&forged.1),
    );

    let mut raw = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::<ReconcileCodec>::new(
                [(RECONCILE_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .build();
    raw.dial(node.listen_addrs()[0].clone()).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut offered = false;
    let mut fetched: Option<Vec<[u8; 32]>> = None;
    while fetched.is_none() {
        let event = tokio::time::timeout_at(deadline, raw.select_next_some())
            .await
            .expect("the node never fetched what was offered");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if !offered => {
                // Offer the asked record's id and the forged one's.
                raw.behaviour_mut().send_request(
                    &peer_id,
                    ReconcileRequest::Offer(inbox, vec![asked_id, forged_id]),
                );
                offered = true;
            }
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) => match request {
                ReconcileRequest::Fetch(mailbox, ids) => {
                    assert_eq!(mailbox, inbox);
                    // Answer with everything, asked or not.
                    let _ = raw.behaviour_mut().send_response(
                        channel,
                        ReconcileResponse::Records(vec![
                            asked.clone(),
                            unasked.clone(),
                            forged.clone(),
                        ]),
                    );
                    fetched = Some(ids);
                }
                // The node's own pass: we hold nothing it should know of.
                ReconcileRequest::Sync(_, message) => {
                    let answer = pigeonhole_node::reconcile::respond(&[], &message).unwrap();
                    let _ = raw
                        .behaviour_mut()
                        .send_response(channel, ReconcileResponse::Sync(answer));
                }
                ReconcileRequest::Offer(..) => {
                    let _ = raw
                        .behaviour_mut()
                        .send_response(channel, ReconcileResponse::Noted);
                }
            },
            _ => {}
        }
    }
    let mut fetched = fetched.unwrap();
    fetched.sort();
    let mut offered_ids = vec![asked_id, forged_id];
    offered_ids.sort();
    assert_eq!(
        fetched, offered_ids,
        "the node fetches exactly what it lacks"
    );

    // Keep the raw peer running until the node has judged the answer.
    let status = tokio::select! {
        status = node.wait_for_status(|s| s.records_accepted >= 1, WAIT) => status,
        _ = async { loop { raw.select_next_some().await; } } => unreachable!(),
    };
    assert!(status.records_accepted >= 1, "nothing stored: {status:?}");
    // The answer was handled in one go: what is held now is final.
    let held = node.held_ids(inbox).await.unwrap();
    assert_eq!(
        held,
        vec![asked_id],
        "unasked {unasked_id:?} or forged record stored"
    );
    assert_eq!(node.status().records_accepted, 1);
    node.stop().await;
}
