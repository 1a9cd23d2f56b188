//! mDNS discovery with no manual address: two nodes in two network
//! namespaces joined by a veth pair (created and removed by this test; mDNS
//! ignores loopback, so loopback cannot be used). Each side runs the
//! `pigeonhole-peer` binary under `ip netns exec` and exits once its
//! routing table holds the other. Stated bound: discovery within 10 s
//! (it takes milliseconds: mDNS queries at start-up and the peer
//! already on the link answers).
//!
//! Needs root (CAP_NET_ADMIN) and iproute2. Where those are missing, set
//! `PIGEONHOLE_SKIP_NETNS=1` to skip it explicitly; otherwise it fails.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DISCOVERY_BOUND: Duration = Duration::from_secs(10);

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

/// Two namespaces and a veth pair, deleted on drop.
struct Link {
    a: String,
    b: String,
}

impl Link {
    fn create() -> Result<Self, String> {
        let tag = std::process::id() % 100_000;
        let link = Link {
            a: format!("ph{tag}a"),
            b: format!("ph{tag}b"),
        };
        ip(&["netns", "add", &link.a])?;
        ip(&["netns", "add", &link.b])?;
        let (va, vb) = (format!("v{tag}a"), format!("v{tag}b"));
        ip(&[
            "link", "add", &va, "netns", &link.a, "type", "veth", "peer", "name", &vb, "netns",
            &link.b,
        ])?;
        for (ns, dev, addr) in [
            (&link.a, &va, "10.211.0.1/24"),
            (&link.b, &vb, "10.211.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "multicast", "on", "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
        }
        Ok(link)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it (and its peer).
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

#[test]
fn two_nodes_on_one_link_discover_each_other_by_mdns() {
    if std::env::var_os("PIGEONHOLE_SKIP_NETNS").is_some() {
        eprintln!("PIGEONHOLE_SKIP_NETNS set: mDNS namespace test skipped");
        return;
    }
    let link = Link::create()
        .expect("creating namespaces needs root and iproute2 (or set PIGEONHOLE_SKIP_NETNS=1)");
    let peer = env!("CARGO_BIN_EXE_pigeonhole-peer");
    let started = Instant::now();
    let spawn = |ns: &str| {
        Command::new("ip")
            .args(["netns", "exec", ns, peer, "--listen", "/ip4/0.0.0.0/tcp/0"])
            .args([
                "--wait-peers",
                "1",
                "--hold",
                "--timeout-secs",
                &DISCOVERY_BOUND.as_secs().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("PIGEONHOLE_MDNS_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn pigeonhole-peer")
    };
    // B starts once A is up (a peer joining a link where another already
    // runs). Two nodes starting in the same millisecond can both miss the
    // other's first query; the periodic query (NodeConfig's
    // `mdns_query_interval`, 10 s by default) then catches them.
    let mut a = spawn(&link.a);
    let mut a_out = BufReader::new(a.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    // A is ready once its LAN address is bound (and so advertised).
    let ready = a_out
        .by_ref()
        .find(|l| l == "READY" || l.starts_with("TIMEOUT"));
    assert_eq!(ready.as_deref(), Some("READY"), "A did not start");
    let mut b = spawn(&link.b);
    let mut b_out = BufReader::new(b.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    // Each side prints DISCOVERED (or TIMEOUT and exits after the bound);
    // both stay up until both have reported, then their stdin is closed.
    fn report(lines: &mut impl Iterator<Item = String>) -> String {
        lines
            .find(|l| l.starts_with("DISCOVERED") || l.starts_with("TIMEOUT"))
            .unwrap_or_else(|| "EXITED".into())
    }
    let reports = [report(&mut a_out), report(&mut b_out)];
    let elapsed = started.elapsed();
    for child in [&mut a, &mut b] {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    for (side, report) in ["a", "b"].iter().zip(&reports) {
        eprintln!("side {side}: {report}");
        assert!(
            report.starts_with("DISCOVERED"),
            "side {side} did not discover its peer within {DISCOVERY_BOUND:?}: {report}"
        );
    }
    assert!(elapsed < DISCOVERY_BOUND + Duration::from_secs(5));
    drop(link);
}
