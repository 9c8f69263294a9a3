//! Problems of a configuration file, each with its line and column.

use std::fmt;
use std::ops::Range;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is wrong: the key, the value and what is allowed.
    pub message: String,
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        error: String,
    },
    /// Syntax or validation errors.
    #[error("{}", render(.origin, .problems))]
    Invalid {
        /// The file.
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn render(origin: &str, problems: &[Problem]) -> String {
    let mut out = format!("invalid configuration {origin}:");
    for p in problems {
        out.push_str(&format!(
            "\n  {origin}:{}:{}: {}",
            p.line, p.column, p.message
        ));
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// A problem at `span` of `text` (a default value has the empty span 0..0: no position).
pub fn at(text: &str, span: Range<usize>, message: String) -> Problem {
    let (line, column) = if span == (0..0) {
        (0, 0)
    } else {
        line_col(text, span.start)
    };
    Problem {
        line,
        column,
        message,
    }
}

/// A syntax or type error of the TOML parser, with the key and value it is about when the
/// parser's message names neither (`invalid type: string "x", expected an integer`).
pub fn from_toml(text: &str, e: &toml::de::Error) -> Problem {
    let message = e
        .message()
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    let Some(span) = e.span() else {
        return Problem {
            line: 0,
            column: 0,
            message,
        };
    };
    let message = match key_of_value(text, span.clone()) {
        // A secret's value is never echoed.
        Some((key, _)) if is_secret_key(&key) => format!("{key} = <not shown>: {message}"),
        Some((key, value)) => format!("{key} = {value}: {message}"),
        None => message,
    };
    at(text, span, message)
}

/// Keys whose values are secrets (never shown in a message).
fn is_secret_key(key: &str) -> bool {
    key.rsplit('.')
        .next()
        .is_some_and(|k| k.trim_matches('"') == "password")
}

/// The key and value text when `span` is (in) the value of `key = value` on one line.
fn key_of_value(text: &str, span: Range<usize>) -> Option<(String, String)> {
    let value = text.get(span.clone())?;
    if value.contains('\n') {
        return None;
    }
    let line_start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let before = text.get(line_start..span.start)?;
    let (key, _) = before.split_once('=')?;
    let key = key.trim();
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.\"".contains(&b))
    {
        return None;
    }
    Some((key.to_owned(), value.trim().to_owned()))
}
