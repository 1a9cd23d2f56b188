//! Commands that talk to the network: each checks its input against the
//! local database first (so bad input fails before a peer starts), then
//! starts a peer, waits for peers, does its work and waits for the replicas
//! to confirm what it published.

use std::time::Duration;

use pigeonhole::contact::ContactCode;
use pigeonhole::record::body::ContactField;
use pigeonhole::store::buddies::SentStatus;
use pigeonhole_sdk::Multiaddr;
use serde_json::json;

use crate::args::Global;
use crate::commands::local::print_requests;
use crate::datadir::Create;
use crate::error::CliError;
use crate::output::{BuddyOut, ClaimOut, SentOut, SyncOut, emit};
use crate::progress::Progress;
use crate::session::{Local, Online};

pub(crate) fn timeout(global: &Global) -> Duration {
    Duration::from_secs(global.timeout)
}

/// Starts a peer and waits for the network.
async fn online(global: &Global, progress: &Progress, create: Create) -> Result<Online, CliError> {
    Online::check_reachable(global)?;
    let online = Online::start(global, create, None).await?;
    if let Err(error) = online.connect(progress, timeout(global)).await {
        online.stop().await;
        return Err(error);
    }
    Ok(online)
}

/// Runs `work` on a connected peer, then stops the peer whatever happened.
pub(crate) async fn with_online<T>(
    global: &Global,
    progress: &Progress,
    create: Create,
    work: impl AsyncFnOnce(&Online) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let online = online(global, progress, create).await?;
    let result = work(&online).await;
    online.stop().await;
    result
}

/// `request send CODE [--message] [--contact]…`
pub async fn send(
    global: &Global,
    progress: &Progress,
    code: &ContactCode,
    message: &str,
    contacts: &[ContactField],
) -> Result<(), CliError> {
    {
        let local = Local::open(global, Create::Refused)?;
        if local.store.profile()?.is_none() {
            return Err(pigeonhole::buddy::BuddyError::ProfileMissing.into());
        }
        if code.public_key == local.book.public_key() {
            return Err(pigeonhole::buddy::BuddyError::OwnCode.into());
        }
        pigeonhole::record::body::check_message(message)
            .map_err(|error| CliError::BadInput(error.to_string()))?;
    }
    let sent = with_online(global, progress, Create::Refused, async |online| {
        progress
            .wait(
                "the replicas to confirm the buddy request",
                timeout(global),
                async {
                    Ok(online
                        .node
                        .buddies()
                        .send_request(&code.to_string(), message, contacts.to_vec())
                        .await?)
                },
            )
            .await
    })
    .await?;
    let out = SentOut::from(&sent);
    emit(global.json, "sent_request", &out, || {
        format!(
            "buddy request {} sent to {}… and confirmed by the network",
            &out.id[..12],
            &out.to[..12]
        )
    });
    Ok(())
}

/// Finds the one pending request whose id starts with `prefix`.
fn resolve(global: &Global, prefix: &str) -> Result<[u8; 32], CliError> {
    let local = Local::open(global, Create::Refused)?;
    let matching: Vec<[u8; 32]> = local
        .book
        .pending_requests()?
        .into_iter()
        .map(|r| r.id)
        .filter(|id| hex::encode(id).starts_with(prefix))
        .collect();
    match matching.as_slice() {
        [id] => Ok(*id),
        [] => Err(CliError::BadInput(format!(
            "no pending request with id {prefix} (see `pigeonhole requests`)"
        ))),
        _ => Err(CliError::BadInput(format!(
            "{} pending requests start with {prefix}: give more digits",
            matching.len()
        ))),
    }
}

/// `accept ID` / `decline ID`.
pub async fn answer(
    global: &Global,
    progress: &Progress,
    prefix: &str,
    accept: bool,
) -> Result<(), CliError> {
    let id = resolve(global, prefix)?;
    let verb = if accept { "acceptance" } else { "decline" };
    let buddy = with_online(global, progress, Create::Refused, async |online| {
        let book = online.node.buddies();
        progress
            .wait(
                &format!("the replicas to confirm the {verb}"),
                timeout(global),
                async {
                    if accept {
                        Ok(Some(book.accept(&id).await?))
                    } else {
                        book.decline(&id).await?;
                        Ok(None)
                    }
                },
            )
            .await
    })
    .await?;
    let id = hex::encode(id);
    match buddy {
        Some(buddy) => {
            let out = BuddyOut::from(&buddy);
            emit(
                global.json,
                "accepted",
                &json!({ "request_id": id, "buddy": out }),
                || format!("accepted: {} is now your buddy", out.display_name),
            );
        }
        None => emit(
            global.json,
            "declined",
            &json!({ "request_id": id }),
            || format!("declined request {}", &id[..12]),
        ),
    }
    Ok(())
}

/// Finds the one unanswered sent request whose id starts with `prefix`.
fn resolve_sent(global: &Global, prefix: &str) -> Result<[u8; 32], CliError> {
    let local = Local::open(global, Create::Refused)?;
    let matching: Vec<[u8; 32]> = local
        .book
        .sent_requests()?
        .into_iter()
        .filter(|s| s.status == SentStatus::Pending)
        .map(|s| s.id)
        .filter(|id| hex::encode(id).starts_with(prefix))
        .collect();
    match matching.as_slice() {
        [id] => Ok(*id),
        [] => Err(CliError::BadInput(format!(
            "no unanswered sent request with id {prefix} (see `pigeonhole sent`)"
        ))),
        _ => Err(CliError::BadInput(format!(
            "{} unanswered sent requests start with {prefix}: give more digits",
            matching.len()
        ))),
    }
}

/// `withdraw ID`.
pub async fn withdraw(global: &Global, progress: &Progress, prefix: &str) -> Result<(), CliError> {
    let id = resolve_sent(global, prefix)?;
    with_online(global, progress, Create::Refused, async |online| {
        progress
            .wait(
                "the replicas to confirm the withdrawal",
                timeout(global),
                async { Ok(online.node.buddies().withdraw(&id).await?) },
            )
            .await
    })
    .await?;
    let id = hex::encode(id);
    emit(
        global.json,
        "withdrawn",
        &json!({ "request_id": id }),
        || format!("withdrew request {}", &id[..12]),
    );
    Ok(())
}

/// `sync`, and `requests --sync`.
pub async fn sync(global: &Global, progress: &Progress, then_list: bool) -> Result<(), CliError> {
    Local::open(global, Create::Refused)?;
    let (report, pending) = with_online(global, progress, Create::Refused, async |online| {
        let report = progress
            .wait("the inbox fetch", timeout(global), async {
                Ok(online.node.sync_now().await?)
            })
            .await?;
        Ok((report, online.node.buddies().pending_requests().await?))
    })
    .await?;
    if then_list {
        print_requests(global, &pending);
        return Ok(());
    }
    let out = SyncOut::from(&report);
    emit(global.json, "sync", &out, || {
        let mut text = format!(
            "{} new request(s), {} answer(s) to yours, {} withdrawn",
            out.requests_received, out.answers_received, out.withdrawn
        );
        let dropped: u32 = out.dropped.values().sum();
        if dropped > 0 {
            text.push_str(&format!(", {dropped} dropped {:?}", out.dropped));
        }
        text
    });
    Ok(())
}

/// `directory claim NAME`.
pub async fn claim(global: &Global, progress: &Progress, name: &str) -> Result<(), CliError> {
    pigeonhole::record::body::check_directory_name(name)
        .map_err(|error| CliError::BadInput(error.to_string()))?;
    {
        let local = Local::open(global, Create::Refused)?;
        let Some((display_name, _)) = local.store.profile()? else {
            return Err(pigeonhole::buddy::BuddyError::ProfileMissing.into());
        };
        local.book.set_profile(&display_name, Some(name))?;
    }
    let claim = with_online(global, progress, Create::Refused, async |online| {
        progress
            .wait(
                "the replicas to confirm the directory entry",
                timeout(global),
                async { Ok(online.node.buddies().publish_directory_entry().await?) },
            )
            .await
    })
    .await?;
    let out = ClaimOut::from(&claim);
    emit(global.json, "claim", &out, || {
        format!(
            "{name} now names your key (until Unix time {})",
            out.expires_at
        )
    });
    Ok(())
}

/// `directory lookup NAME`.
pub async fn lookup(global: &Global, progress: &Progress, name: &str) -> Result<(), CliError> {
    pigeonhole::record::body::check_directory_name(name)
        .map_err(|error| CliError::BadInput(error.to_string()))?;
    let claims = with_online(global, progress, Create::Allowed, async |online| {
        progress
            .wait("the directory look-up", timeout(global), async {
                Ok(online.node.buddies().lookup_directory(name).await?)
            })
            .await
    })
    .await?;
    let claims: Vec<ClaimOut> = claims.iter().map(ClaimOut::from).collect();
    emit(
        global.json,
        "claims",
        &json!({ "name": name, "claims": claims }),
        || {
            if claims.is_empty() {
                return format!("nobody claims {name}");
            }
            let mut text = claims
                .iter()
                .map(|c| format!("{}  {}", c.public_key, c.display_name))
                .collect::<Vec<_>>()
                .join("\n");
            if claims.len() > 1 {
                text.push_str("\n(several keys claim this name: ask the person which is theirs)");
            }
            text
        },
    );
    Ok(())
}

/// `add-peer ADDR`: connect, then save.
pub async fn add_peer(
    global: &Global,
    progress: &Progress,
    addr: &Multiaddr,
) -> Result<(), CliError> {
    let online = Online::start(global, Create::Allowed, None).await?;
    let connected = progress
        .wait(&format!("a connection to {addr}"), timeout(global), async {
            online.node.peer().add_peer(addr.clone()).await?;
            online
                .node
                .peer()
                .wait_for_status(
                    |s| s.routing_peers >= 1,
                    timeout(global) + Duration::from_secs(1),
                )
                .await;
            Ok(())
        })
        .await;
    let saved = match connected {
        Ok(()) => online.dir.save_peer(addr),
        Err(error) => Err(error),
    };
    online.stop().await;
    let saved = saved?;
    let text = addr.to_string();
    emit(
        global.json,
        "add_peer",
        &json!({ "addr": text, "newly_saved": saved }),
        || {
            if saved {
                format!("connected to {text} and saved it for later commands")
            } else {
                format!("connected to {text} (it was already saved)")
            }
        },
    );
    Ok(())
}
