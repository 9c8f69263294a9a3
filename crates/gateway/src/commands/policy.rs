//! Command policy beyond "allowed or not": where a result may be published (MQTT 5
//! response topics), per-point limits (select required, rate, set-point range), and a
//! rate limit for refusal warnings. Decisions only; time comes in as an argument.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use iec104::json::CommandRequest;

use crate::config::security::CommandLimits;

/// Correlation data longer than this is refused (the response topic is then not used).
pub const MAX_CORRELATION: usize = 256;

/// Where the result of a command goes, and why the requested response topic was not used.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultTopic {
    /// The topic.
    pub topic: String,
    /// Why the MQTT 5 response topic was refused (the result then says so).
    pub refused: Option<String>,
}

/// Decides the result topic: the MQTT 5 response topic only under `response_prefix` and
/// never one of the gateway's own topics, with correlation data of at most
/// [`MAX_CORRELATION`] octets; else `{command topic}/result`.
pub fn result_topic(
    command_topic: &str,
    response_topic: Option<&str>,
    correlation: Option<&[u8]>,
    response_prefix: &str,
    own: &OwnTopics<'_>,
) -> ResultTopic {
    let fallback = format!("{command_topic}/result");
    let Some(asked) = response_topic else {
        return ResultTopic {
            topic: fallback,
            refused: None,
        };
    };
    let refused = if correlation.is_some_and(|c| c.len() > MAX_CORRELATION) {
        Some(format!(
            "correlation data longer than {MAX_CORRELATION} octets: the response topic is not used"
        ))
    } else if asked.is_empty() || asked.contains(['+', '#']) || asked.len() > 512 {
        Some("the response topic is empty, too long or has wildcards".to_owned())
    } else if !asked.starts_with(response_prefix) || asked.len() == response_prefix.len() {
        Some(format!(
            "response topics are honoured only under {response_prefix:?}"
        ))
    } else if own.is_own(asked) {
        Some("the response topic is one of the gateway's own topics".to_owned())
    } else {
        None
    };
    match refused {
        None => ResultTopic {
            topic: asked.to_owned(),
            refused: None,
        },
        Some(r) => ResultTopic {
            topic: fallback,
            refused: Some(r),
        },
    }
}

/// The gateway's own topics: data, status, commands, presence, cluster, audit.
#[derive(Debug)]
pub struct OwnTopics<'a> {
    /// Topic prefix.
    pub prefix: &'a str,
    /// RTU names.
    pub rtus: &'a [String],
}

impl OwnTopics<'_> {
    /// Whether `topic` is (or is under) one of the gateway's own topics.
    pub fn is_own(&self, topic: &str) -> bool {
        let Some(rest) = topic
            .strip_prefix(self.prefix)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        let first = rest.split('/').next().unwrap_or_default();
        topic.ends_with("/command")
            || topic.ends_with("/status")
            || matches!(first, "_gateway" | "_cluster" | "_audit")
            || self.rtus.iter().any(|r| r == first)
    }
}

/// Checks a command against its point's limits (rate not included); the refusal reason.
pub fn check_limits(limits: &CommandLimits, request: &CommandRequest) -> Option<String> {
    if limits.select_required && !request.select {
        return Some("this point requires select-before-operate (\"select\": true)".to_owned());
    }
    if limits.min.is_none() && limits.max.is_none() {
        return None;
    }
    if !request.type_name.starts_with("C_SE_") {
        return None;
    }
    let Some(v) = request.value.as_f64() else {
        return None; // The element check reports a non-numeric value.
    };
    if let Some(lo) = limits.min.filter(|lo| v < *lo) {
        return Some(format!("value {v} is below the point's min {lo}"));
    }
    if let Some(hi) = limits.max.filter(|hi| v > *hi) {
        return Some(format!("value {v} is above the point's max {hi}"));
    }
    None
}

/// Sliding one-minute windows of accepted commands per point.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<(String, u16, u32), VecDeque<Instant>>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// Counts a command at `now` unless `per_minute` were already taken within the last
    /// minute (then false: refuse it).
    pub fn admit(&mut self, key: (&str, u16, u32), per_minute: u32, now: Instant) -> bool {
        let w = self
            .windows
            .entry((key.0.to_owned(), key.1, key.2))
            .or_default();
        while w.front().is_some_and(|t| now.duration_since(*t) >= MINUTE) {
            w.pop_front();
        }
        if w.len() >= per_minute as usize {
            return false;
        }
        w.push_back(now);
        true
    }
}

/// At most one warning per interval; counts what it held back.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    last: Option<Instant>,
    held: u64,
}

impl LogLimiter {
    /// One warning per `interval`.
    pub fn new(interval: Duration) -> LogLimiter {
        LogLimiter {
            interval,
            last: None,
            held: 0,
        }
    }

    /// Whether to log now, and how many were held back since the last one.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < self.interval)
        {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> OwnTopics<'static> {
        static RTUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        OwnTopics {
            prefix: "iec104",
            rtus: RTUS.get_or_init(|| vec!["north".to_owned()]),
        }
    }

    #[test]
    fn response_topics_only_under_the_prefix_and_never_our_own() {
        let p = "iec104/_response/";
        let t = |asked: &str, corr: usize| {
            result_topic(
                "iec104/north/1/100/command",
                Some(asked),
                Some(&vec![0u8; corr]),
                p,
                &own(),
            )
        };
        assert_eq!(t("iec104/_response/op1", 3).topic, "iec104/_response/op1");
        assert_eq!(t("iec104/_response/op1", 3).refused, None);
        for hijack in [
            "iec104/north/1/200",
            "iec104/north/status",
            "iec104/_gateway/gw1",
            "iec104/north/1/101/command",
            "iec104/_response/x/command",
            "iec104/_response/",
            "elsewhere/replies",
            "iec104/_response/#",
        ] {
            let r = t(hijack, 3);
            assert_eq!(r.topic, "iec104/north/1/100/command/result", "{hijack}");
            assert!(r.refused.is_some(), "{hijack}");
        }
        let r = t("iec104/_response/op1", MAX_CORRELATION + 1);
        assert!(r.refused.unwrap().contains("correlation"));
        let none = result_topic("a/command", None, None, p, &own());
        assert_eq!(
            (none.topic.as_str(), none.refused),
            ("a/command/result", None)
        );
    }

    fn req(json: &str) -> CommandRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn limits() {
        let l = CommandLimits {
            select_required: true,
            max_rate: None,
            min: Some(0.0),
            max: Some(10.0),
        };
        assert!(
            check_limits(&l, &req(r#"{"type":"C_SC_NA_1","value":true}"#))
                .unwrap()
                .contains("select")
        );
        assert_eq!(
            check_limits(&l, &req(r#"{"type":"C_SE_NC_1","value":5,"select":true}"#)),
            None
        );
        assert!(check_limits(
            &l,
            &req(r#"{"type":"C_SE_NC_1","value":10.5,"select":true}"#)
        )
        .unwrap()
        .contains("above"));
        assert!(
            check_limits(&l, &req(r#"{"type":"C_SE_NB_1","value":-1,"select":true}"#))
                .unwrap()
                .contains("below")
        );
    }

    #[test]
    fn rate_is_per_point_per_minute() {
        let mut r = RateLimiter::default();
        let t0 = Instant::now();
        assert!(r.admit(("a", 1, 1), 2, t0));
        assert!(r.admit(("a", 1, 1), 2, t0));
        assert!(!r.admit(("a", 1, 1), 2, t0 + Duration::from_secs(59)));
        assert!(r.admit(("a", 1, 2), 2, t0));
        assert!(r.admit(("a", 1, 1), 2, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn log_limiter_counts_what_it_holds_back() {
        let mut l = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(2)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(10)), Some(2));
    }
}
