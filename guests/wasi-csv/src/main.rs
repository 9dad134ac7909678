//! Per-category count, sum and mean of a CSV read from stdin, written as CSV to stdout.
//!
//! An ordinary Rust program for `wasm32-wasip1`: it knows nothing about enclaves. Input:
//!
//! ```text
//! category,amount
//! food,12.50
//! rent,800
//! food,-2.25
//! ```
//!
//! Amounts are decimals with at most two fractional digits, summed exactly (in hundredths).
//! Output, one line per category in byte order, the mean rounded half away from zero:
//!
//! ```text
//! category,count,sum,mean
//! food,2,10.25,5.13
//! rent,1,800.00,800.00
//! ```
//!
//! Blank lines are skipped and `\r\n` line ends accepted. Anything else that is not a
//! `category,amount` line is reported on stderr with its line number, and the program exits
//! with code 2. A `BTreeMap` keeps the output order fixed (and needs no random seed, which a
//! `HashMap` would ask the host for).

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

const HEADER: &str = "category,amount";

#[derive(Default)]
struct Total {
    count: u64,
    /// In hundredths.
    sum: i128,
}

fn main() -> ExitCode {
    match aggregate(std::io::stdin().lock()) {
        Ok(totals) => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            // A failed write to stdout means the enclave ended the run; nothing to report.
            let _ = write_report(&mut out, &totals).and_then(|()| out.flush());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("wasi-csv: {message}");
            ExitCode::from(2)
        }
    }
}

fn aggregate(input: impl BufRead) -> Result<BTreeMap<String, Total>, String> {
    let mut totals: BTreeMap<String, Total> = BTreeMap::new();
    let mut header_seen = false;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("line {number}: {e}"))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            if line.trim() != HEADER {
                return Err(format!("line {number}: expected the header `{HEADER}`"));
            }
            header_seen = true;
            continue;
        }
        let (category, amount) = parse_row(line).map_err(|e| format!("line {number}: {e}"))?;
        let total = totals.entry(category.to_owned()).or_default();
        total.count += 1;
        total.sum += i128::from(amount);
    }
    if !header_seen {
        return Err(format!("empty input: expected the header `{HEADER}`"));
    }
    Ok(totals)
}

fn parse_row(line: &str) -> Result<(&str, i64), String> {
    let mut fields = line.split(',');
    let (Some(category), Some(amount), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err("expected two fields, `category,amount`".into());
    };
    let category = category.trim();
    if category.is_empty() || category.contains('"') {
        return Err(format!("bad category {category:?} (empty or quoted)"));
    }
    let amount = parse_hundredths(amount.trim()).ok_or_else(|| format!("bad amount {amount:?}"))?;
    Ok((category, amount))
}

/// `-12.5` → `-1250`: an optional sign, digits, and at most two fractional digits.
fn parse_hundredths(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    let value = whole.checked_mul(100)?.checked_add(fraction)?;
    Some(if negative { -value } else { value })
}

fn write_report(out: &mut impl Write, totals: &BTreeMap<String, Total>) -> std::io::Result<()> {
    writeln!(out, "category,count,sum,mean")?;
    for (category, total) in totals {
        let mean = mean_hundredths(total.sum, total.count);
        writeln!(
            out,
            "{category},{},{},{}",
            total.count,
            Hundredths(total.sum),
            Hundredths(mean)
        )?;
    }
    Ok(())
}

/// `sum / count`, rounded half away from zero.
fn mean_hundredths(sum: i128, count: u64) -> i128 {
    let count = i128::from(count.max(1));
    let rounded = (2 * sum.abs() + count) / (2 * count);
    if sum < 0 {
        -rounded
    } else {
        rounded
    }
}

struct Hundredths(i128);

impl std::fmt::Display for Hundredths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}
