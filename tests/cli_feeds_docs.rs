//! Feeds and document notices across processes on loopback: three `serve`
//! holders; Alice posts with one invocation after another; Bob, whose data
//! directory ran no peer meanwhile, follows late, reads the posts in order
//! (`--json`) and gets the feed as RSS 2.0 (parsed with the `rss` crate);
//! Alice announces a document version and Bob reads it with its content
//! via `doc updates --json`. Bad feed references and bad posts exit 2 with
//! nothing written.

mod common;

use common::{Run, Serve, User, run, snapshot};

const POSTS: [(&str, &str); 3] = [
    ("Welcome to the meetup", "Doors at 18:00."),
    ("Slides from the first talk", "Offline-first sync."),
    ("See you next month", "Same place."),
];

fn assert_bad_input(run: &Run, says: &str) {
    assert_eq!(run.code, Some(2), "expected exit 2: {run:#?}");
    assert!(
        run.stderr.contains(says),
        "stderr should say {says:?}: {run:#?}"
    );
    assert!(run.stdout.is_empty(), "nothing on stdout: {run:#?}");
}

/// Three holders on loopback and their first addresses.
fn holders(root: &std::path::Path) -> (Vec<Serve>, Vec<String>) {
    let first = Serve::loopback(&root.join("holder1"), &[]);
    let second = Serve::loopback(&root.join("holder2"), &first.addrs);
    let third = Serve::loopback(&root.join("holder3"), &first.addrs);
    let serves = vec![first, second, third];
    let peers = serves.iter().map(|s| s.addrs[0].clone()).collect();
    (serves, peers)
}

#[test]
fn a_late_follower_reads_a_feed_in_order_and_as_rss_and_gets_a_document_notice() {
    let root = tempfile::tempdir().unwrap();
    let (_serves, peers) = holders(root.path());
    let alice = User::new(&root.path().join("alice"), &peers);
    let bob = User::new(&root.path().join("bob"), &peers);

    // Alice's feed reference, offline; three posts, one invocation each.
    let feed = alice.run(&["--json", "feed", "ref"]).json();
    assert_eq!(feed["schema"], "pigeonhole.feed_ref/1");
    assert_eq!(feed["name"], "main");
    let reference = feed["feed"].as_str().unwrap().to_string();
    assert!(reference.starts_with("PHF-"), "{feed}");
    let alice_key = feed["author"].as_str().unwrap().to_string();
    let mut numbers = Vec::new();
    for (title, summary) in POSTS {
        let posted = alice
            .run(&["--json", "feed", "post", title, "--summary", summary])
            .json();
        assert_eq!(posted["schema"], "pigeonhole.feed_post/1");
        assert_eq!(posted["feed"]["feed"], reference.as_str());
        assert_eq!(posted["post"]["title"], title);
        numbers.push(posted["post"]["number"].as_u64().unwrap());
    }
    assert_eq!(numbers, [1, 2, 3]);

    // Bob follows late (offline), and sees nothing until he syncs.
    let offline_bob = User::new(&bob.dir, &[]);
    let followed = offline_bob
        .run(&["--json", "feed", "follow", &reference])
        .json();
    assert_eq!(followed["schema"], "pigeonhole.follow/1");
    assert_eq!(followed["changed"], true);
    let list = offline_bob.run(&["--json", "feed", "list"]).json();
    assert_eq!(list["schema"], "pigeonhole.following/1");
    assert_eq!(list["following"][0]["feed"]["feed"], reference.as_str());
    let before = offline_bob.run(&["--json", "feed", "read"]).json();
    assert_eq!(before["feeds"][0]["posts"].as_array().unwrap().len(), 0);

    let read = bob.run(&["--json", "feed", "read", "--sync"]).json();
    assert_eq!(read["schema"], "pigeonhole.feed_posts/1");
    let feeds = read["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 1, "{read}");
    assert_eq!(feeds[0]["author"], alice_key.as_str());
    assert_eq!(feeds[0]["fetched"]["new_posts"], 3, "{read}");
    assert_eq!(feeds[0]["fetched"]["missed"], 0, "{read}");
    let posts = feeds[0]["posts"].as_array().unwrap();
    let titles: Vec<&str> = posts.iter().map(|p| p["title"].as_str().unwrap()).collect();
    let expected: Vec<&str> = POSTS.iter().map(|(title, _)| *title).collect();
    assert_eq!(titles, expected, "oldest first: {read}");
    let read_numbers: Vec<u64> = posts
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(read_numbers, [1, 2, 3]);
    let guids: Vec<String> = posts
        .iter()
        .map(|p| p["guid"].as_str().unwrap().to_string())
        .collect();

    // A second sync delivers nothing new; the local copy still has all 3.
    let again = bob
        .run(&["--json", "feed", "read", &reference, "--sync"])
        .json();
    assert_eq!(again["feeds"][0]["fetched"]["new_posts"], 0, "{again}");
    assert_eq!(again["feeds"][0]["posts"].as_array().unwrap().len(), 3);

    // RSS 2.0 from the local copy, with no peers at all.
    let rss = offline_bob.run(&["feed", "rss", &reference]);
    rss.ok();
    let channel = rss::Channel::read_from(rss.stdout.as_bytes())
        .unwrap_or_else(|error| panic!("not RSS 2.0 ({error}): {rss:#?}"));
    assert_eq!(channel.title(), "main");
    let rss_titles: Vec<&str> = channel.items().iter().filter_map(|i| i.title()).collect();
    let newest_first: Vec<&str> = expected.iter().rev().copied().collect();
    assert_eq!(rss_titles, newest_first);
    let rss_guids: Vec<&str> = channel
        .items()
        .iter()
        .map(|i| i.guid().expect("a guid").value())
        .collect();
    let guids_newest_first: Vec<&str> = guids.iter().rev().map(String::as_str).collect();
    assert_eq!(rss_guids, guids_newest_first);
    assert!(channel.items().iter().all(|i| i.pub_date().is_some()));
    assert!(rss.stdout.contains("<rss version=\"2.0\">"), "{rss:#?}");
    let as_json = offline_bob
        .run(&["--json", "feed", "rss", &reference])
        .json();
    assert_eq!(as_json["schema"], "pigeonhole.rss/1");
    assert_eq!(as_json["rss"].as_str().unwrap().trim(), rss.stdout.trim());

    // A document notice, its content inline.
    let agenda = "18:00 doors\n18:30 talks\n";
    let notified = alice
        .run(&[
            "--json",
            "doc",
            "notify",
            "agenda",
            "1",
            "--text",
            agenda,
            "--summary",
            "first draft",
        ])
        .json();
    assert_eq!(notified["schema"], "pigeonhole.doc_notice/1");
    assert_eq!(notified["carried"], "inline");
    assert_eq!(notified["doc"]["owner"], alice_key.as_str());
    let watched = offline_bob
        .run(&["--json", "doc", "watch", &alice_key, "agenda"])
        .json();
    assert_eq!(watched["schema"], "pigeonhole.watch/1");
    assert_eq!(watched["changed"], true);
    let updates = bob.run(&["--json", "doc", "updates"]).json();
    assert_eq!(updates["schema"], "pigeonhole.doc_updates/1");
    let docs = updates["docs"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{updates}");
    assert_eq!(docs[0]["name"], "agenda");
    let notices = docs[0]["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{updates}");
    let notice = &notices[0];
    assert_eq!(notice["version"], 1);
    assert_eq!(notice["sender"], alice_key.as_str());
    assert_eq!(notice["change_summary"], "first draft");
    assert_eq!(notice["carried"], "inline");
    assert_eq!(notice["content_text"], agenda);
    assert_eq!(notice["size"], agenda.len());
    let decoded = data_encoding::BASE64
        .decode(notice["content_base64"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(decoded, agenda.as_bytes());
    // Delivered once: the next fetch of that one document has nothing new.
    let next = bob
        .run(&["--json", "doc", "updates", &alice_key, "agenda"])
        .json();
    assert_eq!(next["docs"][0]["notices"].as_array().unwrap().len(), 0);
    let listed = offline_bob.run(&["--json", "doc", "list"]).json();
    assert_eq!(listed["watching"][0]["last_version"], 1);
}

#[test]
fn bad_feed_references_and_posts_exit_2_with_nothing_written() {
    let root = tempfile::tempdir().unwrap();
    let alice = User::new(&root.path().join("alice"), &[]);
    let reference = alice.run(&["--json", "feed", "ref"]).json()["feed"]
        .as_str()
        .unwrap()
        .to_string();
    let before = snapshot(&alice.dir);
    let body = &reference[4..];
    let mut typo: Vec<char> = body.chars().collect();
    typo[10] = if typo[10] == 'A' { 'B' } else { 'A' };
    let typo = format!("PHF-{}", typo.into_iter().collect::<String>());
    let cases = [
        (format!("XX-{body}"), "starts with \"PHF-\""),
        (
            format!("PHF-{}1{}", &body[..5], &body[6..]),
            "'1' at position 5",
        ),
        (format!("PHF-{}", &body[..body.len() - 1]), "wrong length"),
        (typo, "checksum does not match"),
    ];
    for (bad, says) in &cases {
        for verb in ["follow", "unfollow", "read", "rss"] {
            assert_bad_input(&alice.run(&["feed", verb, bad]), says);
        }
    }
    // A new data directory is not even created.
    let nobody = root.path().join("nobody");
    let outcome = run(&[
        "--data-dir",
        &nobody.display().to_string(),
        "feed",
        "follow",
        &cases[3].0,
    ]);
    assert_bad_input(&outcome, "checksum does not match");
    assert!(!nobody.exists());
    // Posts that break the protocol's rules, before any peer is sought.
    let peer = "/ip4/127.0.0.1/tcp/9";
    let poster = User::new(&alice.dir, &[peer.to_string()]);
    assert_bad_input(
        &poster.run(&["feed", "post", "Hello", "--link", "ftp://example.org"]),
        "https://",
    );
    assert_bad_input(&poster.run(&["feed", "post", "two\nlines"]), "cannot post");
    // Reading a feed that is not followed (and not one's own).
    let other = User::new(&root.path().join("bob"), &[])
        .run(&["--json", "feed", "ref"])
        .json()["feed"]
        .as_str()
        .unwrap()
        .to_string();
    assert_bad_input(&alice.run(&["feed", "read", &other]), "is not followed");
    // Document input: a missing content file, a version 0, no content.
    assert_bad_input(
        &poster.run(&["doc", "notify", "agenda", "1", "--file", "/nonexistent/x"]),
        "cannot read",
    );
    assert_bad_input(
        &poster.run(&["doc", "notify", "agenda", "0", "--text", "x"]),
        "invalid value",
    );
    assert_bad_input(&poster.run(&["doc", "notify", "agenda", "1"]), "required");
    assert_bad_input(
        &poster.run(&["doc", "updates", &"ab".repeat(32), "agenda"]),
        "is not watched",
    );
    assert_eq!(snapshot(&alice.dir), before, "files changed");
}
