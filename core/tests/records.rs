//! Record round trips and the validator's stages, kind by kind.

mod common;

use common::*;
use pigeonhole::identity::PublicKey;
use pigeonhole::record::body::{BodyRules, Content, FeedPost};
use pigeonhole::record::{ErrorKind, Kind, MAX_BODY_BYTES, Policy, Validator};

#[test]
fn every_kind_round_trips() {
    let v = validator();
    for kind in Kind::ALL {
        let spec = Spec::new(kind, identity(1), DAY, 3);
        let bytes = spec.bytes();
        let record = v.validate(&spec.key(), &bytes, NOW).expect("valid");
        assert_eq!(record.header, spec.header, "{kind}");
        assert_eq!(record.body, spec.body);
        assert_eq!(record.bytes(), &bytes[..]);
        match (kind, &record.content) {
            (Kind::BuddyRequest | Kind::BuddyResponse, Content::Sealed) => {
                let opened = v
                    .open_sealed(&record, &plaintext_for(kind))
                    .expect("stage two");
                match opened {
                    Content::BuddyRequest(body) => assert_eq!(body, sample_request()),
                    Content::BuddyResponse(body) => assert_eq!(body, sample_response()),
                    other => panic!("{other:?}"),
                }
            }
            (Kind::FeedPost, Content::FeedPost(post)) => assert_eq!(post, &sample_post()),
            (Kind::DocNotice, Content::DocNotice(notice)) => {
                assert_eq!(notice, &sample_notice(record.header.sender))
            }
            (Kind::EditorList, Content::EditorList(list)) => {
                assert_eq!(list, &sample_editor_list(vec![PublicKey([7; 32])]))
            }
            (Kind::ContentChunk, Content::ContentChunk(chunk)) => {
                assert_eq!(chunk, &sample_chunk())
            }
            (Kind::KeyDirectory, Content::KeyDirectory(entry)) => {
                assert_eq!(entry, &sample_entry())
            }
            (Kind::Tombstone, Content::Tombstone(stone)) => assert_eq!(stone.replaced, [3; 32]),
            (kind, content) => panic!("{kind}: unexpected {content:?}"),
        }
    }
}

#[test]
fn largest_allowed_body_passes_and_one_more_byte_is_too_large() {
    let mut spec = Spec::new(Kind::BuddyRequest, identity(1), DAY, 0);
    spec.body = sealed_blob(MAX_BODY_BYTES - (sealed_blob(16).len() - 16));
    assert_eq!(spec.body.len(), MAX_BODY_BYTES);
    let bytes = spec.bytes();
    assert_eq!(bytes.len(), pigeonhole::record::MAX_RECORD_BYTES);
    validator()
        .validate(&spec.key(), &bytes, NOW)
        .expect("maximum size is valid");
    let mut over = bytes.clone();
    over.push(0);
    assert_eq!(
        validator()
            .validate(&spec.key(), &over, NOW)
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge
    );
}

#[test]
fn a_lower_policy_size_limit_is_enforced() {
    let mut policy = Policy::default();
    policy.max_record_bytes = 300;
    let v = Validator::new(policy);
    let mut spec = Spec::new(Kind::BuddyRequest, identity(1), DAY, 0);
    spec.body = sealed_blob(400);
    let error = v.validate(&spec.key(), &spec.bytes(), NOW).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
}

#[test]
fn stage_two_applies_the_kind_rules_to_decrypted_bodies() {
    let v = validator();
    let spec = Spec::new(Kind::BuddyResponse, identity(1), DAY, 0);
    let record = v.validate(&spec.key(), &spec.bytes(), NOW).unwrap();
    let mut no_request = sample_response();
    no_request.request_id = [0; 32];
    assert_eq!(
        v.open_sealed(&record, &no_request.encode())
            .unwrap_err()
            .kind(),
        ErrorKind::Syntax
    );
    let mut long_name = sample_response();
    long_name.display_name = "x".repeat(65);
    assert_eq!(
        v.open_sealed(&record, &long_name.encode())
            .unwrap_err()
            .kind(),
        ErrorKind::Format
    );
    let mut trailing = sample_response().encode();
    trailing.push(1);
    assert_eq!(
        v.open_sealed(&record, &trailing).unwrap_err().kind(),
        ErrorKind::Format
    );
    // A request's plaintext inside a response envelope is not a response.
    assert!(v.open_sealed(&record, &sample_request().encode()).is_err());

    let post = Spec::new(Kind::FeedPost, identity(1), DAY, 0);
    let post_record = v.validate(&post.key(), &post.bytes(), NOW).unwrap();
    assert_eq!(
        v.open_sealed(&post_record, b"").unwrap_err().kind(),
        ErrorKind::NotSealed
    );
}

#[test]
fn syntax_ties_bodies_to_their_mailbox() {
    let v = validator();
    // A feed post moved into someone else's feed mailbox (re-signed by the
    // mover) breaks the post/author/mailbox relation.
    let mut spec = Spec::new(Kind::FeedPost, identity(1), DAY, 0);
    spec.header.mailbox = inbox_of(3);
    let error = v.validate(&spec.key(), &spec.bytes(), NOW).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Syntax, "{error}");
    // A post with neither summary nor link says nothing.
    let mut empty = Spec::new(Kind::FeedPost, identity(1), DAY, 0);
    empty.body = FeedPost {
        link: None,
        summary: String::new(),
        ..sample_post()
    }
    .encode();
    assert_eq!(
        v.validate(&empty.key(), &empty.bytes(), NOW)
            .unwrap_err()
            .kind(),
        ErrorKind::Syntax
    );
}

#[test]
fn format_rules_name_the_field() {
    let v = validator();
    let cases: Vec<(FeedPost, &str)> = vec![
        (
            FeedPost {
                title: String::new(),
                ..sample_post()
            },
            "title",
        ),
        (
            FeedPost {
                title: "a\u{7}b".into(),
                ..sample_post()
            },
            "title",
        ),
        (
            FeedPost {
                link: Some("ftp://x".into()),
                ..sample_post()
            },
            "link",
        ),
        (
            FeedPost {
                summary: " padded".into(),
                ..sample_post()
            },
            "summary",
        ),
    ];
    for (post, field) in cases {
        let mut spec = Spec::new(Kind::FeedPost, identity(1), DAY, 0);
        spec.body = post.encode();
        match v.validate(&spec.key(), &spec.bytes(), NOW) {
            Err(pigeonhole::record::RecordError::Format(error)) => assert_eq!(error.field, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn decode_errors_are_told_apart() {
    let v = validator();
    let spec = Spec::new(Kind::FeedPost, identity(1), DAY, 0);
    let bytes = spec.bytes();
    let kind_of = |bytes: &[u8]| v.validate(&spec.key(), bytes, NOW).unwrap_err().kind();
    let mut version = bytes.clone();
    version[0] = 2;
    assert_eq!(kind_of(&version), ErrorKind::UnknownVersion);
    let mut kind = bytes.clone();
    kind[1] = 99;
    assert_eq!(kind_of(&kind), ErrorKind::UnknownKind);
    assert_eq!(kind_of(&bytes[..bytes.len() - 1]), ErrorKind::Truncated);
    assert_eq!(kind_of(&bytes[..10]), ErrorKind::Truncated);
    assert_eq!(kind_of(&[]), ErrorKind::Truncated);
}
