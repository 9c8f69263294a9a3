//! `[mqtt] url` or `urls`, `broker_order`, `connect_timeout`, `return_to_first` and
//! `return_check`: the brokers a node may use, resolved once.

use std::time::Duration;

use toml::Spanned;

use super::file::MqttConfig;
use super::settings::{Broker, BrokerList, BrokerOrder, DEFAULT_CONNECT_TIMEOUT};
use super::validate::Checker;

/// The default `return_check` in seconds.
const DEFAULT_RETURN_CHECK: f64 = 30.0;
/// Most brokers in `urls`.
const MAX_URLS: usize = 64;

/// `mqtt://host[:port]` or `mqtts://host[:port]` (`key` names the value in messages).
pub(super) fn parse_url(key: &str, url: &str) -> Result<Broker, String> {
    if super::security::url_has_userinfo(url) {
        // The URL is printed by `check` and logged: no credentials in it (and not echoed).
        return Err(format!("{key} must not carry user:password@ (the value is not shown): use username and password_file"));
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("{key} = {url:?}: expected mqtt://host:port or mqtts://host:port")
    })?;
    let tls = match scheme {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        other => {
            return Err(format!(
                "{key} = {url:?}: scheme {other:?}: expected mqtt or mqtts"
            ))
        }
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{key} = {url:?}: port {p:?} is not a number 1..=65535"))?,
        ),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(format!("{key} = {url:?}: host and port 1..=65535 needed"));
    }
    Ok(Broker {
        host: host.to_owned(),
        port,
        tls,
    })
}

impl Checker<'_> {
    /// `url`/`urls` (exactly one of them) and the rules of moving between brokers.
    pub(super) fn brokers(&mut self, m: &MqttConfig) -> Option<(Broker, BrokerList)> {
        let connect_timeout = m.connect_timeout.as_ref().map_or(
            Some(Duration::from_secs_f64(DEFAULT_CONNECT_TIMEOUT)),
            |t| self.secs(t, "connect_timeout", 0.1, 3600.0),
        );
        let order = m
            .broker_order
            .as_ref()
            .map_or(Some(BrokerOrder::Listed), |o| self.broker_order(o));
        let return_check = self.return_check(m);
        let listed = self.urls(m)?;
        let mut listed = listed.into_iter();
        let first = listed.next()?;
        Some((
            first,
            BrokerList {
                others: listed.collect(),
                order: order?,
                connect_timeout: connect_timeout?,
                return_check: return_check?,
            },
        ))
    }

    /// `json_data = false` only with `[sparkplug]`: else no output would carry the values.
    pub(super) fn json_data_needs_sparkplug(&mut self, config: &super::Config) {
        if let Some(d) = &config.mqtt.json_data {
            if !*d.get_ref() && config.sparkplug.is_none() {
                self.at(
                    d.span(),
                    "json_data = false: needs a [sparkplug] section (else no output carries the RTUs' values); true (default) or false with [sparkplug]",
                );
            }
        }
    }

    /// `broker_order`: `"listed"` or `"shuffled"`.
    fn broker_order(&mut self, o: &Spanned<String>) -> Option<BrokerOrder> {
        match o.get_ref().as_str() {
            "listed" => Some(BrokerOrder::Listed),
            "shuffled" => Some(BrokerOrder::Shuffled),
            other => {
                self.at(
                    o.span(),
                    format!("broker_order = {other:?}: must be \"listed\" or \"shuffled\""),
                );
                None
            }
        }
    }

    /// `return_to_first` and `return_check` (the latter only with the former).
    fn return_check(&mut self, m: &MqttConfig) -> Option<Option<Duration>> {
        let on = m.return_to_first.as_ref().is_some_and(|r| *r.get_ref());
        match (&m.return_check, on) {
            (None, true) => Some(Some(Duration::from_secs_f64(DEFAULT_RETURN_CHECK))),
            (None, false) => Some(None),
            (Some(c), true) => self.secs(c, "return_check", 1.0, 86400.0).map(Some),
            (Some(c), false) => {
                self.at(
                    c.span(),
                    format!(
                        "return_check = {}: needs return_to_first = true",
                        c.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// The brokers as listed: `url`, or every entry of `urls` (none twice).
    fn urls(&mut self, m: &MqttConfig) -> Option<Vec<Broker>> {
        let urls = match (&m.url, &m.urls) {
            (Some(url), Some(urls)) => {
                self.at(
                    urls.span(),
                    format!(
                        "url = {:?} and urls: give url (one broker) or urls (several), not both",
                        url.get_ref()
                    ),
                );
                return None;
            }
            (None, None) => {
                self.at(
                    0..0,
                    "[mqtt] needs url (one broker) or urls (several brokers)",
                );
                return None;
            }
            (Some(url), None) => {
                return match parse_url("url", url.get_ref()) {
                    Ok(b) => Some(vec![b]),
                    Err(e) => {
                        self.at(url.span(), e);
                        None
                    }
                }
            }
            (None, Some(urls)) => urls,
        };
        let n = urls.get_ref().len();
        if n == 0 || n > MAX_URLS {
            self.at(
                urls.span(),
                format!("urls has {n} entries: must name 1..={MAX_URLS} brokers"),
            );
            return None;
        }
        let mut listed: Vec<Broker> = Vec::new();
        let mut ok = true;
        for url in urls.get_ref() {
            match parse_url("urls entry", url.get_ref()) {
                Ok(b) if listed.contains(&b) => {
                    ok = false;
                    self.at(
                        url.span(),
                        format!(
                            "urls entry = {:?}: must not name a broker twice",
                            url.get_ref()
                        ),
                    );
                }
                Ok(b) => listed.push(b),
                Err(e) => {
                    ok = false;
                    self.at(url.span(), e);
                }
            }
        }
        ok.then_some(listed)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, ConfigError, Settings};

    const RTU: &str = "[[rtu]]\nname = \"a\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n";

    fn load(mqtt: &str) -> Result<Settings, String> {
        let text = format!("[mqtt]\n{mqtt}\n[gateway]\nnode = \"n\"\n{RTU}");
        parse(&text, "t.toml").map_err(|e| match e {
            ConfigError::Invalid { problems, .. } => problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        })
    }

    #[test]
    fn urls_are_tried_in_the_listed_order_by_default() {
        let s = load(r#"urls = ["mqtt://b1:1883", "mqtts://b2:8883", "mqtt://b3"]"#).unwrap();
        assert_eq!((s.broker.host.as_str(), s.broker.tls), ("b1", false));
        let b = &s.mqtt.brokers;
        let rest: Vec<_> = b
            .others
            .iter()
            .map(|b| (b.host.as_str(), b.port, b.tls))
            .collect();
        assert_eq!(rest, [("b2", 8883, true), ("b3", 1883, false)]);
        assert_eq!(b.connect_timeout.as_secs(), 5);
        assert_eq!(b.return_check, None);
        assert!(b.any_tls());
    }

    #[test]
    fn one_url_is_a_list_of_one() {
        let s = load("url = \"mqtt://a:1\"").unwrap();
        assert_eq!(s.broker.host, "a");
        assert!(s.mqtt.brokers.others.is_empty());
    }

    #[test]
    fn url_and_urls_together_are_refused_naming_both() {
        let e = load("url = \"mqtt://a:1\"\nurls = [\"mqtt://b:1\"]").unwrap_err();
        assert_eq!(
            e,
            "3:8: url = \"mqtt://a:1\" and urls: give url (one broker) or urls (several), not both"
        );
    }

    #[test]
    fn neither_url_nor_urls_is_refused() {
        let e = load("qos = 1").unwrap_err();
        assert_eq!(
            e,
            "0:0: [mqtt] needs url (one broker) or urls (several brokers)"
        );
    }

    #[test]
    fn bad_entries_name_the_key_value_and_what_is_allowed() {
        let e = load(r#"urls = ["mqtt://a:1", "ftp://b:2", "mqtt://a:1"]"#).unwrap_err();
        assert_eq!(
            e,
            "2:23: urls entry = \"ftp://b:2\": scheme \"ftp\": expected mqtt or mqtts\n\
             2:36: urls entry = \"mqtt://a:1\": must not name a broker twice"
        );
        let e = load("urls = []").unwrap_err();
        assert_eq!(e, "2:8: urls has 0 entries: must name 1..=64 brokers");
        let e = load("url = \"mqtt://a:1\"\nbroker_order = \"random\"").unwrap_err();
        assert_eq!(
            e,
            "3:16: broker_order = \"random\": must be \"listed\" or \"shuffled\""
        );
        let e = load("url = \"mqtt://a:1\"\nconnect_timeout = 0.0").unwrap_err();
        assert_eq!(e, "3:19: connect_timeout = 0: must be 0.1..=3600 seconds");
        let e = load("url = \"mqtt://a:1\"\nreturn_check = 5.0").unwrap_err();
        assert_eq!(e, "3:16: return_check = 5: needs return_to_first = true");
        let e =
            load("url = \"mqtt://a:1\"\nreturn_to_first = true\nreturn_check = 0.5").unwrap_err();
        assert_eq!(e, "4:16: return_check = 0.5: must be 1..=86400 seconds");
        let e = load("url = \"mqtt://a:1\"\nreturn_to_first = \"yes\"").unwrap_err();
        assert!(e.starts_with("3:19: return_to_first = \"yes\""), "{e}");
    }

    #[test]
    fn credentials_in_an_entry_are_refused_without_echoing_them() {
        let e = load(r#"urls = ["mqtt://u:secret@a:1"]"#).unwrap_err();
        assert!(
            e.contains("urls entry must not carry user:password@"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn return_to_first_checks_every_30_s_unless_told() {
        let s = load("urls = [\"mqtt://a:1\", \"mqtt://b:1\"]\nreturn_to_first = true").unwrap();
        assert_eq!(s.mqtt.brokers.return_check.map(|d| d.as_secs()), Some(30));
        let s = load("url = \"mqtt://a:1\"\nreturn_to_first = true\nreturn_check = 2.5").unwrap();
        assert_eq!(
            s.mqtt.brokers.return_check.map(|d| d.as_millis()),
            Some(2500)
        );
    }

    #[test]
    fn shuffled_order_is_fixed_per_node_and_spreads_nodes() {
        let s = load(
            "urls = [\"mqtt://b1:1\", \"mqtt://b2:1\", \"mqtt://b3:1\"]\nbroker_order = \"shuffled\"",
        )
        .unwrap();
        let b = &s.mqtt.brokers;
        let first = |node: &str| b.in_order(&s.broker, node)[0].host.clone();
        assert_eq!(first("n1"), first("n1"));
        let firsts: std::collections::BTreeSet<String> =
            (0..12).map(|i| first(&format!("node{i}"))).collect();
        assert_eq!(firsts.len(), 3, "twelve nodes start on {firsts:?}");
        let mut all: Vec<String> = b
            .in_order(&s.broker, "n7")
            .into_iter()
            .map(|b| b.host)
            .collect();
        all.sort();
        assert_eq!(all, ["b1", "b2", "b3"]);
    }

    #[test]
    fn sparkplug_with_several_brokers_is_accepted() {
        let s = load("urls = [\"mqtt://a:1\", \"mqtt://b:1\"]\n[sparkplug]\ngroup_id = \"plant\"")
            .unwrap();
        assert!(s.sparkplug.is_some());
        assert_eq!(s.mqtt.brokers.others.len(), 1);
    }

    #[test]
    fn listed_order_starts_every_node_on_the_first() {
        let s = load("urls = [\"mqtt://b1:1\", \"mqtt://b2:1\"]").unwrap();
        for node in ["a", "b", "c"] {
            assert_eq!(s.mqtt.brokers.in_order(&s.broker, node)[0].host, "b1");
        }
    }
}
