//! Names that lie (issue 11): refused characters in single-line fields,
//! NFC on the wire, and look-alike names flagged on what the user decides
//! by — a received request and a directory claim. In-memory DHT; the same
//! validator runs on every storing peer.

mod common;

use common::buddy_cases::{BuddyNet, Client, code};
use common::*;
use pigeonhole::buddy::BuddyError;
use pigeonhole::names::CharClass;
use pigeonhole::record::body::{
    BodyRules, DirectoryEntry, FeedPost, directory_mailbox, feed_mailbox,
};
use pigeonhole::record::{ErrorKind, Header, InstanceId, Kind};

fn net() -> BuddyNet {
    let clock = clock();
    BuddyNet {
        clients: vec![memory_dht(&clock) as Client],
        clock,
    }
}

#[tokio::test]
async fn a_confusable_requester_is_flagged_and_an_honest_one_is_not() {
    let net = net();
    let alice = net.user("Alice", 0);
    // "Аlice" with a Cyrillic А: a valid name, shown with a warning.
    let impostor = net.user("\u{410}lice", 0);
    let bob = net.user("Bob", 0);
    for sender in [&impostor, &bob] {
        sender
            .send_request(&code(&alice), "hi", Vec::new())
            .await
            .unwrap();
    }
    alice.sync_now().await.unwrap();
    let pending = alice.pending_requests().unwrap();
    assert_eq!(pending.len(), 2);
    for request in pending {
        let check = request.name_check();
        match request.body.display_name.as_str() {
            "\u{410}lice" => {
                assert!(check.suspicious() && check.mixed_script);
                let honest = pigeonhole::names::NameCheck::of("Alice");
                assert_eq!(
                    check.skeleton, honest.skeleton,
                    "same skeleton: look-alikes"
                );
            }
            "Bob" => assert!(!check.suspicious()),
            other => panic!("unexpected requester {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_confusable_directory_claim_is_flagged() {
    let net = net();
    let impostor = net.user("Bob", 0);
    impostor.set_profile("\u{410}lice", Some("alice")).unwrap();
    impostor.publish_directory_entry().await.unwrap();
    let honest = net.user("Alice", 0);
    honest.set_profile("Alice", Some("alice")).unwrap();
    honest.publish_directory_entry().await.unwrap();
    let claims = net
        .user("Carol", 0)
        .lookup_directory("alice")
        .await
        .unwrap();
    assert_eq!(claims.len(), 2);
    let flagged: Vec<bool> = claims.iter().map(|c| c.name_check().suspicious()).collect();
    assert_eq!(flagged.iter().filter(|f| **f).count(), 1, "{claims:?}");
}

#[tokio::test]
async fn each_refused_class_is_refused_with_its_name_and_input_is_normalised() {
    let net = net();
    let alice = net.user("Alice", 0);
    for (name, class) in [
        ("Al\u{202E}ice", CharClass::Bidi),
        ("Al\u{2067}ice", CharClass::Bidi),
        ("Al\u{200B}ice", CharClass::ZeroWidth),
        ("Alice\u{FEFF}", CharClass::ZeroWidth),
        ("Alice\u{2028}Bob", CharClass::LineSeparator),
        ("Al\u{1B}ice", CharClass::Control),
    ] {
        match alice.set_profile(name, None) {
            Err(BuddyError::InvalidInput(error)) => {
                assert_eq!(error.kind(), ErrorKind::Format);
                let text = error.to_string();
                assert!(text.contains("display_name"), "{text}");
                assert!(text.contains(class.name()), "{name:?}: {text}");
            }
            other => panic!("{name:?} was not refused: {other:?}"),
        }
    }
    // Decomposed input is stored and sent composed (NFC).
    let jose = net.user("Jose\u{301}", 0);
    jose.send_request(&code(&alice), "Caf\u{65}\u{301}?", Vec::new())
        .await
        .unwrap();
    alice.sync_now().await.unwrap();
    let pending = alice.pending_requests().unwrap();
    assert_eq!(pending[0].body.display_name, "Jos\u{E9}");
    assert_eq!(pending[0].body.message, "Caf\u{E9}?");
}

#[test]
fn storing_peers_refuse_hidden_characters_and_non_nfc_text() {
    let bob = identity(2);
    let instance = InstanceId {
        bucket: InstanceId::bucket_of(NOW + DAY),
        seq: 0,
    };
    let entry = |display_name: &str| DirectoryEntry {
        name: "bob".into(),
        display_name: display_name.into(),
    };
    let header = Header {
        kind: Kind::KeyDirectory,
        mailbox: directory_mailbox("bob"),
        instance,
        sender: bob.public_key(),
        created_at: NOW,
        expires_at: NOW + DAY,
    };
    let check = |body: Vec<u8>, header: Header| {
        validator().validate(&header.dht_key(), &header.sign(&bob, &body), NOW)
    };
    assert!(check(entry("Bob").encode(), header).is_ok());
    for bad in [
        "B\u{202E}ob",
        "B\u{200D}ob",
        "Bob\u{2029}",
        "Bo\u{308}b\u{301}",
    ] {
        let error = check(entry(bad).encode(), header).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Format, "{bad:?}");
    }
    // A feed title in NFD is refused; the same title in NFC is fine.
    let post = |title: &str| FeedPost {
        feed_name: "news".into(),
        title: title.into(),
        link: None,
        summary: "text".into(),
        number: 1,
        published_at: None,
        replaces: None,
    };
    let post_header = Header {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&bob.public_key(), "news"),
        ..header
    };
    assert!(check(post("Caf\u{E9}").encode(), post_header).is_ok());
    let error = check(post("Cafe\u{301}").encode(), post_header).unwrap_err();
    assert!(error.to_string().contains("NFC"), "{error}");
}
