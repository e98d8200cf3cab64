//! A server on 127.0.0.2 that records every request it gets (request line and headers), and
//! answers just enough to keep a client talking: a host that should never see our credentials.

use super::proxy::{read_head, respond};
use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct Recorder {
    /// `http://127.0.0.2:PORT`
    pub url: String,
    pub seen: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.2:0").expect("127.0.0.2 is a loopback address");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let Ok(head) = read_head(&mut BufReader::new(conn.try_clone().unwrap())) else {
                    continue;
                };
                let line = head.first().cloned().unwrap_or_default();
                log.lock().unwrap().push(head);
                let _ = if line.starts_with("PUT") || line.starts_with("PATCH") {
                    respond(&conn, "201 Created", &[], b"")
                } else {
                    respond(
                        &conn,
                        "200 OK",
                        &["Content-Type: application/json".into()],
                        br#"{"repositories":[],"tags":[],"token":"t"}"#,
                    )
                };
            }
        });
        Recorder { url, seen }
    }

    /// Requests that carried an Authorization header.
    pub fn authorized(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|h| {
                h.iter()
                    .any(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            })
            .map(|h| h.join(" | "))
            .collect()
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}
