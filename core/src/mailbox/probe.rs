//! The probe scan: reading and placing records on a plain single-value DHT
//! that cannot list a mailbox (the seed's method, and the fallback of v2).
//!
//! A reader probes each bucket from seq 0 in windows of parallel gets and
//! stops after a run of `window` misses. The writer's search mirrors that
//! exactly: it takes the *first* free slot at or after its hint, scanning
//! window by window, never jumping over a free slot. Slots only ever go
//! from free to occupied until their bucket's day is over (records are not
//! overwritten, tombstones are final, expired records stay served as
//! occupancy markers), so every slot between a writer's previous record and
//! its new one is occupied and the reader reaches the new one — whatever
//! pattern a hostile sender filled in before.

use std::ops::RangeInclusive;

use futures::future::join_all;
use tracing::debug;

use super::publish::SlotClaim;
use super::{Dht, FetchStats, Fetched, ListCursor, Mailbox, MailboxError, cursor_of};
use crate::record::{DhtKey, ErrorKind, InstanceId, Kind, MailboxId, Record};

/// What one probe of a slot found.
pub(super) enum Probe {
    Empty,
    /// Taken by a record that is not shown (tombstone, or served expired).
    Occupied(Skipped),
    Live(Box<Record>),
    /// Served bytes that are not a valid record: not proof of occupancy.
    Invalid,
}

pub(super) enum Skipped {
    Tombstone(Box<Record>),
    Expired,
}

impl Probe {
    fn occupied(&self) -> bool {
        matches!(self, Probe::Live(_) | Probe::Occupied(_))
    }
}

impl<D: Dht> Mailbox<D> {
    pub(super) async fn probe(&self, key: DhtKey, now: u64) -> Result<Probe, MailboxError> {
        let Some(bytes) = self.dht.get(key).await? else {
            return Ok(Probe::Empty);
        };
        Ok(match self.validator.validate(&key, &bytes, now) {
            Ok(record) if record.header.kind == Kind::Tombstone => {
                Probe::Occupied(Skipped::Tombstone(Box::new(record)))
            }
            Ok(record) => Probe::Live(Box::new(record)),
            Err(error) if error.kind() == ErrorKind::Expired => Probe::Occupied(Skipped::Expired),
            Err(error) => {
                debug!(%error, "dropped an invalid value from the DHT");
                Probe::Invalid
            }
        })
    }

    /// Probes `[from, from + len)` of `bucket` in parallel.
    async fn probe_window(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        from: u32,
        len: u32,
        now: u64,
    ) -> Result<Vec<Probe>, MailboxError> {
        let probes = (from..from.saturating_add(len))
            .map(|seq| self.probe(DhtKey::for_slot(&mailbox, InstanceId { bucket, seq }), now));
        join_all(probes).await.into_iter().collect()
    }

    /// The first slot at or after `start` that is free and not being tried
    /// by another publish of this process, scanning windows of `window`
    /// parallel gets. Reserves it in the claimed set (the caller releases
    /// it). Returns the slot and the gets spent.
    pub(super) async fn claim_first_free(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        start: u32,
    ) -> Result<(SlotClaim<'_>, u64), MailboxError> {
        let max = self.config.max_seq;
        let window = self.config.window.max(1);
        let mut gets = 0u64;
        let mut from = start;
        while from <= max {
            let len = window.min((max - from).saturating_add(1));
            let now = self.clock.now();
            let probes = self.probe_window(mailbox, bucket, from, len, now).await?;
            gets += u64::from(len);
            for (seq, probe) in (from..).zip(&probes) {
                if !probe.occupied()
                    && let Some(claim) = self.try_claim((mailbox, bucket, seq))
                {
                    return Ok((claim, gets));
                }
            }
            from = from.saturating_add(len);
            if len == 0 || from == 0 {
                break;
            }
        }
        Err(MailboxError::BucketFull { bucket })
    }

    /// Probe-scans the buckets in `buckets` (skipping those before the
    /// cursor's), keeping what comes after `after`.
    pub(super) async fn scan_buckets(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        buckets: RangeInclusive<u32>,
        now: u64,
    ) -> Result<Fetched, MailboxError> {
        let first = after.map_or(*buckets.start(), |cursor| {
            cursor.instance.bucket.max(*buckets.start())
        });
        let scans = (first..=*buckets.end()).map(|bucket| self.scan_bucket(mailbox, bucket, now));
        let mut fetched = Fetched::default();
        for scan in join_all(scans).await {
            let Fetched {
                records,
                tombstones,
                stats,
                ..
            } = scan?;
            let keep = |record: &Record| after.is_none_or(|cursor| cursor_of(record) > cursor);
            fetched
                .records
                .extend(records.into_iter().filter(|record| keep(record)));
            fetched
                .tombstones
                .extend(tombstones.into_iter().filter(|record| keep(record)));
            let total = &mut fetched.stats;
            total.buckets += 1;
            total.gets += stats.gets;
            total.rounds = total.rounds.max(stats.rounds);
            total.rejected += stats.rejected;
            total.tombstones += stats.tombstones;
            total.expired += stats.expired;
        }
        Ok(fetched)
    }

    async fn scan_bucket(
        &self,
        mailbox: MailboxId,
        bucket: u32,
        now: u64,
    ) -> Result<Fetched, MailboxError> {
        let mut stats = FetchStats::default();
        let mut records = Vec::new();
        let mut tombstones = Vec::new();
        let stop_after = self.config.window.max(1);
        let (mut seq, mut window, mut misses) = (0u32, stop_after, 0u32);
        while seq <= self.config.max_seq {
            let len = window.min((self.config.max_seq - seq).saturating_add(1));
            let probes = self.probe_window(mailbox, bucket, seq, len, now).await?;
            stats.rounds += 1;
            stats.gets += u64::from(len);
            let mut all_hits = true;
            for probe in probes {
                match probe {
                    Probe::Live(record) => {
                        misses = 0;
                        records.push(*record);
                    }
                    Probe::Occupied(skipped) => {
                        misses = 0;
                        match skipped {
                            Skipped::Tombstone(record) => {
                                stats.tombstones += 1;
                                tombstones.push(*record);
                            }
                            Skipped::Expired => stats.expired += 1,
                        }
                    }
                    probe @ (Probe::Empty | Probe::Invalid) => {
                        if matches!(probe, Probe::Invalid) {
                            stats.rejected += 1;
                        }
                        misses += 1;
                        all_hits = false;
                    }
                }
            }
            if misses >= stop_after {
                break;
            }
            if all_hits {
                window = window.saturating_mul(2).min(self.config.max_window.max(1));
            }
            match seq.checked_add(len) {
                Some(next) if len > 0 => seq = next,
                _ => break,
            }
        }
        Ok(Fetched {
            records,
            tombstones,
            stats,
            ..Fetched::default()
        })
    }
}
