//! Expiry that survives clock jumps.
//!
//! Why: expiry is judged with the wall clock (records carry a signed
//! absolute `expires_at`), and a phone's wall clock jumps — a wrong
//! network time, a user setting the date, a dead RTC battery. Deleting
//! every row with `expires_at <= now` the moment the clock says so would
//! let one forward jump destroy every replica a node holds and every
//! request its user has not answered yet, with nothing to bring them back
//! when the clock is corrected.
//!
//! The rule: a row the local clock shows expired is *not served* (every
//! read skips it, see [`crate::store::held`]), but it is *deleted* only
//! after the clock has shown it expired for a grace period of **elapsed**
//! time, measured with the monotonic clock by the periodic sweeps. Each
//! row carries `expired_ms` (schema step 7): `NULL` while the wall clock
//! shows it live; set to 0 by the first sweep that sees it expired; grown
//! by the monotonic time between two sweeps that both saw it expired; reset
//! to `NULL` by a sweep that sees it live again (the clock came back). A
//! row is deleted once `expired_ms` reaches the grace. Nothing is deleted
//! at open on the wall clock alone, and nothing is deleted by a read.
//!
//! Time while the app is not running does not count (the monotonic clock
//! restarts with the process, and the first sweep of a run adds nothing),
//! so a row expired while the app was closed lives on for one grace period
//! of running time — never served, only kept.

use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::store::{Store, StoreError, write_tx};

/// The default grace period: an hour of elapsed time with a clock showing
/// a row expired before it is deleted. Long enough for a user or the
/// network time to correct a wrong clock; short enough that storage is
/// given back within the hour.
pub const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(3600);

/// Monotonic time between sweeps: what a sweep adds to the rows it sees
/// expired again. One per sweeping loop (the node's sweep, the buddy sync).
#[derive(Debug, Default)]
pub struct SweepTimer {
    last: Option<Instant>,
}

impl SweepTimer {
    /// A timer that has not swept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The monotonic time since the previous call (zero on the first).
    pub fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last = Some(now);
        elapsed
    }
}

impl Store {
    /// One expiry sweep over the held records and the outbox: rows the
    /// clock shows expired age by `elapsed` (the monotonic time since the
    /// previous sweep), rows live again are reset, and rows expired for at
    /// least `grace` are deleted. Returns how many held records were
    /// deleted. See the module doc for the rule.
    pub fn sweep_expired(&self, elapsed: Duration, grace: Duration) -> Result<usize, StoreError> {
        self.sweep_tables(&["held_set", "outbox"], elapsed, grace)
            .map(|removed| removed[0])
    }

    /// The same sweep over the buddy layer's expiring rows (pending, seen
    /// and answered requests); how many were deleted in all. A forward
    /// jump therefore neither loses a request the user has not answered
    /// nor forgets an answer (which would bring its request back as new).
    pub fn sweep_buddy_tables(
        &self,
        elapsed: Duration,
        grace: Duration,
    ) -> Result<usize, StoreError> {
        let removed = self.sweep_tables(
            &["pending_requests", "seen_requests", "answered_requests"],
            elapsed,
            grace,
        )?;
        Ok(removed.iter().sum())
    }

    fn sweep_tables(
        &self,
        tables: &[&'static str],
        elapsed: Duration,
        grace: Duration,
    ) -> Result<Vec<usize>, StoreError> {
        let now = self.clock.now() as i64;
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let mut removed = Vec::with_capacity(tables.len());
        for table in tables {
            removed.push(age_table(&tx, table, now, elapsed, grace)?);
        }
        tx.commit()?;
        Ok(removed)
    }
}

/// Ages the expired rows of `table` by `elapsed`, resets the live ones and
/// deletes those expired for `grace`; how many were deleted.
fn age_table(
    tx: &Connection,
    table: &str,
    now: i64,
    elapsed: Duration,
    grace: Duration,
) -> Result<usize, rusqlite::Error> {
    let millis = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    let (elapsed, grace) = (millis(elapsed), millis(grace));
    tx.execute(
        &format!(
            "UPDATE {table} SET expired_ms = NULL WHERE expired_ms IS NOT NULL AND expires_at > ?1"
        ),
        params![now],
    )?;
    // Rows already seen expired age first; rows seen expired for the
    // first time start at zero (they have not been expired for `elapsed`).
    tx.execute(
        &format!(
            "UPDATE {table} SET expired_ms = min(expired_ms + ?2, ?3)
             WHERE expired_ms IS NOT NULL AND expires_at <= ?1"
        ),
        params![now, elapsed, grace],
    )?;
    tx.execute(
        &format!("UPDATE {table} SET expired_ms = 0 WHERE expired_ms IS NULL AND expires_at <= ?1"),
        params![now],
    )?;
    tx.execute(
        &format!("DELETE FROM {table} WHERE expired_ms >= ?1 AND expires_at <= ?2"),
        params![grace, now],
    )
}
