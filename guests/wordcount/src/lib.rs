//! Counts words. A word is a maximal run of alphanumeric characters (Unicode), case-folded to lower
//! case. Output: one `word\tcount` line per word, by count descending, then by word.
//!
//! The input is streamed in fixed chunks; memory grows with the vocabulary, not the input.
//! Input that is not UTF-8 ends the run with an error.

use std::collections::HashMap;
use std::io::{BufWriter, Write};

const CHUNK: usize = 64 * 1024;

fn main() -> Result<(), String> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    // Bytes read but not yet counted: a word (or a UTF-8 sequence) that may continue in the next
    // chunk. Splitting only after an ASCII non-alphanumeric byte keeps words and UTF-8 intact,
    // since ASCII bytes never occur inside a multi-byte sequence.
    let mut pending: Vec<u8> = Vec::with_capacity(2 * CHUNK);
    let mut consumed = 0u64;
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = enclave_guest::read_input(&mut chunk);
        let at_end = n == 0;
        pending.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let split = if at_end {
            pending.len()
        } else {
            match pending
                .iter()
                .rposition(|b| b.is_ascii() && !b.is_ascii_alphanumeric())
            {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let (ready, _) = pending.split_at(split);
        let text = std::str::from_utf8(ready).map_err(|e| {
            format!(
                "wordcount: input is not UTF-8 (at byte {})",
                consumed + e.valid_up_to() as u64
            )
        })?;
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
        consumed += split as u64;
        pending.drain(..split);
        if at_end {
            break;
        }
    }

    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = BufWriter::new(enclave_guest::Output);
    for (word, count) in sorted {
        writeln!(out, "{word}\t{count}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

enclave_guest::entry!(main);
