//! The network as the operator sees it: a TCP relay on 127.0.0.1 in front of a served enclave
//! that forwards every connection unchanged and records every byte in both directions (the
//! first 64 MiB), for [`super::serve::Served::operator_view`]. With attested TLS the recording is
//! ciphertext, as it is for a real operator.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Most bytes recorded; traffic beyond is forwarded unrecorded.
const MAX_RECORDED: usize = 64 * 1024 * 1024;

/// A recording relay to one upstream address.
pub(crate) struct Relay {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<u8>>>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on 127.0.0.1 (a free port) and relays every connection to `upstream`.
    pub(crate) fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (record, stop) = (recorded.clone(), stopping.clone());
        let accept = std::thread::Builder::new()
            .name("harness-relay".into())
            .spawn(move || accept_loop(&listener, upstream, &record, &stop))?;
        Ok(Self {
            addr,
            recorded,
            stopping,
            accept: Some(accept),
        })
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every byte relayed so far, both directions interleaved as they came.
    pub(crate) fn recorded(&self) -> Vec<u8> {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    recorded: &Arc<Mutex<Vec<u8>>>,
    stopping: &AtomicBool,
) {
    for client in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(upstream) else {
            continue;
        };
        for (from, to) in [(&client, &server), (&server, &client)] {
            if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                let record = recorded.clone();
                let _ = std::thread::Builder::new()
                    .name("harness-relay-copy".into())
                    .spawn(move || copy(from, to, &record));
            }
        }
    }
}

/// Copies `from` to `to` until either side closes, recording what passes.
fn copy(mut from: TcpStream, mut to: TcpStream, recorded: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        {
            let mut record = recorded.lock().unwrap_or_else(PoisonError::into_inner);
            if record.len() + n <= MAX_RECORDED {
                record.extend_from_slice(chunk);
            }
        }
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
