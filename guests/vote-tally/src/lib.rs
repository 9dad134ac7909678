//! A private vote tally. Each run takes one command; voters send theirs sealed, so only this
//! enclave sees a ballot:
//!
//! | command | answer |
//! |---------|--------|
//! | `vote VOTER CHOICE` | `recorded`, once the ballot box is durable; a second vote of the same voter ends the run with `voter VOTER has already voted` |
//! | `tally` | `no=N`, `yes=M`, `voters=K`, one per line |
//!
//! Every command must arrive sealed (`enclave_guest::input_source`): a plaintext command is the
//! operator's, and an operator must neither cast nor read ballots. The tests sign it with
//! `[inputs] sealed_only = true` as well, so the runtime refuses plaintext before the guest runs;
//! the guest's own check holds for a build signed without it.
//!
//! `CHOICE` is `yes` or `no`; `VOTER` is 1–64 ASCII letters, digits, `-` or `_`. The ballot box is
//! one value in the sealed store (key `ballots`, one `VOTER CHOICE` line per vote), so a ballot and
//! the tally it counts towards are written together or not at all; a value holds 64 KiB, which
//! bounds the box at about 900 voters. The guest logs each ballot with `enclave_v1.log`: a
//! production enclave's host discards the log, a debug enclave's operator reads it — which is what
//! the tests show a debug build gives away.

use enclave_guest::{Error, InputSource};

/// The store key of the ballot box.
const BALLOTS: &[u8] = b"ballots";
/// Longest voter id.
const MAX_VOTER: usize = 64;

fn main() -> Result<(), String> {
    match enclave_guest::input_source().map_err(|e| format!("input source: {e}"))? {
        InputSource::Sealed { .. } => {}
        InputSource::Plaintext => return Err("commands must arrive sealed".into()),
    }
    let input = enclave_guest::input();
    let text = std::str::from_utf8(&input).map_err(|_| "the command is not UTF-8".to_owned())?;
    let answer = match text.trim().split(' ').collect::<Vec<_>>().as_slice() {
        ["vote", voter, choice] => vote(voter, choice)?,
        ["tally"] => tally()?,
        _ => return Err("usage: `vote VOTER yes|no` or `tally`".into()),
    };
    enclave_guest::output(answer.as_bytes());
    Ok(())
}

/// Records `voter`'s `choice` unless the voter has voted.
fn vote(voter: &str, choice: &str) -> Result<String, String> {
    if voter.is_empty()
        || voter.len() > MAX_VOTER
        || !voter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("a voter id is 1-64 letters, digits, - or _".into());
    }
    if choice != "yes" && choice != "no" {
        return Err("the choice is yes or no".into());
    }
    let mut ballots = load()?;
    if ballots.iter().any(|(v, _)| v == voter) {
        return Err(format!("voter {voter} has already voted"));
    }
    enclave_guest::log(&format!("ballot: {voter} {choice}"));
    ballots.push((voter.to_owned(), choice.to_owned()));
    let encoded: String = ballots.iter().map(|(v, c)| format!("{v} {c}\n")).collect();
    enclave_guest::store_put(BALLOTS, encoded.as_bytes()).map_err(|e| match e {
        Error::TooLarge => "the ballot box is full".to_owned(),
        other => format!("store: {other}"),
    })?;
    Ok("recorded\n".into())
}

/// The counts so far.
fn tally() -> Result<String, String> {
    let ballots = load()?;
    let yes = ballots.iter().filter(|(_, c)| c == "yes").count();
    let no = ballots.len() - yes;
    Ok(format!("no={no}\nyes={yes}\nvoters={}\n", ballots.len()))
}

/// The ballot box: `(voter, choice)` in the order cast.
fn load() -> Result<Vec<(String, String)>, String> {
    let Some(bytes) = enclave_guest::store_get(BALLOTS).map_err(|e| format!("store: {e}"))? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8(bytes).map_err(|_| "the ballot box is corrupt".to_owned())?;
    text.lines()
        .map(|line| {
            line.split_once(' ')
                .map(|(v, c)| (v.to_owned(), c.to_owned()))
                .ok_or_else(|| "the ballot box is corrupt".to_owned())
        })
        .collect()
}

enclave_guest::entry!(main);
