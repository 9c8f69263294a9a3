//! Spontaneous and periodic events of a station: the schedule of the shared and own rates,
//! time tags that are distinct per point, bursts, and quality changes of `quality` faults.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use iec104::asdu::{InformationObject, Quality};
use iec104::cot::Cause;
use iec104::time::Cp56Time2a;

use super::packer::Packer;
use super::Station;
use crate::faults::FaultSpec;
use crate::points::time_tag;

/// The CP56Time2a of a time tag in milliseconds since the epoch (the station clock `now`
/// when the milliseconds are out of chrono's range).
pub(super) fn cp56_at(ms: i64, now: &DateTime<Utc>) -> Cp56Time2a {
    let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(*now);
    Cp56Time2a::from_datetime(&at)
}

impl Station {
    /// The points due for an update after `dt` seconds: picks of the shared rate (a point
    /// may be picked more than once) and the points with a rate of their own.
    fn due_updates(&mut self, dt: f64) -> Vec<usize> {
        let mut updates: Vec<usize> = Vec::new();
        if !self.table.shared.is_empty() {
            self.shared_credit += self.rate * dt;
            let n = self.shared_credit.floor();
            self.shared_credit -= n;
            let n = n as usize;
            self.stats.scheduled.fetch_add(n as u64, Ordering::Relaxed);
            for _ in 0..n {
                let pick = self.rng.below(self.table.shared.len());
                if let Some(&index) = self.table.shared.get(pick) {
                    updates.push(index);
                }
            }
        }
        for &index in &self.table.own_rate {
            if let Some(p) = self.table.points.get_mut(index) {
                p.credit += p.rate.unwrap_or(0.0) * dt;
                while p.credit >= 1.0 {
                    p.credit -= 1.0;
                    updates.push(index);
                }
            }
        }
        updates
    }

    /// Spontaneous (shared and own rates) and periodic events due at `t`, `dt` after the last.
    /// A point updated several times in the tick has its updates spread over the interval
    /// since the last tick; a point never reports twice with one time tag (see [`time_tag`]).
    pub(super) async fn generate(&mut self, t: f64, dt: f64) {
        let updates = self.due_updates(dt);
        let mut spont = Packer::new(Cause::Spontaneous, self.ca);
        let mut cyclic = Packer::new(Cause::Periodic, self.ca);
        let now = self.now_utc();
        let now_ms = now.timestamp_millis();
        let interval_ms = (dt * 1000.0).round() as i64;
        let mut count = 0u64;
        let mut changes: HashMap<usize, (usize, usize)> = HashMap::new();
        for &index in &updates {
            changes.entry(index).or_default().0 += 1;
        }
        for index in updates {
            let (k, i) = changes.get_mut(&index).map_or((1, 0), |(k, seen)| {
                *seen += 1;
                (*k, *seen - 1)
            });
            let wanted_ms = time_tag::nth_change(now_ms, interval_ms, k, i);
            if let Some(object) = self.update(index, t, wanted_ms, now_ms, &now) {
                spont.push(object);
                count += 1;
            }
        }
        for i in 0..self.table.periodic.len() {
            let Some(&index) = self.table.periodic.get(i) else {
                continue;
            };
            let Some(p) = self.table.points.get_mut(index) else {
                continue;
            };
            if t < p.next_periodic {
                continue;
            }
            // A periodic report waits a tick when the point reported in this millisecond.
            let Some(tag) = time_tag::next_tag(p.last_tag_ms, now_ms, now_ms) else {
                continue;
            };
            p.next_periodic = (p.next_periodic + p.period.unwrap_or(1.0)).max(t);
            p.last_tag_ms = Some(tag);
            if let Some(e) = p.element(&cp56_at(tag, &now)) {
                cyclic.push(InformationObject::new(p.ioa, e));
                count += 1;
            }
        }
        self.stats.objects.fetch_add(count, Ordering::Relaxed);
        for asdu in spont.finish().into_iter().chain(cyclic.finish()) {
            self.emit(asdu, now).await;
        }
    }

    /// Moves point `index` by its behaviour; the object to report, with time tag `wanted_ms`
    /// or the point's next free millisecond (at most [`time_tag::MAX_AHEAD_MS`] after
    /// `latest_ms`: beyond, the change is not reported by itself but with the next one), when
    /// the change passes the deadband. The value moves either way, so a seeded run gives the
    /// same values whatever the timing of its ticks.
    fn update(
        &mut self,
        index: usize,
        t: f64,
        wanted_ms: i64,
        latest_ms: i64,
        now: &DateTime<Utc>,
    ) -> Option<InformationObject<'static>> {
        let p = self.table.points.get(index)?;
        let limit = latest_ms.saturating_add(time_tag::MAX_AHEAD_MS);
        let tag = time_tag::next_tag(p.last_tag_ms, wanted_ms, limit);
        self.update_at(index, t, tag, now)
    }

    /// Moves point `index` by its behaviour and reports it with time tag `tag_ms` (none: not
    /// reported) when the change passes the deadband.
    fn update_at(
        &mut self,
        index: usize,
        t: f64,
        tag_ms: Option<i64>,
        now: &DateTime<Utc>,
    ) -> Option<InformationObject<'static>> {
        let p = self.table.points.get_mut(index)?;
        let kind = p.kind();
        p.value = p.behaviour.next(p.value, t, kind, &mut p.rng);
        let tag_ms = tag_ms?;
        if p.deadband > 0.0 && (p.value - p.last_sent).abs() < p.deadband {
            return None;
        }
        p.last_sent = p.value;
        p.last_tag_ms = Some(p.last_tag_ms.map_or(tag_ms, |last| last.max(tag_ms)));
        let e = p.element(&cp56_at(tag_ms, now))?;
        Some(InformationObject::new(p.ioa, e))
    }

    /// `n` spontaneous events at once, all with the station's current time (the avalanche a
    /// scenario asks for: a point may appear several times with one time tag), from the points
    /// that change by themselves (or any monitored point when none does).
    pub(super) async fn burst(&mut self, t: f64, n: u32) {
        let pool: Vec<usize> = if self.table.shared.is_empty() && self.table.own_rate.is_empty() {
            (0..self.table.points.len())
                .filter(|&i| self.table.points.get(i).is_some_and(|p| p.is_monitored()))
                .collect()
        } else {
            self.table
                .shared
                .iter()
                .chain(&self.table.own_rate)
                .copied()
                .collect()
        };
        if pool.is_empty() {
            return;
        }
        let now = self.now_utc();
        let now_ms = now.timestamp_millis();
        let time = Cp56Time2a::from_datetime(&now);
        let mut spont = Packer::new(Cause::Spontaneous, self.ca);
        let mut count = 0;
        for _ in 0..n {
            let pick = self.rng.below(pool.len());
            if let Some(&index) = pool.get(pick) {
                let object = match self.table.points.get(index) {
                    Some(p) if !p.behaviour.is_active() => {
                        // A constant point in a burst: report its value as it is.
                        p.element(&time).map(|e| InformationObject::new(p.ioa, e))
                    }
                    _ => self.update_at(index, t, Some(now_ms), &now),
                };
                if let Some(object) = object {
                    spont.push(object);
                    count += 1;
                }
            }
        }
        self.stats.objects.fetch_add(count, Ordering::Relaxed);
        for asdu in spont.finish() {
            self.emit(asdu, now).await;
        }
    }

    /// Reports the points `indexes` as they are now (a change of quality), spontaneously,
    /// each with a time tag of its own.
    async fn report_points(&mut self, indexes: &[usize]) {
        let now = self.now_utc();
        let now_ms = now.timestamp_millis();
        let mut spont = Packer::new(Cause::Spontaneous, self.ca);
        let mut count = 0;
        for &index in indexes {
            let Some(p) = self.table.points.get_mut(index) else {
                continue;
            };
            let Some(tag) = time_tag::next_tag(p.last_tag_ms, now_ms, i64::MAX) else {
                continue;
            };
            p.last_tag_ms = Some(tag);
            p.last_sent = p.value;
            if let Some(e) = p.element(&cp56_at(tag, &now)) {
                spont.push(InformationObject::new(p.ioa, e));
                count += 1;
            }
        }
        self.stats.objects.fetch_add(count, Ordering::Relaxed);
        for asdu in spont.finish() {
            self.emit(asdu, now).await;
        }
    }

    /// A `quality` fault begins: its points carry its flags (default IV) and report the
    /// change.
    pub(super) async fn begin_quality_fault(&mut self, t: f64, spec: &FaultSpec) {
        let flags = spec.quality_flags().unwrap_or(Quality::IV);
        let indexes: Vec<usize> = match &spec.points {
            Some(ioas) => ioas.iter().filter_map(|&a| self.table.index(a)).collect(),
            None => (0..self.table.points.len())
                .filter(|&i| self.table.points.get(i).is_some_and(|p| p.is_monitored()))
                .collect(),
        };
        for &i in &indexes {
            if let Some(p) = self.table.points.get_mut(i) {
                p.fault_quality = p.fault_quality.union(flags);
            }
        }
        let until = spec.duration.map_or(f64::INFINITY, |d| t + d);
        self.quality_faults.push((until, indexes.clone()));
        self.report_points(&indexes).await;
    }

    /// Ends the `quality` faults due at `t`: their points report good quality again (or the
    /// scenario's flags).
    pub(super) async fn end_quality_faults(&mut self, t: f64) {
        let (over, active): (Vec<_>, Vec<_>) = std::mem::take(&mut self.quality_faults)
            .into_iter()
            .partition(|(until, _)| t >= *until);
        self.quality_faults = active;
        for (_, indexes) in over {
            for &i in &indexes {
                if let Some(p) = self.table.points.get_mut(i) {
                    p.fault_quality = Quality::GOOD;
                }
            }
            tracing::info!(station = %self.name, points = indexes.len(), "fault over: quality good again");
            self.report_points(&indexes).await;
        }
    }
}
