use std::path::Path;
use std::time::Duration;

use iec104::tls::testing::TestPki;

use crate::config::{parse, ConfigError};

/// A scratch directory removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn pki(name: &str) -> (Scratch, TestPki) {
    let dir = std::env::temp_dir().join(format!("gw-tls-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = TestPki::generate(&dir).unwrap();
    (Scratch(dir), pki)
}

fn text(pki: &TestPki, defaults_extra: &str, rtu_tls: &str) -> String {
    let p = |p: &Path| p.display().to_string();
    format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n\n[tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n{defaults_extra}\n\n[[rtu]]\nname = \"a\"\naddress = \"127.0.0.1\"\ncommon_address = 1\n[rtu.tls]\n{rtu_tls}\n\n[[rtu]]\nname = \"plain\"\naddress = \"127.0.0.1:2404\"\ncommon_address = 2\n",
        p(&pki.ca),
        p(&pki.client.cert),
        p(&pki.client.key),
    )
}

fn problems(text: &str) -> Vec<String> {
    match parse(text, "t.toml") {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| p.to_string()).collect()
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn rtu_tls_takes_missing_keys_from_the_defaults() {
    let (_dir, pki) = pki("merge");
    let crl = format!(
        "crl_file = \"{}\"\nkey_update_interval = 600",
        pki.crl.display()
    );
    let s = parse(&text(&pki, "check_hostname = true", &crl), "t").unwrap();
    let a = s.rtus[0].tls.as_ref().expect("tls on for a");
    assert_eq!(a.ca_files, vec![pki.ca.clone()]);
    assert_eq!(a.cert_file.as_deref(), Some(pki.client.cert.as_path()));
    assert_eq!(a.crl_file.as_deref(), Some(pki.crl.as_path()));
    assert_eq!(a.key_update_interval, Some(Duration::from_secs(600)));
    assert!(a.check_hostname);
    // IEC 62351-3: an address without a port means 19998 when TLS is on.
    assert_eq!(s.rtus[0].addresses, vec!["127.0.0.1:19998".to_owned()]);
    // [tls] alone turns TLS on for no RTU.
    assert!(s.rtus[1].tls.is_none());
}

#[test]
fn a_bad_crl_is_named_with_its_key_and_file() {
    let (dir, pki) = pki("badcrl");
    let bad = dir.join("bad.crl");
    std::fs::write(&bad, "not a CRL").unwrap();
    let p = problems(&text(
        &pki,
        "",
        &format!("crl_file = \"{}\"", bad.display()),
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("rtu \"a\": rtu.tls.crl_file"), "{}", p[0]);
    assert!(p[0].contains(&bad.display().to_string()), "{}", p[0]);
    assert!(p[0].contains("no CRL"), "{}", p[0]);
}

#[test]
fn a_missing_key_file_of_the_defaults_is_named() {
    let (dir, pki) = pki("nokey");
    let t = text(&pki, "", "").replace(
        &pki.client.key.display().to_string(),
        &dir.join("absent.key").display().to_string(),
    );
    let p = problems(&t);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("tls.key_file"), "{}", p[0]);
    assert!(p[0].contains("absent.key"), "{}", p[0]);
    assert!(p[0].contains("cannot read"), "{}", p[0]);
}

#[test]
fn values_out_of_range_name_key_and_value() {
    let (_dir, pki) = pki("range");
    let p = problems(&text(
        &pki,
        "versions = [\"1.1\"]",
        "min_rsa_bits = 1024\nreconnect_interval = 0",
    ));
    let all = p.join("\n");
    assert!(all.contains("tls.versions = [\"1.1\"]"), "{all}");
    assert!(
        all.contains("rtu.tls.min_rsa_bits = 1024: must be 2048..=16384"),
        "{all}"
    );
    assert!(all.contains("rtu.tls.reconnect_interval = 0"), "{all}");
}

#[test]
fn unknown_keys_are_refused() {
    let (_dir, pki) = pki("unknown");
    let p = problems(&text(&pki, "", "ca = \"x\""));
    assert!(p[0].contains("unknown field `ca`"), "{p:?}");
}
