//! Nodes in their own OS processes: the `pigeonhole-peer` probe in command
//! mode (`node/src/bin/pigeonhole-peer/commands.rs`), one node per process,
//! so that a test can measure each node's memory alone
//! (`/proc/<pid>/status`) — nodes started in the test's process can only
//! be measured all together — while it drives the node's publishes and
//! reads over stdin and stdout. Every wait is bounded, and the process is
//! killed when its handle is dropped, however the test ends.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

/// How long a probe may take to start or to answer one command (a read
/// that tries several replicas on a loaded machine takes seconds).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);

/// A running `pigeonhole-peer --commands`.
pub struct PeerProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Its peer id.
    pub peer_id: PeerId,
    /// Its loopback listen address, ending in `/p2p/<peer id>`.
    pub addr: Multiaddr,
}

/// A process's memory, from `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss: u64,
    /// Peak resident set so far (`VmHWM`).
    pub peak: u64,
}

impl PeerProcess {
    /// Starts the probe `bin` (in the node crate's own tests,
    /// `env!("CARGO_BIN_EXE_pigeonhole-peer")`; other crates include this
    /// module too, and the variable exists only for the crate of the
    /// binary) listening on 127.0.0.1 (mDNS off) with its store in
    /// `data_dir` and a manual clock reading `clock` (Unix seconds; moved
    /// by [`PeerProcess::advance`]), and waits (bounded) until it is ready.
    pub fn start(bin: &str, data_dir: &Path, clock: u64) -> PeerProcess {
        let mut child = Command::new(bin)
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--commands",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--clock", &clock.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its log (RUST_LOG) goes where the test's goes.
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn pigeonhole-peer");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = PeerProcess {
            child,
            stdin,
            lines,
            peer_id: PeerId::random(),
            addr: Multiaddr::empty(),
        };
        let mut peer_id = None;
        let mut addr = None;
        // PEER_ID, a LISTEN line per address, READY: a handful of lines.
        for _ in 0..64 {
            let line = peer.next_line("READY");
            if let Some(id) = line.strip_prefix("PEER_ID ") {
                peer_id = Some(id.parse().expect("peer id"));
            } else if let Some(listen) = line.strip_prefix("LISTEN ") {
                addr.get_or_insert(listen.parse().expect("listen address"));
            } else if line == "READY" {
                peer.peer_id = peer_id.expect("PEER_ID before READY");
                peer.addr = addr.expect("LISTEN before READY");
                return peer;
            }
        }
        panic!(
            "pigeonhole-peer {}: no READY in its first 64 lines",
            peer.pid()
        );
    }

    /// The process id (whose `/proc/<pid>/status` [`PeerProcess::memory`]
    /// reads).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line and returns the words of its answer after
    /// `expected` (the answer's first word); panics on any other answer or
    /// when none comes within [`ANSWER_TIMEOUT`]. Blocks the calling
    /// thread, inside a multi-threaded tokio runtime too (the runtime's
    /// other tasks, e.g. sybil peers, keep running meanwhile).
    pub fn command(&mut self, line: &str, expected: &str) -> Vec<String> {
        let answer = tokio::task::block_in_place(|| {
            writeln!(self.stdin, "{line}")
                .unwrap_or_else(|e| panic!("{}: cannot send {line:?}: {e}", self.peer_id));
            self.next_line(line)
        });
        let mut words = answer.split_whitespace().map(str::to_string);
        assert_eq!(
            words.next().as_deref(),
            Some(expected),
            "{}: {line:?} answered {answer:?}",
            self.peer_id
        );
        words.collect()
    }

    /// Moves the probe's manual clock forward by `secs`.
    pub fn advance(&mut self, secs: u64) {
        self.command(&format!("ADVANCE {secs}"), "OK");
    }

    /// The probe's memory now, if `/proc` is readable (Linux).
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        };
        Some(Memory {
            rss: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }

    /// The next line on the probe's stdout, waited for (bounded) on behalf
    /// of `waiting_for`.
    fn next_line(&mut self, waiting_for: &str) -> String {
        match self.lines.recv_timeout(ANSWER_TIMEOUT) {
            Ok(line) => line,
            Err(error) => {
                let exit = self.child.try_wait();
                panic!(
                    "pigeonhole-peer {}: no answer to {waiting_for:?} within {ANSWER_TIMEOUT:?} \
                     ({error}; exit status {exit:?})",
                    self.pid()
                )
            }
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
