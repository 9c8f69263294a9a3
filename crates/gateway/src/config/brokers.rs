//! `[mqtt] url` or `urls`, `broker_order` and `connect_timeout`: the brokers a node may
//! use, resolved once into a list in the node's order of trial.

use std::time::Duration;

use super::validate::{parse_url, Broker, Checker};
use super::MqttConfig;

/// In which order a node tries its brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerOrder {
    /// As listed in `urls` (default): every node starts on the first.
    Listed,
    /// A permutation seeded by the node name: fixed per node, different between nodes.
    Shuffled,
}

/// The brokers after the first, their order and how long a broker has to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerList {
    /// Every broker after the first (`Loaded::broker`), as listed.
    pub others: Vec<Broker>,
    /// `broker_order`.
    pub order: BrokerOrder,
    /// Time a broker has to accept the connection (CONNACK) before the next one is tried.
    pub connect_timeout: Duration,
}

/// The default `connect_timeout` in seconds.
const DEFAULT_CONNECT_TIMEOUT: f64 = 5.0;

impl BrokerList {
    /// Every broker (`first` is `Loaded::broker`) in the order node `node` tries them.
    pub fn in_order(&self, first: &Broker, node: &str) -> Vec<Broker> {
        let mut all: Vec<Broker> = std::iter::once(first.clone())
            .chain(self.others.iter().cloned())
            .collect();
        if self.order == BrokerOrder::Shuffled {
            shuffle(&mut all, node);
        }
        all
    }
}

/// Resolves `url`/`urls` (exactly one of them), `broker_order` and `connect_timeout`;
/// problems go to `c`.
pub(super) fn resolve(mqtt: &MqttConfig, c: &mut Checker<'_>) -> Option<(Broker, BrokerList)> {
    let connect_timeout = match &mqtt.connect_timeout {
        None => Duration::from_secs_f64(DEFAULT_CONNECT_TIMEOUT),
        Some(t) if t.get_ref().is_finite() && (0.1..=3600.0).contains(t.get_ref()) => {
            Duration::from_secs_f64(*t.get_ref())
        }
        Some(t) => {
            c.at(
                t.span(),
                format!("connect_timeout {} must be 0.1..=3600 seconds", t.get_ref()),
            );
            Duration::from_secs_f64(DEFAULT_CONNECT_TIMEOUT)
        }
    };
    let order = match &mqtt.broker_order {
        None => BrokerOrder::Listed,
        Some(o) => match o.get_ref().as_str() {
            "listed" => BrokerOrder::Listed,
            "shuffled" => BrokerOrder::Shuffled,
            other => {
                c.at(
                    o.span(),
                    format!("broker_order {other:?}: expected \"listed\" or \"shuffled\""),
                );
                BrokerOrder::Listed
            }
        },
    };
    let mut brokers = Vec::new();
    match (&mqtt.url, &mqtt.urls) {
        (Some(url), Some(urls)) => {
            c.at(
                urls.span(),
                format!(
                    "both url ({:?}) and urls given: set url for one broker or urls for several",
                    url.get_ref()
                ),
            );
            return None;
        }
        (None, None) => {
            c.at(
                0..0,
                "[mqtt] needs url (one broker) or urls (several brokers)",
            );
            return None;
        }
        (Some(url), None) => match parse_url(url.get_ref()) {
            Ok(b) => brokers.push(b),
            Err(e) => c.at(url.span(), e),
        },
        (None, Some(urls)) => {
            if urls.get_ref().is_empty() {
                c.at(urls.span(), "urls must name at least one broker");
            }
            for url in urls.get_ref() {
                match parse_url(url.get_ref()) {
                    Ok(b) if brokers.contains(&b) => c.at(
                        url.span(),
                        format!("urls: {:?} is listed twice", url.get_ref()),
                    ),
                    Ok(b) => brokers.push(b),
                    Err(e) => c.at(url.span(), format!("urls: {e}")),
                }
            }
        }
    }
    let mut brokers = brokers.into_iter();
    let first = brokers.next()?;
    Some((
        first,
        BrokerList {
            others: brokers.collect(),
            order,
            connect_timeout,
        },
    ))
}

/// A permutation of `brokers` seeded by the node name (Fisher-Yates over FNV-1a 64).
fn shuffle(brokers: &mut [Broker], node: &str) {
    let mut rng = fastrand::Rng::with_seed(crate::model::hash::fnv1a64(node.as_bytes()));
    rng.shuffle(brokers);
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const RTU: &str = "[[rtu]]\nname = \"a\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 1\n";

    fn load(mqtt: &str, node: &str) -> Result<crate::config::Loaded, String> {
        let text = format!("[mqtt]\n{mqtt}\n[gateway]\nnode = \"{node}\"\n{RTU}");
        parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn urls_are_tried_in_the_listed_order_by_default() {
        let l = load(
            "urls = [\"mqtt://b1:1883\", \"mqtts://b2:8883\", \"mqtt://b3\"]",
            "n1",
        )
        .unwrap();
        assert_eq!((l.broker.host.as_str(), l.broker.tls), ("b1", false));
        let rest: Vec<_> = l
            .brokers
            .others
            .iter()
            .map(|b| (b.host.as_str(), b.port, b.tls))
            .collect();
        assert_eq!(rest, [("b2", 8883, true), ("b3", 1883, false)]);
        assert_eq!(l.brokers.connect_timeout.as_secs(), 5);
    }

    #[test]
    fn url_and_urls_together_are_refused_naming_both() {
        let e = load("url = \"mqtt://a:1\"\nurls = [\"mqtt://b:1\"]", "n").unwrap_err();
        assert!(e.contains("url") && e.contains("urls"), "{e}");
    }

    #[test]
    fn neither_url_nor_urls_is_refused() {
        let e = load("qos = 1", "n").unwrap_err();
        assert!(e.contains("needs url"), "{e}");
    }

    #[test]
    fn bad_entries_name_the_key_and_value() {
        let e = load(
            "urls = [\"mqtt://a:1\", \"ftp://b:2\", \"mqtt://a:1\"]",
            "n",
        )
        .unwrap_err();
        assert!(e.contains("urls: url scheme \"ftp\""), "{e}");
        assert!(e.contains("listed twice"), "{e}");
        let e = load("urls = []", "n").unwrap_err();
        assert!(e.contains("at least one"), "{e}");
        let e = load("url = \"mqtt://a:1\"\nbroker_order = \"random\"", "n").unwrap_err();
        assert!(e.contains("broker_order \"random\""), "{e}");
        let e = load("url = \"mqtt://a:1\"\nconnect_timeout = 0.0", "n").unwrap_err();
        assert!(e.contains("connect_timeout 0"), "{e}");
    }

    #[test]
    fn shuffled_order_is_fixed_per_node_and_spreads_nodes() {
        let urls = "urls = [\"mqtt://b1:1\", \"mqtt://b2:1\", \"mqtt://b3:1\"]\nbroker_order = \"shuffled\"";
        let l = load(urls, "n").unwrap();
        let first = |node: &str| l.brokers.in_order(&l.broker, node)[0].host.clone();
        assert_eq!(first("n1"), first("n1"));
        let firsts: std::collections::HashSet<String> =
            (0..12).map(|i| first(&format!("node{i}"))).collect();
        assert!(firsts.len() > 1, "twelve nodes all start on {firsts:?}");
        let mut all: Vec<String> = l
            .brokers
            .in_order(&l.broker, "n7")
            .into_iter()
            .map(|b| b.host)
            .collect();
        all.sort();
        assert_eq!(all, ["b1", "b2", "b3"]);
    }
}
