//! The configuration hash that tells the nodes of a cluster they run the same file.

/// The configuration hash shared by the nodes of a cluster: FNV-1a 64 over the TOML
/// re-serialised (keys sorted) without the node-specific keys `cluster.node_id`,
/// `gateway.node`, `gateway.http_listen`, `gateway.http_token_file` and `gateway.store_path`, in a canonical rendering
/// (sorted keys, so the order and formatting of the file do not matter); 16 hex digits.
pub fn config_hash(text: &str) -> String {
    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(_) => return format!("{:016x}", crate::model::hash::fnv1a64(text.as_bytes())),
    };
    if let Some(toml::Value::Table(c)) = table.get_mut("cluster") {
        c.remove("node_id");
    }
    if let Some(toml::Value::Table(g)) = table.get_mut("gateway") {
        g.remove("node");
        g.remove("http_listen");
        g.remove("http_token_file");
        g.remove("store_path");
        if g.is_empty() {
            table.remove("gateway");
        }
    }
    let mut canonical = String::new();
    canonical_toml(&toml::Value::Table(table), &mut canonical);
    format!("{:016x}", crate::model::hash::fnv1a64(canonical.as_bytes()))
}

/// A canonical rendering of a TOML value: tables with sorted keys, whatever the map type
/// (toml's `preserve_order` feature may be switched on by another crate).
fn canonical_toml(v: &toml::Value, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                let _ = write!(out, "{k:?}=");
                if let Some(v) = t.get(k) {
                    canonical_toml(v, out);
                }
                out.push(',');
            }
            out.push('}');
        }
        toml::Value::Array(a) => {
            out.push('[');
            for v in a {
                canonical_toml(v, out);
                out.push(',');
            }
            out.push(']');
        }
        toml::Value::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::CLUSTER;

    #[test]
    fn config_hash_ignores_node_specific_keys_and_layout() {
        let base = config_hash(CLUSTER);
        assert_eq!(base.len(), 16);
        let other_node = CLUSTER.replace("node_id = \"gw-a\"", "node_id = \"gw-b\"");
        assert_eq!(config_hash(&other_node), base);
        let with_gateway = format!(
            "[gateway]\nnode = \"x\"\nhttp_listen = \"127.0.0.1:9000\"\nstore_path = \"/q\"\n{CLUSTER}"
        );
        assert_eq!(config_hash(&with_gateway), base);
        // Comments, spacing and the order of keys do not matter.
        let reordered = CLUSTER.replace(
            "standby = 2\nheartbeat = 1",
            "heartbeat   = 1 # beat\nstandby = 2",
        );
        assert_eq!(config_hash(&reordered), base);
        // Anything shared does.
        assert_ne!(
            config_hash(&CLUSTER.replace("standby = 2", "standby = 1")),
            base
        );
        assert_ne!(
            config_hash(&format!("[gateway]\nqueue_max_messages = 5\n{CLUSTER}")),
            base
        );
    }
}
