//! Validation of the `[[rtu]]` tables and their `[[rtu.point]]`s.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use iec104::link::LinkConfig;
use toml::Spanned;

use super::file::{Config, RtuConfig};
use super::settings::topic_level_ok;
use super::settings::{Point, PointMap, Rtu};
use super::validate::Checker;

/// The largest information object address (3 octets).
const MAX_IOA: i64 = 0xFF_FFFF;

/// Parses a time zone: `UTC`, `Z` or `+hh:mm`/`-hh:mm` → seconds east of UTC.
fn parse_tz(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, s.get(1..)?),
        Some(b'-') => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

impl Checker<'_> {
    /// Every `[[rtu]]`, names unique.
    pub(super) fn rtus(&mut self, config: &Config) -> Vec<Rtu> {
        let mut names = HashSet::new();
        let mut rtus = Vec::new();
        let mut tls_loaded = super::validate_tls::Loaded::default();
        for r in &config.rtu {
            let name = r.name.get_ref().clone();
            if !topic_level_ok(&name) || name.starts_with('_') {
                self.at(
                    r.name.span(),
                    format!("rtu name {name:?} must be one topic level without '/', '+', '#' and not start with '_'"),
                );
            } else if !names.insert(name.clone()) {
                self.at(r.name.span(), format!("duplicate rtu name {name:?}"));
            }
            let tls = self.rtu_tls(r, &name, config.tls.as_ref(), &mut tls_loaded);
            rtus.push(self.rtu(r, name, &config.gateway.spill_after, tls));
        }
        rtus
    }

    /// One `[[rtu]]`.
    fn rtu(
        &mut self,
        r: &RtuConfig,
        name: String,
        spill_after: &Spanned<f64>,
        tls: Option<iec104::tls::TlsConfig>,
    ) -> Rtu {
        let addresses = self.addresses(r, &name, tls.is_some());
        let cas = self.common_addresses(r, &name);
        let link = self.link(r, &name, spill_after);
        let interrogation_period = self
            .seconds(&r.interrogation_period, "interrogation_period", 0.0)
            .filter(|d| !d.is_zero());
        let counter_interrogation_period = self.seconds(
            &r.counter_interrogation_period,
            "counter_interrogation_period",
            1.0,
        );
        let clock_sync_period = self.seconds(&r.clock_sync_period, "clock_sync_period", 1.0);
        let tz_offset_secs = match &r.time_zone {
            None => 0,
            Some(tz) => parse_tz(tz.get_ref()).unwrap_or_else(|| {
                self.at(
                    tz.span(),
                    format!(
                        "time_zone = {:?}: expected \"UTC\" or an offset like \"+01:00\"",
                        tz.get_ref()
                    ),
                );
                0
            }),
        };
        let (points, names) = self.points(r, &name, &cas);
        Rtu {
            name,
            addresses,
            common_addresses: cas,
            link,
            interrogation_period,
            counter_interrogation_period,
            clock_sync_period,
            tz_offset_secs,
            points,
            names,
            tls,
        }
    }

    /// `address` or `addresses`, each `host:port` (with TLS, `host` alone means port 19998).
    fn addresses(&mut self, r: &RtuConfig, name: &str, tls: bool) -> Vec<String> {
        let addresses: Vec<(String, Range<usize>)> = match (&r.address, &r.addresses) {
            (Some(a), None) => vec![(a.get_ref().clone(), a.span())],
            (None, Some(list)) => {
                if list.get_ref().is_empty() {
                    self.at(
                        r.name.span(),
                        format!("rtu {name:?}: addresses must not be empty"),
                    );
                }
                list.get_ref()
                    .iter()
                    .map(|a| (a.clone(), list.span()))
                    .collect()
            }
            (Some(a), Some(_)) => {
                self.at(
                    a.span(),
                    format!("rtu {name:?}: give address or addresses, not both"),
                );
                Vec::new()
            }
            (None, None) => {
                self.at(
                    r.name.span(),
                    format!("rtu {name:?}: address or addresses missing"),
                );
                Vec::new()
            }
        };
        let addresses: Vec<(String, Range<usize>)> = if tls {
            addresses
                .into_iter()
                .map(|(a, span)| (super::validate_tls::with_tls_port(&a), span))
                .collect()
        } else {
            addresses
        };
        for (a, span) in &addresses {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                self.at(
                    span.clone(),
                    format!("rtu {name:?}: address {a:?} is not host:port"),
                );
            }
        }
        addresses.into_iter().map(|(a, _)| a).collect()
    }

    /// `common_address`: station addresses 1..=65534, no duplicates, at most 64.
    fn common_addresses(&mut self, r: &RtuConfig, name: &str) -> Vec<u16> {
        let all = &r.common_address.get_ref().0;
        let span = r.common_address.span();
        if all.is_empty() || all.len() > 64 {
            self.at(
                span.clone(),
                format!(
                    "rtu {name:?}: common_address list has {} entries: must have 1..=64",
                    all.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        let mut cas = Vec::new();
        for &ca in all.iter().take(64) {
            match u16::try_from(ca) {
                Ok(v) if (1..=65534).contains(&v) => {
                    if seen.insert(v) {
                        cas.push(v);
                    } else {
                        self.at(
                            span.clone(),
                            format!("rtu {name:?}: duplicate common_address {ca}"),
                        );
                    }
                }
                _ => self.at(
                    span.clone(),
                    format!(
                        "rtu {name:?}: common_address = {ca}: must be a station address 1..=65534"
                    ),
                ),
            }
        }
        cas
    }

    /// k, w, t0..t3, and `spill_after` below half of t1.
    fn link(&mut self, r: &RtuConfig, name: &str, spill_after: &Spanned<f64>) -> LinkConfig {
        let mut link = LinkConfig {
            auto_release: false,
            ..LinkConfig::default()
        };
        // Values that fit the link's types are checked by the link (its messages); the
        // others are named here in the same words.
        if let Some(k) = &r.k {
            match u16::try_from(*k.get_ref()) {
                Ok(v) => link.k = v,
                Err(_) => self.at(
                    k.span(),
                    format!(
                        "rtu {name:?}: link parameters: k = {} out of range 1..=32767",
                        k.get_ref()
                    ),
                ),
            }
        }
        if let Some(w) = &r.w {
            match u16::try_from(*w.get_ref()) {
                Ok(v) => link.w = v,
                Err(_) => self.at(
                    w.span(),
                    format!(
                        "rtu {name:?}: link parameters: w = {} out of range 1..=k (k = {})",
                        w.get_ref(),
                        link.k
                    ),
                ),
            }
        }
        for (v, key, slot) in [
            (&r.t0, "t0", &mut link.t0),
            (&r.t1, "t1", &mut link.t1),
            (&r.t2, "t2", &mut link.t2),
            (&r.t3, "t3", &mut link.t3),
        ] {
            if let Some(d) = self.seconds(v, key, 0.001) {
                *slot = d;
            }
        }
        // An I-frame waits up to spill_after (plus a disk commit) for its release: the RTU must
        // not time out on it meanwhile.
        let sa = *spill_after.get_ref();
        if sa * 2.0 >= link.t1.as_secs_f64() {
            self.at(
                spill_after.span(),
                format!(
                    "rtu {name:?}: spill_after ({sa} s) must stay below half of t1 ({} s)",
                    link.t1.as_secs_f64()
                ),
            );
        }
        if let Err(e) = link.validate() {
            let span = r.k.as_ref().map(|k| k.span()).unwrap_or(r.name.span());
            self.at(span, format!("rtu {name:?}: link parameters: {e}"));
        }
        link
    }

    /// `[[rtu.point]]`: points by address and by name.
    fn points(
        &mut self,
        r: &RtuConfig,
        name: &str,
        cas: &[u16],
    ) -> (PointMap, HashMap<String, (u16, u32)>) {
        let mut points = PointMap::new();
        let mut names = HashMap::new();
        for p in &r.point {
            let ca = match &p.ca {
                None => cas.first().copied().unwrap_or(0),
                Some(pca) => match u16::try_from(*pca.get_ref())
                    .ok()
                    .filter(|c| cas.contains(c))
                {
                    Some(c) => c,
                    None => {
                        self.at(
                            pca.span(),
                            format!(
                                "ca = {}: must be a common_address of rtu {name:?} ({cas:?})",
                                pca.get_ref()
                            ),
                        );
                        continue;
                    }
                },
            };
            let Some(ioa) = self.int(&p.ioa, "ioa", 0..=MAX_IOA, " (3 octets)") else {
                continue;
            };
            let ioa = ioa as u32;
            let point_name = p.name.as_ref().map(|n| {
                let s = n.get_ref().clone();
                if !topic_level_ok(&s) || s == "status" || s.parse::<u32>().is_ok() {
                    self.at(
                        n.span(),
                        format!("point name {s:?} must be one topic level without '/', '+', '#', not a number and not \"status\""),
                    );
                } else if names.insert(s.clone(), (ca, ioa)).is_some() {
                    self.at(n.span(), format!("duplicate point name {s:?} in rtu {name:?}"));
                }
                s
            });
            for (v, key) in [(&p.scale, "scale"), (&p.offset, "offset")] {
                if let Some(v) = v.as_ref().filter(|v| !v.get_ref().is_finite()) {
                    self.at(
                        v.span(),
                        format!("{key} = {}: must be a finite number", v.get_ref()),
                    );
                }
            }
            if let Some(d) = p
                .deadband
                .as_ref()
                .filter(|d| !(d.get_ref().is_finite() && *d.get_ref() >= 0.0))
            {
                self.at(
                    d.span(),
                    format!("deadband = {}: must be a finite number >= 0", d.get_ref()),
                );
            }
            let (limits, limit_problems) = super::security::point_limits(p);
            for (span, message) in limit_problems {
                self.at(span, message);
            }
            let command_type = self.command_type(p);
            let point = Point {
                command_type,
                limits,
                name: point_name,
                scale: p.scale.as_ref().map(|v| *v.get_ref()),
                offset: p.offset.as_ref().map(|v| *v.get_ref()),
                deadband: p.deadband.as_ref().map(|v| *v.get_ref()),
                commands: p.commands,
            };
            if points.insert((ca, ioa), point).is_some() {
                self.at(
                    p.ioa.span(),
                    format!("duplicate point ca {ca} ioa {ioa} in rtu {name:?}"),
                );
            }
        }
        (points, names)
    }
}

impl Checker<'_> {
    /// `command_type` of a point: a process command mnemonic (C_SC, C_DC, C_RC, C_SE, C_BO,
    /// `_NA_1` or `_TA_1`), only on a point with `commands = true`.
    fn command_type(&mut self, p: &super::file::PointConfig) -> Option<iec104::type_id::TypeId> {
        let given = p.command_type.as_ref()?;
        let name = given.get_ref();
        let Some(t) = iec104::type_id::TypeId::from_name(&name.to_ascii_uppercase())
            .filter(|t| t.is_command())
        else {
            self.at(given.span(), format!("command_type = {name:?}: expected one of C_SC_NA_1, C_DC_NA_1, C_RC_NA_1, C_SE_NA_1, C_SE_NB_1, C_SE_NC_1, C_BO_NA_1 or their _TA_1 forms"));
            return None;
        };
        if !p.commands {
            self.at(given.span(), format!("command_type = {name:?}: needs commands = true on the same point (commands are denied by default)"));
            return None;
        }
        Some(t)
    }
}
