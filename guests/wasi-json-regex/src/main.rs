//! Reads `{"pattern": "...", "records": [{"id": .., "text": ".."}, ...]}` on stdin and prints, as
//! JSON, the records whose `text` matches the pattern with each match's named captures. Built at
//! `opt-level = 3` (guests/Cargo.toml): a real release build that the compile budget must let
//! through (docs/testing.md, "Real programs").

use std::io::{Read, Write};
use std::process::ExitCode;

use regex::Regex;
use serde_json::{json, Map, Value};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let document: Value = serde_json::from_str(&input).map_err(|e| format!("bad json: {e}"))?;
    let pattern = document["pattern"].as_str().ok_or("no \"pattern\" string")?;
    let regex = Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))?;
    let records = document["records"].as_array().ok_or("no \"records\" array")?;
    let matches: Vec<Value> = records.iter().filter_map(|r| matched(&regex, r)).collect();
    let out = json!({ "pattern": pattern, "matched": matches.len(), "records": matches });
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    writeln!(std::io::stdout(), "{text}").map_err(|e| format!("cannot write stdout: {e}"))
}

/// The record with its named captures, if its text matches.
fn matched(regex: &Regex, record: &Value) -> Option<Value> {
    let captures = regex.captures(record["text"].as_str()?)?;
    let named: Map<String, Value> = regex
        .capture_names()
        .flatten()
        .filter_map(|name| Some((name.to_owned(), json!(captures.name(name)?.as_str()))))
        .collect();
    Some(json!({ "id": record["id"], "captures": named }))
}
