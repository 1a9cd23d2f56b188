//! Start-up discovery on a LAN of network namespaces, mDNS only.
//!
//! Why: `Node::start` used to drop every swarm event while it waited for
//! its listen addresses. An mDNS answer arriving in that window was lost,
//! and libp2p's mDNS reports a peer only once, so about 1 start in 20 found
//! its first peer only at the next periodic query, 10 s later. This test
//! builds a small switched LAN (a bridge in its own namespace, one veth per
//! host namespace; created here and deleted on drop), keeps two peers up on
//! it, and starts a fresh node (new peer id each time) in a third host
//! namespace many times. Every start must find its first peer well before
//! the 10 s periodic query could have rescued it: a lost answer fails.
//! The timing distribution is printed (`--nocapture`), not asserted.
//!
//! Needs root (CAP_NET_ADMIN) and iproute2. Where those are missing, set
//! `PIGEONHOLE_SKIP_NETNS=1` to skip it explicitly; otherwise it fails.
//! `PIGEONHOLE_DISCOVERY_STARTS` overrides the number of starts (100).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Far below the 10 s periodic mDNS query: only an answer to the start-up
/// query (or to a query of a peer) meets it. Generous for a loaded machine.
const FIRST_PEER_BOUND: Duration = Duration::from_secs(5);
const DEFAULT_STARTS: usize = 100;
const HOSTS: usize = 3;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A bridge namespace and `HOSTS` host namespaces, deleted on drop.
struct Lan {
    switch: String,
    hosts: Vec<String>,
}

impl Lan {
    fn create() -> Result<Self, String> {
        let tag = std::process::id() % 100_000;
        let lan = Lan {
            switch: format!("pd{tag}sw"),
            hosts: (0..HOSTS).map(|i| format!("pd{tag}h{i}")).collect(),
        };
        ip(&["netns", "add", &lan.switch])?;
        ip(&["-n", &lan.switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            &lan.switch,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &lan.switch, "link", "set", "br0", "up"])?;
        for (i, host) in lan.hosts.iter().enumerate() {
            ip(&["netns", "add", host])?;
            let (inside, port) = (format!("vd{tag}h{i}"), format!("vd{tag}s{i}"));
            ip(&[
                "link",
                "add",
                &inside,
                "netns",
                host,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lan.switch,
            ])?;
            ip(&["-n", &lan.switch, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &lan.switch, "link", "set", &port, "up"])?;
            let addr = format!("10.212.0.{}/24", i + 1);
            ip(&["-n", host, "addr", "add", &addr, "dev", &inside])?;
            ip(&["-n", host, "link", "set", &inside, "multicast", "on", "up"])?;
            ip(&["-n", host, "link", "set", "lo", "up"])?;
            ip(&["-n", host, "route", "add", "224.0.0.0/4", "dev", &inside])?;
        }
        Ok(lan)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it.
        for host in &self.hosts {
            let _ = ip(&["netns", "del", host]);
        }
        let _ = ip(&["netns", "del", &self.switch]);
    }
}

/// A `pigeonhole-peer` in namespace `ns`; its stdout lines.
fn spawn_peer(ns: &str, extra: &[&str]) -> (Child, impl Iterator<Item = String> + use<>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_pigeonhole-peer")])
        .args(["--listen", "/ip4/0.0.0.0/tcp/0"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("PIGEONHOLE_MDNS_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn pigeonhole-peer");
    let lines = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok);
    (child, lines)
}

/// Kills the long-running holders however the test ends.
struct Holders(Vec<Child>);

impl Drop for Holders {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn every_start_finds_its_first_peer_by_mdns_without_waiting_for_the_periodic_query() {
    if std::env::var_os("PIGEONHOLE_SKIP_NETNS").is_some() {
        eprintln!("PIGEONHOLE_SKIP_NETNS set: discovery namespace test skipped");
        return;
    }
    let starts: usize = std::env::var("PIGEONHOLE_DISCOVERY_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_STARTS);
    let lan = Lan::create()
        .expect("creating namespaces needs root and iproute2 (or set PIGEONHOLE_SKIP_NETNS=1)");
    // Two holders up on the LAN (each waits for the other, so both are
    // settled before the starts begin).
    let mut holders = Holders(Vec::new());
    let mut holder_lines = Vec::new();
    for host in &lan.hosts[..2] {
        let (child, mut lines) = spawn_peer(host, &[]);
        let ready = lines
            .by_ref()
            .find(|l| l == "READY" || l.starts_with("TIMEOUT"));
        assert_eq!(
            ready.as_deref(),
            Some("READY"),
            "holder on {host} did not start"
        );
        holders.0.push(child);
        holder_lines.push(lines);
    }
    let starter = &lan.hosts[2];
    let bound = FIRST_PEER_BOUND.as_secs().to_string();
    let mut found_ms = Vec::with_capacity(starts);
    let mut failures = Vec::new();
    let began = Instant::now();
    for start in 0..starts {
        let (mut child, mut lines) =
            spawn_peer(starter, &["--wait-peers", "1", "--timeout-secs", &bound]);
        let report = lines
            .find(|l| l.starts_with("DISCOVERED") || l.starts_with("TIMEOUT"))
            .unwrap_or_else(|| "EXITED".into());
        drop(child.stdin.take());
        let _ = child.wait();
        // `DISCOVERED <peers> <ms since process start>`
        match report
            .strip_prefix("DISCOVERED ")
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            Some(ms) => found_ms.push(ms),
            None => failures.push(format!("start {start}: {report}")),
        }
    }
    let elapsed = began.elapsed();
    drop(holders);
    drop(lan);
    found_ms.sort_unstable();
    let pct =
        |p: usize| found_ms.get((found_ms.len() * p / 100).min(found_ms.len().saturating_sub(1)));
    eprintln!(
        "discovery: {} starts in {elapsed:?}; first peer after (ms since process start) \
         p50 {:?} p95 {:?} p99 {:?} max {:?}; {} not found within {FIRST_PEER_BOUND:?}",
        starts,
        pct(50),
        pct(95),
        pct(99),
        found_ms.last(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {starts} starts did not find a peer within {FIRST_PEER_BOUND:?}: {failures:?}",
        failures.len()
    );
    assert_eq!(found_ms.len(), starts);
}
