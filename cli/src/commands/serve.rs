//! `serve`: the always-on peer of the meetup laptop. It holds records for
//! phones that sleep, syncs its own user's inbox every 30 s, reports peers
//! and storage, and on Ctrl-C or SIGTERM stops the peer (closing the
//! database) and exits 0.

use std::time::Duration;

use pigeonhole_node::NodeStatus;
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use crate::args::Global;
use crate::datadir::Create;
use crate::error::CliError;
use crate::output::emit;
use crate::session::Online;

const SYNC_EVERY: Duration = Duration::from_secs(30);

/// Runs until a signal arrives.
pub async fn serve(global: &Global, stats_every: Duration) -> Result<(), CliError> {
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|error| CliError::Failed(format!("cannot watch SIGTERM: {error}")))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|error| CliError::Failed(format!("cannot watch SIGINT: {error}")))?;
    let online = Online::start(global, Create::Allowed, Some(SYNC_EVERY)).await?;
    let peer = online.node.peer().clone();
    let addrs: Vec<String> = peer.listen_addrs().iter().map(|a| a.to_string()).collect();
    let code = online.node.buddies().contact_code().await?.to_string();
    let ready = json!({
        "event": "ready",
        "peer_id": peer.peer_id().to_string(),
        "listen_addrs": addrs,
        "contact_code": code,
        "data_dir": online.dir.path().display().to_string(),
    });
    emit(global.json, "serve", &ready, || {
        let mut text = format!("peer id: {}\n", peer.peer_id());
        for addr in &addrs {
            text.push_str(&format!("listening on {addr}\n"));
        }
        text.push_str(&format!("contact code: {code}\nready (Ctrl-C to stop)"));
        text
    });
    info!(peer_id = %peer.peer_id(), ?addrs, "serving");

    let mut stats = tokio::time::interval(stats_every);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Changes are logged against the node as it started (no peers, nothing
    // stored): peers found while the node was still opening its database
    // are logged too, as the first change.
    let mut last = NodeStatus::default();
    let signal_name = loop {
        tokio::select! {
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            _ = stats.tick() => {
                let store = peer.store_stats().await.unwrap_or_default();
                info!(
                    routing_peers = last.routing_peers,
                    connected_peers = last.connected_peers,
                    records_held = store.records,
                    bytes_used = store.bytes,
                    records_displaced = store.displaced_records,
                    quota_refusals = store.refused_quota,
                    "status"
                );
            }
            status = peer.wait_for_status(|s| changed(s, &last), stats_every) => {
                if changed(&status, &last) {
                    if status.routing_peers != last.routing_peers {
                        info!(routing_peers = status.routing_peers,
                              connected_peers = status.connected_peers, "peers changed");
                    }
                    if status.records_accepted != last.records_accepted {
                        info!(records_accepted = status.records_accepted, "records stored for peers");
                    }
                    last = status;
                }
            }
        }
    };
    info!(signal = signal_name, "stopping");
    online.stop().await;
    emit(
        global.json,
        "serve",
        &json!({ "event": "stopped", "signal": signal_name }),
        || format!("stopped ({signal_name})"),
    );
    Ok(())
}

fn changed(now: &NodeStatus, last: &NodeStatus) -> bool {
    now.routing_peers != last.routing_peers || now.records_accepted != last.records_accepted
}
