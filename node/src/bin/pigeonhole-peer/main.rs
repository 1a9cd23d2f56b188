//! `pigeonhole-peer`: one bare DHT peer as a process — the probe the node
//! crate's own multi-host tests start inside network namespaces
//! (`node/tests/discovery_netns.rs`). It is a test harness with a
//! line-oriented output, not the user-facing tool: people and scripts use
//! `pigeonhole serve` (the `cli/` crate), which the node crate cannot
//! depend on.
//!
//! ```text
//! pigeonhole-peer [--listen ADDR]... [--peer ADDR]... [--data-dir DIR] [--no-mdns]
//!                 [--clock SECS] [--wait-peers N [--hold] | --commands] [--timeout-secs S]
//! ```
//! It prints `PEER_ID`, one `LISTEN <addr>` per bound address (waiting up
//! to 2 s for a LAN address on a wildcard listener) and `READY`. With
//! `--wait-peers N` it then prints `DISCOVERED <n> <milliseconds since
//! start>` as soon as its routing table holds N peers and exits 0 (with
//! `--hold`, only once its stdin is closed, so that a test can keep both
//! sides up until both have reported), or exits 1 after the timeout;
//! with `--commands` it answers commands on stdin until stdin ends
//! (`commands.rs`: add peers, publish, read — so that a test can run each
//! node in its own process and measure it alone); with neither, it runs
//! until Ctrl-C. `--clock SECS` gives the node a manual clock reading SECS
//! (Unix seconds) that only the `ADVANCE` command moves: processes started
//! with the same SECS share a time, and standing by age is granted when
//! the test says, not when the machine is slow.

mod commands;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use pigeonhole::clock::ManualClock;
use pigeonhole_node::{Multiaddr, Node, NodeConfig};

fn usage() -> ExitCode {
    eprintln!(
        "usage: pigeonhole-peer [--listen ADDR]... [--peer ADDR]... [--data-dir DIR] [--no-mdns] \
         [--clock SECS] [--wait-peers N [--hold] | --commands] [--timeout-secs S]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let mut config = NodeConfig::default();
    let mut listen: Vec<Multiaddr> = Vec::new();
    let mut wait_peers = None;
    let mut hold = false;
    let mut commands = false;
    let mut manual_clock = None;
    let mut timeout = Duration::from_secs(30);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next();
        match arg.as_str() {
            "--listen" => match value().and_then(|v| v.parse().ok()) {
                Some(addr) => listen.push(addr),
                None => return usage(),
            },
            "--peer" => match value().and_then(|v| v.parse().ok()) {
                Some(addr) => config.bootstrap_peers.push(addr),
                None => return usage(),
            },
            "--data-dir" => match value() {
                Some(dir) => config.data_dir = Some(dir.into()),
                None => return usage(),
            },
            "--no-mdns" => config.mdns = false,
            "--hold" => hold = true,
            "--commands" => commands = true,
            "--clock" => match value().and_then(|v| v.parse().ok()) {
                Some(secs) => manual_clock = Some(Arc::new(ManualClock::new(secs))),
                None => return usage(),
            },
            "--wait-peers" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => wait_peers = Some(n),
                None => return usage(),
            },
            "--timeout-secs" => match value().and_then(|v| v.parse().ok()) {
                Some(s) => timeout = Duration::from_secs(s),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    if !listen.is_empty() {
        config.listen_addrs = listen;
    }
    if commands && wait_peers.is_some() {
        return usage();
    }
    // Only a wildcard listener has a LAN address worth waiting for.
    let wildcard = config.listen_addrs.iter().any(|addr| {
        addr.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified(),
            _ => false,
        })
    });
    if let Some(clock) = &manual_clock {
        config.clock = clock.clone();
    }
    let clock = config.clock.clone();
    let node = match Node::start(config).await {
        Ok(node) => node,
        Err(error) => {
            eprintln!("cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("PEER_ID {}", node.peer_id());
    // On a wildcard address, wait (briefly) for a LAN address to be bound:
    // that is the one to show, and the one mDNS advertises.
    let lan = |addr: &Multiaddr| {
        !wildcard
            || addr.iter().any(|p| match p {
                Protocol::Ip4(ip) => !ip.is_loopback() && !ip.is_unspecified(),
                Protocol::Ip6(ip) => !ip.is_loopback() && !ip.is_unspecified(),
                _ => false,
            })
    };
    for addr in node.wait_for_listen_addr(lan, Duration::from_secs(2)).await {
        println!("LISTEN {addr}");
    }
    println!("READY");
    if commands {
        commands::Session::new(node.clone(), clock, manual_clock)
            .serve_stdin()
            .await;
        node.stop().await;
        return ExitCode::SUCCESS;
    }
    let code = match wait_peers {
        Some(n) => {
            let status = node.wait_for_peers(n, timeout).await;
            if status.routing_peers >= n {
                println!(
                    "DISCOVERED {} {}",
                    status.routing_peers,
                    started.elapsed().as_millis()
                );
                if hold {
                    // Stay reachable until the caller closes our stdin.
                    let _ = tokio::task::spawn_blocking(|| {
                        std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())
                    })
                    .await;
                }
                ExitCode::SUCCESS
            } else {
                println!("TIMEOUT {}", status.routing_peers);
                ExitCode::FAILURE
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
    };
    node.stop().await;
    code
}
