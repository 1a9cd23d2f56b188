//! A connection-and-request flooder for the load-limit tests and bench: a
//! crowd of raw rust-libp2p peers (fresh identities, no validation, no
//! SDK) that open many connections to one node and fire junk puts of the
//! mailbox protocol at it, all in parallel, on their own thread and
//! runtime. Loopback only; it stops by itself (every request answered or
//! failed, or its deadline). `PH_FLOOD_ERRORS=1` prints why each failed
//! put failed (for diagnosing a run).

#![allow(dead_code)]

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, Event, Message, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder, noise, tcp, yamux};
use pigeonhole::identity::Identity;
use pigeonhole::record::{Header, InstanceId, Kind, MailboxId};
use pigeonhole_node::mailbox_protocol::{MAILBOX_PROTOCOL, MailboxResponse, decode_response};

/// One junk put.
#[derive(Clone, Debug)]
pub enum Junk {
    /// A validly signed record nobody asked for: costs the target a
    /// signature check and a SQLite transaction.
    Signed(Arc<Vec<u8>>),
    /// `len` bytes of zeros posing as a record: costs the target memory
    /// (written from one static buffer, so the flooder holds none).
    Big(usize),
}

/// Writes junk puts and reads real mailbox answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct JunkCodec;

static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

impl request_response::Codec for JunkCodec {
    type Protocol = StreamProtocol;
    type Request = Junk;
    type Response = MailboxResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Junk>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("the flooder serves nothing"))
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<MailboxResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut buf = Vec::new();
        io.take(64 * 1024).read_to_end(&mut buf).await?;
        decode_response(&buf)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        junk: Junk,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[0x01]).await?;
        match junk {
            Junk::Signed(bytes) => io.write_all(&bytes).await?,
            Junk::Big(mut len) => {
                while len > 0 {
                    let n = len.min(ZEROS.len());
                    io.write_all(&ZEROS[..n]).await?;
                    len -= n;
                }
            }
        }
        Ok(())
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: MailboxResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::Error::other("the flooder serves nothing"))
    }
}

/// What the flood saw, counted live.
#[derive(Debug, Default)]
pub struct FloodCounts {
    /// Puts sent.
    pub sent: AtomicUsize,
    /// Answered stored / already held.
    pub stored: AtomicUsize,
    /// Answered refused (invalid, quota…).
    pub refused: AtomicUsize,
    /// Answered busy.
    pub busy: AtomicUsize,
    /// Failed (stream refused or reset, connection denied, timeout).
    pub failed: AtomicUsize,
    /// Connections established (as the flooder saw them; a connection the
    /// target denies may show up here and close at once).
    pub established: AtomicUsize,
    /// Connections open now.
    pub open: AtomicUsize,
    /// Most connections open at once.
    pub peak_open: AtomicUsize,
    /// Set when every flooder has finished.
    pub done: AtomicBool,
}

impl FloodCounts {
    /// The final tallies, in one fixed order (sent, stored, refused, busy,
    /// failed, established): what a flood run in another process reports.
    pub fn tallies(&self) -> [&AtomicUsize; 6] {
        [
            &self.sent,
            &self.stored,
            &self.refused,
            &self.busy,
            &self.failed,
            &self.established,
        ]
    }

    /// Puts answered or failed so far.
    pub fn settled(&self) -> usize {
        self.stored.load(Ordering::Relaxed)
            + self.refused.load(Ordering::Relaxed)
            + self.busy.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }
}

/// The shape of a flood.
#[derive(Clone, Debug)]
pub struct FloodPlan {
    /// Fresh identities.
    pub identities: usize,
    /// Connections each identity opens to the target.
    pub connections_each: usize,
    /// The puts, dealt round-robin to the identities.
    pub puts: Vec<Junk>,
    /// Identities start one after another over this time (all at once
    /// would mostly meet the target's limit on handshakes in progress).
    pub dial_spread: Duration,
    /// Puts each identity keeps in flight (0: all at once).
    pub window: usize,
    /// When the flooders give up on what is still unanswered.
    pub deadline: Duration,
    /// How long each flooder keeps its connections after its last answer.
    pub hold: Duration,
}

impl FloodPlan {
    /// The connection flood of issue 11, shared by `tests/load_limits.rs`
    /// and `benches/conn_flood.rs`: 250 fresh identities open 500
    /// connections over 3 s and fire 10,000 puts at once (8,000 validly
    /// signed, 2,000 of 256 KiB), created at `now`.
    pub fn connection_flood(now: u64) -> Self {
        let mut puts = signed_junk(8_000, now, 200);
        for i in 0..2_000 {
            puts.insert(i * 5, Junk::Big(256 * 1024));
        }
        FloodPlan {
            identities: 250,
            connections_each: 2,
            puts,
            dial_spread: Duration::from_secs(3),
            window: 0,
            deadline: Duration::from_secs(90),
            hold: Duration::ZERO,
        }
    }
}

/// `n` validly signed junk records from 16 throwaway keys into `n`
/// random-looking mailboxes, created at `now`, expiring a day later.
pub fn signed_junk(n: usize, now: u64, body: usize) -> Vec<Junk> {
    let keys: Vec<Identity> = (0..16u8)
        .map(|i| Identity::from_secret_bytes([0xF0 ^ i; 32]))
        .collect();
    (0..n)
        .map(|i| {
            let header = Header {
                kind: Kind::BuddyRequest,
                mailbox: MailboxId::derive(b"junk", &(i as u64).to_le_bytes()),
                instance: InstanceId {
                    bucket: InstanceId::bucket_of(now + 86_400),
                    seq: 0,
                },
                sender: keys[i % keys.len()].public_key(),
                created_at: now,
                expires_at: now + 86_400,
            };
            let mut blob = vec![pigeonhole::record::body::SEALED_SCHEME_V1];
            blob.resize(body.max(pigeonhole::record::body::MIN_SEALED_BYTES), 0xA5);
            Junk::Signed(Arc::new(header.sign(&keys[i % keys.len()], &blob)))
        })
        .collect()
}

/// Starts the flood against `target` at `addr` on its own thread; returns
/// the live counts and the thread (which ends by itself).
pub fn start_flood(
    target: PeerId,
    addr: Multiaddr,
    plan: FloodPlan,
) -> (Arc<FloodCounts>, std::thread::JoinHandle<()>) {
    let counts = Arc::new(FloodCounts::default());
    let shared = counts.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("flood runtime");
        runtime.block_on(async move {
            let mut shares: Vec<Vec<Junk>> = vec![Vec::new(); plan.identities.max(1)];
            for (i, junk) in plan.puts.into_iter().enumerate() {
                shares[i % plan.identities.max(1)].push(junk);
            }
            let deadline = tokio::time::Instant::now() + plan.deadline;
            let count = shares.len() as u32;
            let tasks: Vec<_> = shares
                .into_iter()
                .enumerate()
                .map(|(i, share)| {
                    let delay = plan.dial_spread * i as u32 / count;
                    let aim = Aim {
                        target,
                        addr: addr.clone(),
                        connections: plan.connections_each,
                        window: plan.window,
                        hold: plan.hold,
                    };
                    tokio::spawn(flooder(delay, aim, share, deadline, shared.clone()))
                })
                .collect();
            for task in tasks {
                let _ = task.await;
            }
            shared.done.store(true, Ordering::SeqCst);
        });
    });
    (counts, thread)
}

/// Where and how one flooder aims.
struct Aim {
    target: PeerId,
    addr: Multiaddr,
    connections: usize,
    window: usize,
    hold: Duration,
}

/// One flooding identity.
async fn flooder(
    delay: Duration,
    aim: Aim,
    puts: Vec<Junk>,
    deadline: tokio::time::Instant,
    counts: Arc<FloodCounts>,
) {
    let Aim {
        target,
        addr,
        connections,
        window,
        hold,
    } = aim;
    tokio::time::sleep(delay).await;
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::<JunkCodec>::new(
                [(MAILBOX_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(4096),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let addr: Multiaddr = addr
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    swarm.add_peer_address(target, addr.clone());
    for _ in 0..connections {
        let dial = DialOpts::peer_id(target)
            .addresses(vec![addr.clone()])
            .condition(PeerCondition::Always)
            .build();
        let _ = swarm.dial(dial);
    }
    // Wait for the connections (or their failures), then fire everything.
    let mut settled = 0;
    let mut open = 0usize;
    while settled < connections {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            break;
        };
        match event {
            SwarmEvent::ConnectionEstablished { .. } => {
                settled += 1;
                open += 1;
                note_open(&counts, true);
            }
            SwarmEvent::OutgoingConnectionError { .. } => settled += 1,
            SwarmEvent::ConnectionClosed { .. } => {
                open = open.saturating_sub(1);
                note_open(&counts, false);
            }
            _ => {}
        }
    }
    let mut waiting = std::collections::HashSet::new();
    let window = if window == 0 { usize::MAX } else { window };
    let mut queue = puts.into_iter();
    loop {
        while waiting.len() < window {
            let Some(junk) = queue.next() else { break };
            waiting.insert(swarm.behaviour_mut().send_request(&target, junk));
            counts.sent.fetch_add(1, Ordering::Relaxed);
        }
        if waiting.is_empty() {
            break;
        }
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            counts.failed.fetch_add(waiting.len(), Ordering::Relaxed);
            let unsent = queue.len();
            counts.failed.fetch_add(unsent, Ordering::Relaxed);
            counts.sent.fetch_add(unsent, Ordering::Relaxed);
            break;
        };
        match event {
            SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) if waiting.remove(&request_id) => {
                let counter = match response {
                    MailboxResponse::Busy => &counts.busy,
                    MailboxResponse::Put(
                        pigeonhole_node::mailbox_protocol::PutAnswer::Refused { .. },
                    ) => &counts.refused,
                    _ => &counts.stored,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            SwarmEvent::Behaviour(Event::OutboundFailure {
                request_id, error, ..
            }) if waiting.remove(&request_id) => {
                if std::env::var("PH_FLOOD_ERRORS").is_ok() {
                    eprintln!("flood error: {error}");
                }
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
            SwarmEvent::ConnectionEstablished { .. } => {
                open += 1;
                note_open(&counts, true);
            }
            SwarmEvent::ConnectionClosed { .. } => {
                open = open.saturating_sub(1);
                note_open(&counts, false);
            }
            _ => {}
        }
    }
    let until = tokio::time::Instant::now() + hold;
    while let Ok(event) = tokio::time::timeout_at(until, swarm.select_next_some()).await {
        if let SwarmEvent::ConnectionClosed { .. } = event {
            open = open.saturating_sub(1);
            note_open(&counts, false);
        }
    }
    for _ in 0..open {
        note_open(&counts, false);
    }
}

fn note_open(counts: &FloodCounts, opened: bool) {
    if opened {
        counts.established.fetch_add(1, Ordering::Relaxed);
        let now = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak_open.fetch_max(now, Ordering::Relaxed);
    } else {
        counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// This process's resident set now and at its peak, in KiB (Linux).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
