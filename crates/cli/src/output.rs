//! Printing information objects: JSON lines (docs/json.md) or aligned text columns.

use std::io::{self, Write};

use iec104::json::JsonObject;
use serde_json::Value;

use crate::args::Format;

/// Fields shown in their own text column (or folded into the cot column).
const COLUMNS: [&str; 10] = [
    "ca",
    "ioa",
    "type",
    "cot",
    "negative",
    "test",
    "value",
    "quality",
    "time",
    "time_partial",
];

/// Writes objects to stdout in the chosen format.
pub struct Printer {
    format: Format,
    out: io::Stdout,
    header_done: bool,
}

impl Printer {
    /// A printer; `None` picks text on a terminal and JSON otherwise.
    pub fn new(format: Option<Format>) -> Printer {
        use std::io::IsTerminal;
        let out = io::stdout();
        let format = format.unwrap_or(if out.is_terminal() {
            Format::Text
        } else {
            Format::Json
        });
        Printer {
            format,
            out,
            header_done: false,
        }
    }

    /// Prints one object on one line.
    pub fn object(&mut self, object: &JsonObject<'_>) -> io::Result<()> {
        let mut out = self.out.lock();
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut out, object)?;
                writeln!(out)?;
            }
            Format::Text => {
                if !self.header_done {
                    self.header_done = true;
                    writeln!(out, "{}", text_row(&HEADER))?;
                }
                writeln!(out, "{}", text_row(&text_cells(&object.to_value())))?;
            }
        }
        out.flush()
    }

    /// A note for the human reader: on stderr, in both formats.
    pub fn note(&self, message: &str) {
        eprintln!("{message}");
    }
}

const HEADER: [&str; 8] = [
    "CA", "IOA", "TYPE", "COT", "VALUE", "QUALITY", "TIME", "MORE",
];
const WIDTHS: [usize; 7] = [5, 8, 10, 12, 16, 12, 25];

fn text_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        match WIDTHS.get(i) {
            // Numbers right-aligned, the rest left-aligned.
            Some(&w) if i < 2 => line.push_str(&format!("{cell:>w$} ")),
            Some(&w) => line.push_str(&format!("{cell:<w$} ")),
            None => line.push_str(cell),
        }
    }
    line.trim_end().to_owned()
}

/// A JSON value as text: strings bare, arrays joined with `|`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".to_owned(),
        Value::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join("|"),
        other => other.to_string(),
    }
}

fn text_cells(v: &Value) -> [String; 8] {
    let field = |k: &str| v.get(k).map(plain).unwrap_or_else(|| "-".to_owned());
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut cot = field("cot");
    if flag("negative") {
        cot.push_str(",neg");
    }
    if flag("test") {
        cot.push_str(",test");
    }
    let mut time = v.get("time").map(plain).unwrap_or_default();
    if flag("time_partial") {
        time.push('~');
    }
    let more = v
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !COLUMNS.contains(&k.as_str()))
                .map(|(k, x)| format!("{k}={}", plain(x)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    [
        field("ca"),
        field("ioa"),
        field("type"),
        cot,
        field("value"),
        field("quality"),
        time,
        more,
    ]
}
