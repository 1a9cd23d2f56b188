//! The probe's command mode (`--commands`): a line protocol on stdin and
//! stdout, so that a test can drive this node from another process as an
//! app would — add peers, publish, read — while the node is measured on
//! its own (its resident set, from `/proc/<pid>/status`). Tests that run
//! every node in one process can only measure all of them together.
//!
//! One command per line; one answer line per command, in order:
//!
//! ```text
//! ADD_PEERS <addr>...                         OK <n>
//! BOOTSTRAP                                   OK
//! WAIT_PEERS <n> <secs>                       PEERS <routing peers>
//! ADVANCE <secs>                              OK      (with --clock only)
//! STANDING <peer id>...                       STANDING <how many have standing>
//! PUBLISH <inbox hex> <seed> <lifetime secs>  PUBLISHED <record id hex>
//! FETCH <inbox hex>                           FETCHED <n> <record id hex>...
//! ```
//!
//! `PUBLISH` writes a buddy request (a sealed-looking body of fixed bytes)
//! signed by the test identity whose 32 secret bytes are all `seed`. A
//! command that fails is answered `ERR <reason>` and the probe goes on;
//! the end of stdin stops the node.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use pigeonhole::clock::ManualClock;
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Draft, Mailbox, MailboxConfig};
use pigeonhole::record::body::{MIN_SEALED_BYTES, SEALED_SCHEME_V1};
use pigeonhole::record::{Kind, MailboxId, Policy, Validator};
use pigeonhole_node::{Multiaddr, Node, PeerId};

/// Longest `WAIT_PEERS` accepted: every wait of the probe stays bounded.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// What the commands act on.
pub struct Session {
    node: Node,
    mailbox: Mailbox<Node>,
    /// The node's clock when it was started with `--clock`.
    clock: Option<Arc<ManualClock>>,
}

impl Session {
    /// A session over `node`, whose records are checked with `clock` (the
    /// node's) and which `ADVANCE` moves when it is a manual clock.
    pub fn new(
        node: Node,
        clock: Arc<dyn pigeonhole::clock::Clock>,
        manual: Option<Arc<ManualClock>>,
    ) -> Self {
        let mailbox = Mailbox::new(
            node.clone(),
            Validator::new(Policy::default()),
            clock,
            MailboxConfig::default(),
        );
        Self {
            node,
            mailbox,
            clock: manual,
        }
    }

    /// Answers the commands on stdin until it ends.
    pub async fn serve_stdin(&self) {
        let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = lines.recv().await {
            let answer = self
                .execute(&line)
                .await
                .unwrap_or_else(|error| format!("ERR {error}"));
            // Stdout is line-buffered: each answer leaves at its newline.
            println!("{answer}");
        }
    }

    /// Runs one command line and returns its answer line.
    async fn execute(&self, line: &str) -> Result<String, String> {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        match (command, args.as_slice()) {
            ("ADD_PEERS", addrs) => {
                for addr in addrs {
                    let addr: Multiaddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
                    self.node.add_peer(addr).await.map_err(|e| e.to_string())?;
                }
                Ok(format!("OK {}", addrs.len()))
            }
            ("BOOTSTRAP", []) => {
                self.node.bootstrap().await.map_err(|e| e.to_string())?;
                Ok("OK".into())
            }
            ("WAIT_PEERS", [n, secs]) => {
                let wait = Duration::from_secs(number(secs)?).min(MAX_WAIT);
                let status = self.node.wait_for_peers(number(n)? as usize, wait).await;
                Ok(format!("PEERS {}", status.routing_peers))
            }
            ("ADVANCE", [secs]) => {
                let clock = self.clock.as_ref().ok_or("started without --clock")?;
                clock.advance(number(secs)?);
                Ok("OK".into())
            }
            ("STANDING", peers) => {
                let mut standing = 0;
                for peer in peers {
                    let peer: PeerId = peer.parse().map_err(|e| format!("{peer}: {e}"))?;
                    if self
                        .node
                        .has_standing(peer)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        standing += 1;
                    }
                }
                Ok(format!("STANDING {standing}"))
            }
            ("PUBLISH", [inbox, seed, lifetime]) => {
                let sender = Identity::from_secret_bytes([number(seed)? as u8; 32]);
                let draft = Draft {
                    kind: Kind::BuddyRequest,
                    mailbox: mailbox_id(inbox)?,
                    body: sealed_body(),
                    lifetime_secs: number(lifetime)?,
                };
                let record = self
                    .mailbox
                    .publish(&sender, draft)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("PUBLISHED {}", hex::encode(record.id())))
            }
            ("FETCH", [inbox]) => {
                let fetched = self
                    .mailbox
                    .fetch_all(mailbox_id(inbox)?)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut answer = format!("FETCHED {}", fetched.records.len());
                for record in &fetched.records {
                    answer.push(' ');
                    answer.push_str(&hex::encode(record.id()));
                }
                Ok(answer)
            }
            _ => Err(format!("unknown command or arguments: {line}")),
        }
    }
}

/// A decimal argument.
fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|e| format!("{text}: {e}"))
}

/// A mailbox id from 64 hex digits.
fn mailbox_id(text: &str) -> Result<MailboxId, String> {
    let bytes = hex::decode(text).map_err(|e| format!("{text}: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("{text}: not 32 bytes"))?;
    Ok(MailboxId(bytes))
}

/// A body that passes the sealed kinds' checks (scheme byte, minimum
/// length) with 64 bytes of "ciphertext": the probe never reads it.
fn sealed_body() -> Vec<u8> {
    let mut body = vec![SEALED_SCHEME_V1];
    body.resize(MIN_SEALED_BYTES + 48, 0xA5);
    body
}
