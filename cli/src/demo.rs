//! `pigeonhole demo`: the product in one run. Five peers on this machine's
//! loopback — three always-on laptops, Alice's phone and Bob's phone — act
//! out an offline meetup: a buddy request crosses while its recipient is
//! offline and its sender has left. Every step checks what it claims and is
//! timed; the first step that fails ends the demo with its name.
//!
//! Feed and document-notice steps join the script when the SDK facade has
//! feeds and notices.

use std::path::Path;
use std::time::{Duration, Instant};

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
    };
    let mut holders: Vec<Node> = Vec::new();
    let outcome = act(root.path(), &mut script, &mut holders).await;
    for holder in &holders {
        holder.stop().await;
    }
    let total = started.elapsed().as_millis();
    let document = json!({ "ok": outcome.is_ok(), "total_millis": total, "steps": script.steps });
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
                let code = bob
                    .buddies()
                    .set_profile("Bob", None)
                    .and_then(|()| bob.buddies().contact_code())
                    .map_err(|e| e.to_string());
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
                    alice.buddies().set_profile("Alice", None)?;
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
                let buddies = alice.buddies().buddies().map_err(|e| e.to_string())?;
                if !buddies.iter().any(|b| b.display_name == "Bob") {
                    return Err(format!("Alice's buddies: {buddies:?}"));
                }
                let sent = alice.buddies().sent_requests().map_err(|e| e.to_string())?;
                if !sent.iter().any(|s| s.status == SentStatus::Accepted) {
                    return Err("her request is not marked accepted".into());
                }
                Ok(())
            }
            .await;
            alice.stop().await;
            checked
        })
        .await
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
