//! A WASI program that reaches for every ambient capability and prints, one line per attempt,
//! what it got: `name: errno N` for a raw preview-1 call, or what Rust std reported. The tests
//! (tests/e2e/wasi.rs) check that each attempt was refused with the documented errno.
//!
//! Attacks are named by the arguments (`argv[1..]`, from the manifest) or, with none, by the
//! words on stdin. `NAME=VALUE` passes a value (a path, an exit code).

use std::io::{Read, Write};

mod raw;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let attacks = if args.is_empty() {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            println!("stdin: {e}");
        }
        text.split_whitespace().map(str::to_owned).collect()
    } else {
        args
    };
    for attack in &attacks {
        let (name, value) = attack.split_once('=').unwrap_or((attack, ""));
        run(name, value);
    }
}

fn report(name: &str, outcome: impl std::fmt::Display) {
    println!("{name}: {outcome}");
}

fn std_result<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => match e.raw_os_error() {
            Some(code) => format!("os error {code}"),
            None => format!("{:?}", e.kind()),
        },
    }
}

fn run(name: &str, value: &str) {
    match name {
        "args" => report(name, std::env::args().collect::<Vec<_>>().join(" ")),
        "file" => {
            let path = if value.is_empty() {
                "/etc/passwd"
            } else {
                value
            };
            report("file-std", std_result(std::fs::read(path)));
            report("file-raw", raw::open(3, path, false));
            report("file-raw-stdin", raw::open(0, path, false));
            report("stat-raw", raw::stat(3, path));
        }
        "create" => {
            let path = if value.is_empty() {
                "/tmp/enclave-canary"
            } else {
                value
            };
            report("create-std", std_result(std::fs::write(path, b"escaped")));
            report("create-raw", raw::open(3, path, true));
            report("mkdir-raw", raw::mkdir(3, path));
            report("unlink-raw", raw::unlink(3, path));
        }
        "env" => {
            report("env-home", format!("{:?}", std::env::var("HOME")));
            report("env-count", std::env::vars_os().count());
        }
        "socket" => {
            report(
                "socket-std",
                std_result(std::net::TcpStream::connect("127.0.0.1:9")),
            );
            report("sock-accept", raw::accept(3));
            report("sock-recv", raw::recv(0));
            report("sock-send", raw::send(1));
            report("sock-shutdown", raw::shutdown(1));
        }
        "clock" => {
            report("clock-wall", raw::clock(raw::CLOCK_REALTIME));
            report("clock-monotonic", raw::clock(raw::CLOCK_MONOTONIC));
            report("clock-process", raw::clock(raw::CLOCK_PROCESS_CPUTIME));
            report("clock-res-wall", raw::clock_res(raw::CLOCK_REALTIME));
            report("clock-res-monotonic", raw::clock_res(raw::CLOCK_MONOTONIC));
            report("clock-bad-id", raw::clock(99));
        }
        "random" => report("random", raw::random()),
        "preopen" => report("preopen", raw::prestat(3)),
        "fd" => {
            report("fd-write-3", raw::write(3, b"x"));
            report("fd-read-3", raw::read(3));
            report("fd-write-stdin", raw::write(0, b"x"));
            report("fd-seek-stdin", raw::seek(0));
            report("fd-filestat-stdout", raw::filestat(1));
            report("fd-set-flags-stdout", raw::set_flags(1));
        }
        "poll" => report("poll", raw::poll()),
        "raise" => report("raise", raw::raise()),
        "yield" => report("yield", raw::yield_now()),
        "hashmap" => {
            // std seeds `HashMap`s with `random_get`: without the capability this panics.
            let map: std::collections::HashMap<u8, u8> = [(1, 2)].into_iter().collect();
            report(name, map.len());
        }
        "exit" => std::process::exit(value.parse().unwrap_or(1)),
        "panic" => panic!("hostile wasi panic"),
        "loop" => loop {
            std::hint::black_box(());
        },
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "flood" => {
            let chunk = [b'x'; 4096];
            let mut out = std::io::stdout().lock();
            loop {
                if out.write_all(&chunk).is_err() {
                    report("flood", "write refused");
                    return;
                }
            }
        }
        "stderr-flood" => {
            let line = [b'e'; 1023];
            let mut err = std::io::stderr().lock();
            for _ in 0..1024 {
                let _ = err.write_all(&line).and_then(|()| err.write_all(b"\n"));
            }
            report(name, "done");
        }
        "stderr" => eprintln!("{value}"),
        "echo" => {
            let mut input = Vec::new();
            report(name, std_result(std::io::stdin().read_to_end(&mut input)));
        }
        _ => report(name, "unknown attack"),
    }
}
