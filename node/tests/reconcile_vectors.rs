//! The `node-vector NAME = VALUE` lines of docs/PROTOCOL.md (replica
//! repair section) against the code: the reconcile messages and the first
//! negentropy message of a known set. (Core's `vector` lines are checked
//! by core/tests/protocol_vectors.rs; these are the node's.)

use std::collections::BTreeMap;

use pigeonhole::record::{InstanceId, MailboxId};
use pigeonhole_node::reconcile::{Item, Session};
use pigeonhole_node::reconcile_codec::{
    ReconcileRequest, ReconcileResponse, encode_request, encode_response,
};

fn computed() -> Vec<(&'static str, String)> {
    let mailbox = MailboxId([0x11; 32]);
    let items = [
        Item {
            instance: InstanceId {
                bucket: 20_833,
                seq: 0,
            },
            record_id: [0xAA; 32],
        },
        Item {
            instance: InstanceId {
                bucket: 20_833,
                seq: 1,
            },
            record_id: [0xBB; 32],
        },
    ];
    let (_, first) = Session::start(mailbox, &items).expect("session");
    let (_, empty) = Session::start(mailbox, &[]).expect("session");
    vec![
        ("reconcile.sync_two_items", hex::encode(&first)),
        ("reconcile.sync_empty", hex::encode(&empty)),
        (
            "reconcile.fetch_request",
            hex::encode(encode_request(&ReconcileRequest::Fetch(
                mailbox,
                vec![[0xAA; 32]],
            ))),
        ),
        (
            "reconcile.offer_request",
            hex::encode(encode_request(&ReconcileRequest::Offer(
                mailbox,
                vec![[0xBB; 32]],
            ))),
        ),
        (
            "reconcile.records_response",
            hex::encode(encode_response(&ReconcileResponse::Records(vec![(
                InstanceId {
                    bucket: 20_833,
                    seq: 1,
                },
                vec![1, 2, 3],
            )]))),
        ),
    ]
}

fn documented() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    let text = std::fs::read_to_string(path).expect("docs/PROTOCOL.md is readable");
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("node-vector "))
        .filter_map(|rest| rest.split_once(" = "))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect()
}

#[test]
fn reconcile_vectors_in_the_protocol_document_match_the_code() {
    let documented = documented();
    let mut wrong = Vec::new();
    for (name, value) in computed() {
        if documented.get(name) != Some(&value) {
            wrong.push(format!("node-vector {name} = {value}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/PROTOCOL.md disagrees with the code; the code computes:\n{}",
        wrong.join("\n")
    );
    let reconcile_documented = documented
        .keys()
        .filter(|name| name.starts_with("reconcile."))
        .count();
    assert_eq!(
        reconcile_documented,
        computed().len(),
        "unknown reconcile vectors"
    );
}
