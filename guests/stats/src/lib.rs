//! Count, sum, mean, min and max of a list of numbers, as one line of JSON.
//!
//! The input is either text (numbers separated by commas and/or whitespace, any number per line)
//! or, if its first byte is a CBOR array head, a CBOR array (RFC 8949) of integers and floats
//! (half, single, double precision), definite or indefinite length. With no numbers, every field
//! but `count` is `null`. A bad number ends the run with its line (text) or item (CBOR) number.

use std::io::Write;

mod cbor;

#[derive(Default)]
struct Stats {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn add(&mut self, x: f64) {
        if self.count == 0 {
            (self.min, self.max) = (x, x);
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        self.sum += x;
    }

    fn json(&self) -> String {
        if self.count == 0 {
            return r#"{"count":0,"sum":null,"mean":null,"min":null,"max":null}"#.into();
        }
        let mean = self.sum / self.count as f64;
        // `Display` for f64 prints the shortest decimal that round-trips, never an exponent,
        // which is valid JSON for every finite value.
        format!(
            r#"{{"count":{},"sum":{},"mean":{},"min":{},"max":{}}}"#,
            self.count, self.sum, mean, self.min, self.max
        )
    }
}

fn finite(x: f64, place: impl FnOnce() -> String) -> Result<f64, String> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("stats: {}: not a finite number", place()))
    }
}

fn from_text(input: &[u8], stats: &mut Stats) -> Result<(), String> {
    let text = std::str::from_utf8(input)
        .map_err(|e| format!("stats: input is not UTF-8 (at byte {})", e.valid_up_to()))?;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        for field in line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|f| !f.is_empty())
        {
            let x: f64 = field
                .parse()
                .map_err(|_| format!("stats: line {line_no}: {field:?} is not a number"))?;
            stats.add(finite(x, || format!("line {line_no}"))?);
        }
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let input = enclave_guest::read_all();
    let mut stats = Stats::default();
    match input.first() {
        Some(0x80..=0x9f) => {
            for (i, x) in cbor::numbers(&input)?.into_iter().enumerate() {
                stats.add(finite(x, || format!("item {i}"))?);
            }
        }
        _ => from_text(&input, &mut stats)?,
    }
    writeln!(enclave_guest::Output, "{}", stats.json()).map_err(|e| e.to_string())
}

enclave_guest::entry!(main);
