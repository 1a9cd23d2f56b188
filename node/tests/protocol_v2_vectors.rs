//! The peer protocol v2 test vectors in `docs/PROTOCOL.md` (lines
//! `peer-vector NAME = VALUE`) are checked against the node's codec, so the
//! document and the code cannot drift apart. (Record-level `vector` lines
//! are checked by the core's `protocol_vectors.rs`.)

use std::collections::BTreeMap;

use libp2p::identity::Keypair;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::ListCursor;
use pigeonhole::record::{DhtKey, InstanceId};
use pigeonhole_node::RefusalKind;
use pigeonhole_node::mailbox_protocol::{
    MailboxRequest, MailboxResponse, PutAnswer, Referral, decode_request, decode_response,
    decode_response_as, encode_request, encode_response, encode_response_as,
};
use pigeonhole_node::roster::{RosterEntry, decode_roster, encode_roster};

fn computed() -> Vec<(&'static str, String)> {
    // The version-1 stand-in keeps the inbox id these vectors were made with.
    let alice = Identity::from_secret_bytes([0x01; 32]);
    let inbox =
        ContactCode::new(alice.public_key(), InboxToken::from_legacy([1, 2, 3, 4])).inbox_id();
    let instance = InstanceId {
        bucket: 0x5168,
        seq: 0,
    };
    let requests = [
        (
            "v2.next_seq_request",
            MailboxRequest::NextSeq {
                mailbox: inbox,
                bucket: instance.bucket,
            },
        ),
        (
            "v2.list_request_first",
            MailboxRequest::List {
                mailbox: inbox,
                after: None,
                limit: 64,
            },
        ),
        (
            "v2.list_request_after",
            MailboxRequest::List {
                mailbox: inbox,
                after: Some(ListCursor {
                    instance,
                    record_id: [0x11; 32],
                }),
                limit: 64,
            },
        ),
    ];
    let responses = [
        (
            "v2.put_answer_stored",
            MailboxResponse::Put(PutAnswer::Stored),
        ),
        (
            "v2.put_answer_already_held",
            MailboxResponse::Put(PutAnswer::AlreadyHeld),
        ),
        (
            "v2.put_answer_refused",
            MailboxResponse::Put(PutAnswer::Refused {
                kind: RefusalKind::Quota,
                reason: "store is full".into(),
            }),
        ),
        (
            "v2.list_answer",
            MailboxResponse::List {
                records: vec![vec![0xAA, 0xBB]],
                more: true,
                closer: Vec::new(),
            },
        ),
        (
            "v2.next_seq_answer",
            MailboxResponse::NextSeq {
                seq: 7,
                closer: Vec::new(),
            },
        ),
        ("v3.busy_answer", MailboxResponse::Busy),
    ];
    // Version 4 (`/pigeonhole/mailbox/2.1.0`): the same answers with
    // referrals — Alice's node id at one LAN address.
    let referral = Referral {
        peer: Keypair::ed25519_from_bytes([0x01; 32])
            .expect("a 32-byte secret")
            .public()
            .to_peer_id(),
        addrs: vec!["/ip4/192.168.1.20/tcp/4001".parse().expect("an address")],
    };
    let referral_for_roster = referral.clone();
    let referred = [
        (
            "v4.list_answer",
            MailboxResponse::List {
                records: vec![vec![0xAA, 0xBB]],
                more: true,
                closer: vec![referral.clone()],
            },
        ),
        (
            "v4.next_seq_answer",
            MailboxResponse::NextSeq {
                seq: 7,
                closer: vec![referral],
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, request) in requests {
        let bytes = encode_request(&request);
        assert_eq!(decode_request(&bytes).unwrap(), request);
        out.push((name, hex::encode(bytes)));
    }
    for (name, response) in responses {
        // Version-3 streams: no referral section.
        let bytes = encode_response_as(&response, false);
        assert_eq!(decode_response_as(&bytes, false).unwrap(), response);
        out.push((name, hex::encode(bytes)));
    }
    for (name, response) in referred {
        let bytes = encode_response(&response);
        assert_eq!(decode_response(&bytes).unwrap(), response);
        out.push((name, hex::encode(bytes)));
    }
    // Version 5: a roster answer naming the same peer, aged 42 seconds.
    let roster = [RosterEntry {
        peer: referral_for_roster,
        age_secs: 42,
    }];
    let bytes = encode_roster(&roster);
    assert_eq!(decode_roster(&bytes).unwrap(), roster);
    out.push(("v5.roster_answer", hex::encode(bytes)));
    // The Kademlia record key is the raw 32-byte slot key.
    out.push((
        "v2.kad_record_key",
        hex::encode(DhtKey::for_slot(&inbox, instance).0),
    ));
    out
}

fn documented() -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    let text = std::fs::read_to_string(path).expect("docs/PROTOCOL.md is readable");
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("peer-vector "))
        .filter_map(|rest| rest.split_once(" = "))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect()
}

#[test]
fn peer_protocol_vectors_match_the_codec() {
    let documented = documented();
    let mut wrong = Vec::new();
    for (name, value) in computed() {
        if documented.get(name) != Some(&value) {
            wrong.push(format!("peer-vector {name} = {value}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/PROTOCOL.md disagrees with the codec; the code computes:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        documented.len(),
        computed().len(),
        "unknown peer vectors in the document"
    );
}
