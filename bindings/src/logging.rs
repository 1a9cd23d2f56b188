//! Logging: `tracing` events to where each platform's developers look,
//! plus an optional app callback.
//!
//! [`init_logging`] installs one global subscriber: oslog on Apple targets
//! (`tracing-oslog`, visible in Console.app and Xcode), logcat on Android
//! (`paranoid-android`, tag `pigeonhole`), standard error elsewhere (a JVM
//! test, a Python script). The app picks the level and may pass a
//! [`LogSink`] to receive each line too (for its own log files or crash
//! reports). Calling it again never panics: it changes the level and the
//! sink. If the app installed another `tracing` subscriber first, that one
//! stays and `init_logging` returns `false`.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry, reload};

/// How much is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures only.
    Error,
    /// Failures and what may become one.
    Warn,
    /// Also lifecycle: started, stopped, requests sent and answered.
    Info,
    /// Also each sync, record and peer: for debugging.
    Debug,
    /// Everything, libp2p included: very verbose.
    Trace,
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Off => LevelFilter::OFF,
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }

    fn of(level: &Level) -> Self {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        }
    }
}

/// Receives log lines; implemented by the app. Called on one library
/// thread of its own, in order; lines that pile up past 1024 waiting are
/// dropped, so return quickly.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One log line: its level, where it comes from (a Rust module path)
    /// and the message with its fields.
    fn log(&self, level: LogLevel, target: String, message: String);
}

type FilterHandle = reload::Handle<LevelFilter, Registry>;

/// The installed subscriber's level handle; `None` when another
/// subscriber was installed first.
static INSTALLED: OnceLock<Option<FilterHandle>> = OnceLock::new();
static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);

/// Installs the bindings' logging at `level`, sending each line to `sink`
/// too when given. Safe to call again: later calls change the level and
/// the sink. Returns whether the bindings' subscriber is the one in use
/// (`false` when the app installed its own `tracing` subscriber first).
#[uniffi::export(default(sink = None))]
pub fn init_logging(level: LogLevel, sink: Option<Arc<dyn LogSink>>) -> bool {
    *SINK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = sink;
    let installed = INSTALLED.get_or_init(|| {
        let (filter, handle) = reload::Layer::new(level.filter());
        let subscriber = Registry::default()
            .with(filter)
            .with(platform_layer())
            .with(SinkLayer);
        tracing::subscriber::set_global_default(subscriber)
            .ok()
            .map(|()| handle)
    });
    match installed {
        Some(handle) => handle.modify(|filter| *filter = level.filter()).is_ok(),
        None => false,
    }
}

#[cfg(target_vendor = "apple")]
fn platform_layer<S>() -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    Box::new(tracing_oslog::OsLogger::new("org.pigeonhole", "default"))
}

#[cfg(target_os = "android")]
fn platform_layer<S>() -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    Box::new(paranoid_android::layer("pigeonhole"))
}

#[cfg(not(any(target_vendor = "apple", target_os = "android")))]
fn platform_layer<S>() -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    Box::new(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false),
    )
}

/// Lines waiting for the sink thread; past this many, new lines are dropped.
const SINK_QUEUE: usize = 1024;

/// A line for the app's sink, with the sink installed when it was logged.
type SinkLine = (Arc<dyn LogSink>, LogLevel, String, String);

static SINK_QUEUE_TX: OnceLock<Option<SyncSender<SinkLine>>> = OnceLock::new();

thread_local! {
    /// Set on the sink thread, so that a sink that makes the library log
    /// does not feed itself.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// The queue to the thread that calls the app's sink, started on first use.
///
/// Why a thread of its own: lines are logged on every library thread,
/// runtime workers included. Calling foreign code there directly would let
/// a slow sink stall the network, and in Python it would need the GIL on a
/// worker while the GIL holder may be waiting for that worker (dropping a
/// node waits for its stop): a deadlock.
fn sink_queue() -> Option<&'static SyncSender<SinkLine>> {
    SINK_QUEUE_TX
        .get_or_init(|| {
            let (tx, rx) = sync_channel::<SinkLine>(SINK_QUEUE);
            std::thread::Builder::new()
                .name("pigeonhole-log".into())
                .spawn(move || deliver(rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

fn deliver(lines: Receiver<SinkLine>) {
    IN_SINK.with(|flag| flag.set(true));
    for (sink, level, target, message) in lines {
        let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.log(level, target, message)
        }));
        if delivered.is_err() {
            eprintln!("pigeonhole: the app's log sink failed");
        }
    }
}

/// Hands each event to the app's sink, if any, through the sink thread.
struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let sink = SINK
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let Some(sink) = sink else { return };
        if IN_SINK.with(Cell::get) {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let metadata = event.metadata();
        if let Some(queue) = sink_queue() {
            // A full queue drops the line rather than stall the caller.
            let _ = queue.try_send((
                sink,
                LogLevel::of(metadata.level()),
                metadata.target().to_owned(),
                line.finish(),
            ));
        }
    }
}

/// The message of an event followed by its fields as `name=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Line {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Collect {
        fn log(&self, level: LogLevel, target: String, message: String) {
            self.0.lock().expect("lock").push((level, target, message));
            // A sink that logs must not recurse.
            tracing::info!("from inside the sink");
        }
    }

    #[test]
    fn installs_once_changes_level_and_sink_on_later_calls() {
        let sink = Arc::new(Collect::default());
        assert!(init_logging(LogLevel::Info, Some(sink.clone())));
        tracing::info!(answer = 42, "hello");
        tracing::debug!("hidden at info");
        assert!(
            init_logging(LogLevel::Debug, Some(sink.clone())),
            "twice is fine"
        );
        tracing::debug!("shown at debug");
        // Other tests of this binary log too: keep this module's lines.
        let ours = || -> Vec<(LogLevel, String, String)> {
            let lines = sink.0.lock().expect("lock");
            let ours = lines
                .iter()
                .filter(|(_, target, _)| target == module_path!());
            ours.cloned().collect()
        };
        for _ in 0..2000 {
            if ours().len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(init_logging(LogLevel::Off, None));
        tracing::error!("no sink any more");
        let lines = ours();
        let messages: Vec<&str> = lines.iter().map(|(_, _, m)| m.as_str()).collect();
        assert_eq!(messages, ["hello answer=42", "shown at debug"]);
        assert_eq!(lines[0].0, LogLevel::Info);
        assert_eq!(lines[1].0, LogLevel::Debug);
    }
}
