//! A parser of the Prometheus text exposition (samples only), for tests and tools that check
//! exact series: name and labels → value.

use std::collections::BTreeMap;

/// One series: metric name and its labels, sorted by label name.
pub type Series = (String, Vec<(String, String)>);

/// A line that is not a valid sample.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("exposition line {line}: {why}: {text:?}")]
pub struct ScrapeError {
    /// Line number from 1.
    pub line: usize,
    /// What is wrong.
    pub why: &'static str,
    /// The line.
    pub text: String,
}

/// Every sample of `text` (comments and blank lines skipped); a series seen twice is an error.
pub fn parse(text: &str) -> Result<BTreeMap<Series, f64>, ScrapeError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |why| ScrapeError {
            line: i + 1,
            why,
            text: raw.to_owned(),
        };
        let (series, rest) = parse_series(line).ok_or_else(|| err("bad name or labels"))?;
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse::<f64>().map_err(|_| err("bad value"))?,
        };
        if out.insert(series, value).is_some() {
            return Err(err("series repeated"));
        }
    }
    Ok(out)
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

fn parse_series(line: &str) -> Option<(Series, &str)> {
    let end = line
        .char_indices()
        .find(|&(i, c)| !is_name_char(c, i == 0))
        .map(|(i, _)| i)
        .unwrap_or(line.len());
    if end == 0 {
        return None;
    }
    let name = line.get(..end)?.to_owned();
    let mut rest = line.get(end..)?;
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest.get(..eq)?.trim().to_owned();
            let (value, r) = parse_quoted(rest.get(eq + 1..)?)?;
            labels.push((key, value));
            rest = r;
        }
    }
    if !rest.starts_with(' ') {
        return None;
    }
    labels.sort();
    Some(((name, labels), rest))
}

fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, body.get(i + 1..)?)),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// The series `name` with `labels` (in any order).
pub fn key(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    (name.to_owned(), l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_labels_escapes_and_specials() {
        let text = "# HELP a x\n# TYPE a counter\na_total 3\nb{rtu=\"n\\\"1\",state=\"on\"} 1\nc_bucket{le=\"+Inf\"} 2\nd +Inf\n";
        let m = parse(text).unwrap();
        assert_eq!(m[&key("a_total", &[])], 3.0);
        assert_eq!(m[&key("b", &[("state", "on"), ("rtu", "n\"1")])], 1.0);
        assert_eq!(m[&key("c_bucket", &[("le", "+Inf")])], 2.0);
        assert!(m[&key("d", &[])].is_infinite());
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "{x=\"1\"} 1",
            "a{x=1} 1",
            "a{x=\"1\" 1",
            "a",
            "a nope",
            "a 1\na 2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
