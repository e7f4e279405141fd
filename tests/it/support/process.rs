//! `grantor serve` run as a separate process: reading what it logs.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a started process wrote to stderr: every line, read by a thread of
/// its own until the process closes it.
pub struct Stderr {
    pub lines: Arc<Mutex<Vec<String>>>,
    pub reader: std::thread::JoinHandle<()>,
}

/// Takes `child`'s piped stderr and waits (60 s at most) for its
/// `listening on ADDR` line, text or JSON (the address ends at a space or
/// a quote); returns the address and the stderr being read. Panics with
/// every line seen when the process ends or the time runs out first.
pub fn listen_address(child: &mut Child) -> (String, Stderr) {
    let stderr = child.stderr.take().expect("stderr is piped");
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let collected = lines.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                let _ = tx.send(addr);
            }
            collected.lock().unwrap().push(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => (addr, Stderr { lines, reader }),
        Err(_) => panic!("no 'listening on' line: {:?}", lines.lock().unwrap()),
    }
}
