//! `pigeonhole demo`: the product in one run. Five peers on this machine's
//! loopback — three always-on laptops, Alice's phone and Bob's phone — act
//! out an offline meetup: a buddy request crosses while its recipient is
//! offline and its sender has left. Every step checks what it claims and is
//! timed; the first step that fails ends the demo with its name.
//!
//! Then the seed's other uses of the mailbox: Alice posts three notes to
//! her feed and leaves; Bob follows late, reads them in order and prints
//! them as RSS 2.0; Alice announces a document version carrying its content
//! inline, and Bob, watching, receives it with the content.

use std::path::Path;
use std::time::{Duration, Instant};

use pigeonhole::feed::FeedRef;
use pigeonhole::notice::{DocRef, UpdateContent};
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole::store::buddies::SentStatus;
use pigeonhole_sdk::{Config, Multiaddr, Node, PeerConfig};
use serde::Serialize;
use serde_json::json;

use crate::error::CliError;
use crate::output::emit;

const HOLDERS: usize = 3;
const PEER_WAIT: Duration = Duration::from_secs(20);
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
const MESSAGE: &str = "Hi Bob, we met at the meetup!";
const ALICE_EMAIL: &str = "alice@example.org";
const FEED: &str = "meetup-notes";
const POSTS: [(&str, &str); 3] = [
    ("Welcome to the meetup", "Doors at 18:00, talks at 18:30."),
    (
        "Slides from the first talk",
        "Offline-first sync with a DHT.",
    ),
    ("See you next month", "Same place, first Thursday."),
];
const DOC: &str = "meetup-agenda";
const AGENDA: &str = "18:00 doors\n18:30 talks\n20:00 pizza\n";

/// One step's outcome, as printed with `--json`.
#[derive(Debug, Serialize)]
struct StepOut {
    name: &'static str,
    millis: u128,
    ok: bool,
    error: Option<String>,
}

struct Script {
    json: bool,
    steps: Vec<StepOut>,
    rss: Option<String>,
}

impl Script {
    /// Runs one step, prints it with its timing, stops the script on failure.
    async fn step<T>(
        &mut self,
        name: &'static str,
        work: impl Future<Output = Result<T, String>>,
    ) -> Result<T, CliError> {
        let number = self.steps.len() + 1;
        let started = Instant::now();
        let outcome = match tokio::time::timeout(STEP_TIMEOUT, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no result within {} s", STEP_TIMEOUT.as_secs())),
        };
        let millis = started.elapsed().as_millis();
        if !self.json {
            match &outcome {
                Ok(_) => println!("{number}. {name}  ok  {millis} ms"),
                Err(error) => println!("{number}. {name}  FAILED after {millis} ms: {error}"),
            }
        }
        self.steps.push(StepOut {
            name,
            millis,
            ok: outcome.is_ok(),
            error: outcome.as_ref().err().cloned(),
        });
        outcome.map_err(|error| {
            CliError::Failed(format!("demo step {number} ({name}) failed: {error}"))
        })
    }
}

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

async fn start(dir: &Path, bootstrap: Vec<Multiaddr>, peers: usize) -> Result<Node, String> {
    let node = Node::start(config(dir, bootstrap))
        .await
        .map_err(|e| e.to_string())?;
    let status = node.peer().wait_for_peers(peers, PEER_WAIT).await;
    if status.routing_peers < peers {
        node.stop().await;
        return Err(format!(
            "found {} of {peers} peers in {} s",
            status.routing_peers,
            PEER_WAIT.as_secs()
        ));
    }
    Ok(node)
}

/// Runs the demo; prints every step; fails naming the first failed step.
pub async fn run(json: bool) -> Result<(), CliError> {
    let root = tempfile::tempdir()
        .map_err(|error| CliError::Failed(format!("cannot make a temporary directory: {error}")))?;
    let started = Instant::now();
    let mut script = Script {
        json,
        steps: Vec::new(),
        rss: None,
    };
    let mut holders: Vec<Node> = Vec::new();
    let outcome = act(root.path(), &mut script, &mut holders).await;
    for holder in &holders {
        holder.stop().await;
    }
    let total = started.elapsed().as_millis();
    let document = json!({
        "ok": outcome.is_ok(),
        "total_millis": total,
        "steps": script.steps,
        "rss": script.rss,
    });
    emit(json, "demo", &document, || match &outcome {
        Ok(()) => format!("all {} steps verified in {total} ms", script.steps.len()),
        Err(_) => format!("demo failed after {total} ms"),
    });
    outcome
}

async fn act(root: &Path, script: &mut Script, holders: &mut Vec<Node>) -> Result<(), CliError> {
    let (alice_dir, bob_dir) = (root.join("alice"), root.join("bob"));
    script
        .step("three always-on peers start on loopback", async {
            for i in 0..HOLDERS {
                let bootstrap = holders
                    .first()
                    .map(|h| h.peer().listen_addrs())
                    .unwrap_or_default();
                let node = start(&root.join(format!("laptop{i}")), bootstrap, i.min(1)).await?;
                holders.push(node);
            }
            Ok(())
        })
        .await?;
    let meetup: Vec<Multiaddr> = holders
        .iter()
        .flat_map(|h| h.peer().listen_addrs())
        .collect();

    let bob_code = script
        .step(
            "Bob's phone shows his contact code, then goes offline",
            async {
                let bob = start(&bob_dir, meetup.clone(), 1).await?;
                let code = async {
                    bob.buddies().set_profile("Bob", None).await?;
                    bob.buddies().contact_code().await
                }
                .await
                .map_err(|e: pigeonhole::buddy::BuddyError| e.to_string());
                bob.stop().await;
                code.map(|code| code.to_string())
            },
        )
        .await?;

    let alice_key = script
        .step(
            "Alice sends Bob a buddy request; the replicas confirm it",
            async {
                let alice = start(&alice_dir, meetup.clone(), HOLDERS).await?;
                let contacts = vec![ContactField {
                    kind: ContactFieldKind::Email,
                    value: ALICE_EMAIL.into(),
                }];
                let sent = async {
                    alice.buddies().set_profile("Alice", None).await?;
                    alice
                        .buddies()
                        .send_request(&bob_code, MESSAGE, contacts)
                        .await
                }
                .await
                .map_err(|e| e.to_string());
                let key = alice.buddies().public_key();
                alice.stop().await;
                sent.map(|_| key)
            },
        )
        .await?;
    script
        .step("Alice leaves; only the laptops hold her request", async {
            let held: u64 = futures_sum(holders).await?;
            if held == 0 {
                return Err("no laptop holds a record".into());
            }
            Ok(())
        })
        .await?;

    let bob = script
        .step(
            "Bob arrives and sees the pending request, verified",
            async {
                let bob = start(&bob_dir, meetup.clone(), HOLDERS).await?;
                let checked = async {
                    bob.sync_now().await.map_err(|e| e.to_string())?;
                    let pending = bob
                        .buddies()
                        .pending_requests()
                        .await
                        .map_err(|e| e.to_string())?;
                    let [request] = pending.as_slice() else {
                        return Err(format!("{} pending requests, expected 1", pending.len()));
                    };
                    let contact_ok = request.body.contacts.iter().any(|c| c.value == ALICE_EMAIL);
                    if request.from != alice_key
                        || request.body.display_name != "Alice"
                        || request.body.message != MESSAGE
                        || !contact_ok
                    {
                        return Err(format!(
                            "the request does not match what Alice sent: {request:?}"
                        ));
                    }
                    Ok(request.id)
                }
                .await;
                match checked {
                    Ok(id) => Ok((bob, id)),
                    Err(error) => {
                        bob.stop().await;
                        Err(error)
                    }
                }
            },
        )
        .await?;
    let (bob, request_id) = bob;
    let accepted = script
        .step("Bob accepts; the replicas confirm his answer", async {
            bob.buddies()
                .accept(&request_id)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
    bob.stop().await;
    accepted?;

    script
        .step("Alice returns and sees Bob in her buddy list", async {
            let alice = start(&alice_dir, meetup.clone(), HOLDERS).await?;
            let checked = async {
                alice.sync_now().await.map_err(|e| e.to_string())?;
                let buddies = alice.buddies().buddies().await.map_err(|e| e.to_string())?;
                if !buddies.iter().any(|b| b.display_name == "Bob") {
                    return Err(format!("Alice's buddies: {buddies:?}"));
                }
                let sent = alice
                    .buddies()
                    .sent_requests()
                    .await
                    .map_err(|e| e.to_string())?;
                if !sent.iter().any(|s| s.status == SentStatus::Accepted) {
                    return Err("her request is not marked accepted".into());
                }
                Ok(())
            }
            .await;
            alice.stop().await;
            checked
        })
        .await?;
    feeds_and_notices(script, &alice_dir, &bob_dir, &meetup).await
}

/// The feed and document-notice steps.
async fn feeds_and_notices(
    script: &mut Script,
    alice_dir: &Path,
    bob_dir: &Path,
    meetup: &[Multiaddr],
) -> Result<(), CliError> {
    let feed = script
        .step(
            "Alice posts 3 notes to her feed, confirmed, and leaves",
            async {
                let alice = start(alice_dir, meetup.to_vec(), HOLDERS).await?;
                let posted = async {
                    for (title, summary) in POSTS {
                        alice
                            .feeds()
                            .post(FEED, title, None, summary, None)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    alice.feeds().own_feed(FEED).map_err(|e| e.to_string())
                }
                .await;
                alice.stop().await;
                posted
            },
        )
        .await?;
    let bob = script
        .step(
            "Bob follows her feed late and reads the 3 posts in order",
            async {
                let bob = start(bob_dir, meetup.to_vec(), HOLDERS).await?;
                match read_in_order(&bob, &feed).await {
                    Ok(()) => Ok(bob),
                    Err(error) => {
                        bob.stop().await;
                        Err(error)
                    }
                }
            },
        )
        .await?;
    let rest = rss_and_notice(script, &bob, &feed, alice_dir, meetup).await;
    bob.stop().await;
    rest
}

/// Bob follows `feed` and fetches it: the 3 posts, in order.
async fn read_in_order(bob: &Node, feed: &FeedRef) -> Result<(), String> {
    bob.feeds().follow(feed).await.map_err(|e| e.to_string())?;
    let update = bob
        .feeds()
        .fetch_new(feed)
        .await
        .map_err(|e| e.to_string())?;
    let titles: Vec<&str> = update.posts.iter().map(|p| p.title.as_str()).collect();
    let expected: Vec<&str> = POSTS.iter().map(|(title, _)| *title).collect();
    if titles != expected || update.missed != 0 {
        return Err(format!(
            "read {titles:?} ({} missed), expected {expected:?}",
            update.missed
        ));
    }
    Ok(())
}

async fn rss_and_notice(
    script: &mut Script,
    bob: &Node,
    feed: &FeedRef,
    alice_dir: &Path,
    meetup: &[Multiaddr],
) -> Result<(), CliError> {
    let rss = script
        .step(
            "Bob's reader gets the feed as RSS 2.0, newest first",
            async {
                let document = bob.feeds().rss(feed).await.map_err(|e| e.to_string())?;
                let channel = rss::Channel::read_from(document.as_bytes())
                    .map_err(|e| format!("not RSS: {e}"))?;
                let titles: Vec<&str> = channel.items().iter().filter_map(|i| i.title()).collect();
                let newest_first: Vec<&str> = POSTS.iter().rev().map(|(title, _)| *title).collect();
                let guids = channel
                    .items()
                    .iter()
                    .filter(|i| i.guid().is_some())
                    .count();
                if titles != newest_first || guids != POSTS.len() {
                    return Err(format!("RSS items {titles:?}, {guids} with a guid"));
                }
                // Indented for the reader of the demo; the same document.
                let mut pretty = Vec::new();
                channel
                    .pretty_write_to(&mut pretty, b' ', 2)
                    .map_err(|e| e.to_string())?;
                String::from_utf8(pretty).map_err(|e| e.to_string())
            },
        )
        .await?;
    if !script.json {
        println!("{rss}");
    }
    script.rss = Some(rss);
    let doc = script
        .step(
            "Alice announces version 1 of the agenda, content inline",
            async {
                let alice = start(alice_dir, meetup.to_vec(), HOLDERS).await?;
                let notified = async {
                    let notices = alice.notices();
                    let doc = notices.own_doc(DOC)?;
                    let carry = UpdateContent::Carry(AGENDA.as_bytes().to_vec());
                    let record = notices.notify_update(&doc, 1, "first draft", carry).await?;
                    Ok::<_, pigeonhole::notice::NoticeError>((doc, record))
                }
                .await
                .map_err(|e| e.to_string());
                alice.stop().await;
                let (doc, record) = notified?;
                match &record.content {
                    pigeonhole::record::Content::DocNotice(n) if n.inline.is_some() => Ok(doc),
                    _ => Err("the notice does not carry its content inline".into()),
                }
            },
        )
        .await?;
    script
        .step(
            "Bob watches the agenda and receives the notice with its content",
            async { receive_notice(bob, &doc).await },
        )
        .await
}

/// Bob watches `doc` and fetches it: version 1 with the agenda.
async fn receive_notice(bob: &Node, doc: &DocRef) -> Result<(), String> {
    let notices = bob.notices();
    notices.watch(doc).await.map_err(|e| e.to_string())?;
    let updates = notices
        .fetch_updates(doc)
        .await
        .map_err(|e| e.to_string())?;
    let [notice] = updates.notices.as_slice() else {
        return Err(format!("{} notices, expected 1", updates.notices.len()));
    };
    if notice.body.version != 1 || notice.sender != doc.owner {
        return Err(format!("unexpected notice: {notice:?}"));
    }
    let content = notices
        .content(&notice.body)
        .await
        .map_err(|e| e.to_string())?;
    if content != AGENDA.as_bytes() {
        return Err(format!(
            "content {:?} is not the agenda",
            String::from_utf8_lossy(&content)
        ));
    }
    Ok(())
}

/// Records held across the laptops.
async fn futures_sum(holders: &[Node]) -> Result<u64, String> {
    let mut total = 0;
    for holder in holders {
        total += holder
            .peer()
            .held_totals()
            .await
            .map_err(|e| e.to_string())?
            .records;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_step_ends_the_script_naming_it() {
        let mut script = Script {
            json: true,
            steps: Vec::new(),
            rss: None,
        };
        script.step("first", async { Ok(()) }).await.unwrap();
        let error = script
            .step("Bob accepts", async { Err::<(), _>("no peer".to_string()) })
            .await
            .unwrap_err();
        assert!(matches!(error, CliError::Failed(ref m)
            if m == "demo step 2 (Bob accepts) failed: no peer"));
        assert!(script.steps[0].ok);
        assert!(!script.steps[1].ok);
        assert_eq!(script.steps[1].error.as_deref(), Some("no peer"));
    }
}
