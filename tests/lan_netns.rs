//! A real LAN in miniature: four network namespaces ("hosts") joined by a
//! bridge this test creates (in a fifth, hub namespace, so the machine's own
//! network is never touched), each running `pigeonhole` as separate
//! processes with their own data directories. It checks:
//! * discovery purely by mDNS multicast: no address is given to anyone
//!   on hosts a–c;
//! * the offline-recipient story across processes and hosts;
//! * a holder killed with SIGKILL and restarted still serves its records
//!   (the other holder is stopped first, so only the restarted one can);
//! * host d, whose multicast the hub drops both ways, finds nobody by
//!   itself and works through `add-peer`;
//! * everything created is removed at the end, also when a check fails
//!   (a drop guard, which runs on panic too).
//!
//! Needs root (network namespaces); skipped with a message otherwise.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Run, Serve, run_in};
use nix::sys::signal::Signal;

/// Namespaces, bridge and veths; all deleted on drop.
struct Lan {
    hub: String,
    hosts: Vec<String>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tc(args: &[&str]) {
    let out = Command::new("tc").args(args).output().expect("run tc");
    assert!(
        out.status.success(),
        "tc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    /// Four hosts 10.213.0.1–4 on one bridge; host 4's multicast dropped.
    fn create() -> Lan {
        let tag = std::process::id() % 100_000;
        let lan = Lan {
            hub: format!("ph{tag}hub"),
            hosts: (1..=4).map(|i| format!("ph{tag}h{i}")).collect(),
        };
        // From here on, a failing step still cleans up (Drop).
        ip(&["netns", "add", &lan.hub]);
        ip(&["-n", &lan.hub, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan.hub, "link", "set", "br0", "up"]);
        for (i, host) in lan.hosts.iter().enumerate() {
            let n = i + 1;
            ip(&["netns", "add", host]);
            let port = format!("port{n}");
            ip(&[
                "-n", &lan.hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", host,
            ]);
            ip(&["-n", &lan.hub, "link", "set", &port, "master", "br0", "up"]);
            ip(&[
                "-n",
                host,
                "addr",
                "add",
                &format!("10.213.0.{n}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", host, "link", "set", "eth0", "multicast", "on", "up"]);
            ip(&["-n", host, "link", "set", "lo", "up"]);
            ip(&["-n", host, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
        }
        // Host 4: multicast is dropped on its way out of host 4 and on its
        // way into it, and the bridge does not flood multicast to it.
        drop_multicast(&lan.hosts[3], "eth0");
        drop_multicast(&lan.hub, "port4");
        ip(&[
            "-n",
            &lan.hub,
            "link",
            "set",
            "port4",
            "type",
            "bridge_slave",
            "mcast_flood",
            "off",
        ]);
        lan
    }

    fn exec(&self, host: usize) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.hosts[host].clone(),
        ]
    }
}

fn tc_in(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    tc(&all);
}

/// Drops every IPv4 multicast packet leaving `dev`: an HTB root whose
/// multicast class ends in a queue of length 0 (qdiscs only, no tc action
/// modules, which containers often lack).
fn drop_multicast(ns: &str, dev: &str) {
    tc_in(
        ns,
        &[
            "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "20",
        ],
    );
    for (class, rate) in [("1:10", "1mbit"), ("1:20", "100mbit")] {
        tc_in(
            ns,
            &[
                "class", "add", "dev", dev, "parent", "1:", "classid", class, "htb", "rate", rate,
            ],
        );
    }
    tc_in(
        ns,
        &[
            "qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:", "pfifo", "limit", "0",
        ],
    );
    tc_in(
        ns,
        &[
            "filter",
            "add",
            "dev",
            dev,
            "parent",
            "1:",
            "protocol",
            "ip",
            "prio",
            "1",
            "u32",
            "match",
            "ip",
            "dst",
            "224.0.0.0/4",
            "flowid",
            "1:10",
        ],
    );
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it and their peers.
        for ns in self.hosts.iter().chain([&self.hub]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Whether the effective user is root (the `Uid:` line of
/// /proc/self/status: real, effective, saved, file system).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            line.split_whitespace().nth(2).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// Runs `pigeonhole` on host `host` as the user keeping `dir`.
fn on(lan: &Lan, host: usize, dir: &std::path::Path, args: &[&str]) -> Run {
    let prefix = lan.exec(host);
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let mut all = vec!["--data-dir", dir.to_str().unwrap(), "--timeout", "60"];
    all.extend_from_slice(args);
    run_in(&prefix, &all)
}

fn serve_on(lan: &Lan, host: usize, dir: &std::path::Path, listen: &str) -> Serve {
    let prefix = lan.exec(host);
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    Serve::start_in(
        &prefix,
        &["--data-dir", dir.to_str().unwrap(), "--listen", listen],
    )
}

#[test]
fn four_hosts_on_a_bridge_find_each_other_hold_records_and_survive_a_kill() {
    if !is_root() {
        eprintln!("lan_netns: SKIPPED — creating network namespaces needs root");
        return;
    }
    let lan = Lan::create();
    let root = tempfile::tempdir().unwrap();
    let (holder1, holder2) = (root.path().join("holder1"), root.path().join("holder2"));
    let (alice, bob) = (root.path().join("alice"), root.path().join("bob"));

    // Hosts 1 and 2: holders, found by mDNS only.
    let mut first = serve_on(&lan, 0, &holder1, "/ip4/0.0.0.0/tcp/4001");
    let mut second = serve_on(&lan, 1, &holder2, "/ip4/0.0.0.0/tcp/4001");
    first.wait_for_log("peers changed routing_peers=1", Duration::from_secs(60));
    second.wait_for_log("peers changed routing_peers=1", Duration::from_secs(60));

    // Bob (host 4) makes his identity offline and shows his code.
    on(&lan, 3, &bob, &["profile", "Bob"]).ok();
    let bob_code = on(&lan, 3, &bob, &["--json", "id"]).json()["contact_code"]
        .as_str()
        .unwrap()
        .to_string();

    // Alice (host 3) sends with no address given: mDNS finds the holders.
    on(&lan, 2, &alice, &["profile", "Alice"]).ok();
    let sent = on(&lan, 2, &alice, &["--json", "request", "send", &bob_code]).json();
    let request_id = sent["id"].as_str().unwrap().to_string();
    // Holder 1 holds it (read from its database while it runs).
    let held = on(&lan, 0, &holder1, &["--json", "status"]).json();
    assert!(held["records_held"].as_u64().unwrap() >= 1, "{held}");
    assert_eq!(held["serving"], true);

    // Holder 1 is killed hard, then restarted; holder 2 stops, so only
    // the restarted holder 1 can serve Alice's request from now on.
    first.signal_and_wait(Signal::SIGKILL, Duration::from_secs(10));
    let peer_id = first.peer_id.clone();
    drop(first);
    let restarted = serve_on(&lan, 0, &holder1, "/ip4/0.0.0.0/tcp/4001");
    assert_eq!(restarted.peer_id, peer_id);
    let (exit, _) = second.signal_and_wait(Signal::SIGTERM, Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0));

    // Host 4 hears no multicast: alone, it finds nobody.
    let alone = on(&lan, 3, &bob, &["--timeout", "5", "sync"]);
    assert_eq!(alone.code, Some(1), "{alone:#?}");
    assert!(alone.stderr.contains("waiting for a peer"), "{alone:#?}");
    // Through add-peer it reaches holder 1, and Bob's inbox is there.
    let holder_addr = format!("/ip4/10.213.0.1/tcp/4001/p2p/{peer_id}");
    on(&lan, 3, &bob, &["add-peer", &holder_addr]).ok();
    let listed = on(&lan, 3, &bob, &["--json", "requests", "--sync"]).json();
    assert_eq!(listed["requests"][0]["id"], request_id.as_str(), "{listed}");
    on(&lan, 3, &bob, &["accept", &request_id]).ok();

    // Alice, by mDNS again, learns that Bob accepted.
    let synced = on(&lan, 2, &alice, &["--json", "sync"]).json();
    assert_eq!(synced["answers_received"], 1, "{synced}");
    let buddies = on(&lan, 2, &alice, &["--json", "buddies"]).json();
    assert_eq!(buddies["buddies"][0]["display_name"], "Bob");

    drop(restarted);
    drop(lan);
}
