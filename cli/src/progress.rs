//! Waiting, visibly and with a bound: a spinner on a terminal, plain lines
//! otherwise (scripts, CI, `--json`), and a timeout whose message names
//! what was being waited for.

use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::CliError;

/// How progress is shown.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    spinner: bool,
    quiet: bool,
}

impl Progress {
    /// A spinner when stderr is a terminal, plain lines on stderr
    /// otherwise; nothing at all with `quiet` (JSON output stays clean of
    /// progress on stdout either way, since progress goes to stderr).
    pub fn new(quiet: bool) -> Self {
        Self {
            spinner: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Awaits `future` for at most `timeout`, showing `what` meanwhile.
    /// On timeout, fails with "timed out after N s waiting for WHAT".
    pub async fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        future: impl Future<Output = Result<T, CliError>>,
    ) -> Result<T, CliError> {
        let started = Instant::now();
        let bar = self.start(what);
        let outcome = tokio::time::timeout(timeout, future).await;
        let elapsed = started.elapsed();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match outcome {
            Ok(Ok(value)) => {
                if !self.quiet {
                    eprintln!("done: {what} ({} ms)", elapsed.as_millis());
                }
                Ok(value)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(CliError::Failed(format!(
                "timed out after {} s waiting for {what} (raise --timeout, or check peers \
                 with `pigeonhole peers`)",
                timeout.as_secs()
            ))),
        }
    }

    fn start(&self, what: &str) -> Option<ProgressBar> {
        if self.quiet {
            return None;
        }
        if !self.spinner {
            eprintln!("waiting for {what}…");
            return None;
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(format!("waiting for {what}"));
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_names_what_it_waited_for() {
        let progress = Progress::new(true);
        let error = progress
            .wait(
                "the replicas to confirm the buddy request",
                Duration::from_millis(10),
                std::future::pending::<Result<(), CliError>>(),
            )
            .await
            .unwrap_err();
        assert!(matches!(error, CliError::Failed(ref m)
            if m.contains("waiting for the replicas to confirm the buddy request")));
    }

    #[tokio::test]
    async fn a_result_in_time_passes_through() {
        let progress = Progress::new(true);
        let value = progress
            .wait("nothing", Duration::from_secs(60), async { Ok(7) })
            .await
            .unwrap();
        assert_eq!(value, 7);
    }
}
