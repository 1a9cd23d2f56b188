//! Running the real `pigeonhole` binary from tests: one-shot invocations
//! with their output parsed, and `serve` processes that are waited for
//! (never slept for) and killed when dropped.
//!
//! Every wait is bounded and generous: these tests share a small, busy
//! machine.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a `serve` may take to say it is ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// `--timeout` given to networked one-shot commands.
pub const NET_TIMEOUT: &str = "60";

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pigeonhole")
}

/// A one-shot invocation's outcome.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and parses stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:#?}"))
    }

    /// Asserts exit 0.
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self
    }
}

/// Runs `pigeonhole ARGS` with `prefix` before it (e.g. `ip netns exec NS`).
pub fn run_in(prefix: &[&str], args: &[&str]) -> Run {
    let mut command = match prefix.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(bin());
            command
        }
        None => Command::new(bin()),
    };
    let output = command
        .args(args)
        .env_remove("PIGEONHOLE_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run pigeonhole");
    Run::from(output)
}

/// Runs `pigeonhole ARGS` on this host.
pub fn run(args: &[&str]) -> Run {
    run_in(&[], args)
}

/// A user on loopback: its data directory and the peers it is given.
pub struct User {
    /// The data directory.
    pub dir: PathBuf,
    /// `--peer` addresses.
    pub peers: Vec<String>,
}

impl User {
    /// A user keeping its data in `dir`, talking to `peers` over loopback.
    pub fn new(dir: &Path, peers: &[String]) -> User {
        User {
            dir: dir.to_path_buf(),
            peers: peers.to_vec(),
        }
    }

    /// Runs a command as this user (loopback only, no mDNS).
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<String> = vec![
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--no-mdns".into(),
            "--listen".into(),
            "/ip4/127.0.0.1/tcp/0".into(),
            "--timeout".into(),
            NET_TIMEOUT.into(),
        ];
        for peer in &self.peers {
            all.push("--peer".into());
            all.push(peer.clone());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&refs)
    }
}

/// A running `pigeonhole serve`, killed when dropped.
pub struct Serve {
    /// The process.
    pub child: Child,
    /// Its peer id.
    pub peer_id: String,
    /// Its listen addresses, each ending in /p2p/<peer id>.
    pub addrs: Vec<String>,
    /// Lines it logs on stderr, as they come.
    pub log: mpsc::Receiver<String>,
}

impl Serve {
    /// Starts `pigeonhole [prefix] --json serve ARGS` and waits for its
    /// `ready` line.
    pub fn start_in(prefix: &[&str], args: &[&str]) -> Serve {
        let mut command = match prefix.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(bin());
                command
            }
            None => Command::new(bin()),
        };
        let mut child = command
            .args(["--json"])
            .args(args)
            .arg("serve")
            .env_remove("PIGEONHOLE_DATA_DIR")
            .env("RUST_LOG", "info,pigeonhole_node=debug,libp2p_mdns=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pigeonhole serve");
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let (log_tx, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = log_tx.send(line);
            }
        });
        let ready = match lines.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let log: Vec<String> = log.try_iter().collect();
                panic!("serve did not get ready: {log:#?}");
            }
        };
        let ready: serde_json::Value = serde_json::from_str(&ready).expect("ready is JSON");
        assert_eq!(ready["event"], "ready", "{ready}");
        assert_eq!(ready["schema"], "pigeonhole.serve/1", "{ready}");
        Serve {
            child,
            peer_id: ready["peer_id"].as_str().expect("peer id").to_string(),
            addrs: ready["listen_addrs"]
                .as_array()
                .expect("addresses")
                .iter()
                .map(|a| a.as_str().expect("address").to_string())
                .collect(),
            log,
        }
    }

    /// Starts `serve` on loopback with `dir` and `peers`.
    pub fn loopback(dir: &Path, peers: &[String]) -> Serve {
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            dir.display().to_string(),
            "--no-mdns".into(),
            "--listen".into(),
            "/ip4/127.0.0.1/tcp/0".into(),
        ];
        for peer in peers {
            args.push("--peer".into());
            args.push(peer.clone());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Serve::start_in(&[], &refs)
    }

    /// Sends `signal` and waits (bounded) for the exit; returns the exit
    /// status and how long it took.
    pub fn signal_and_wait(
        &mut self,
        signal: nix::sys::signal::Signal,
        bound: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let sent = Instant::now();
        nix::sys::signal::kill(pid, signal).expect("signal serve");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for serve") {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < bound,
                "serve still running {bound:?} after {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "no log line with {needle:?} within {bound:?}; the last lines were:\n{}",
                    seen[seen.len().saturating_sub(30)..].join("\n")
                ),
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The names and sizes of every file under `dir` (what "nothing was
/// written" is checked against).
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let content = std::fs::read(&path).unwrap_or_default();
            files.push((entry.file_name().to_string_lossy().into_owned(), content));
        }
    }
    files.sort();
    files
}
