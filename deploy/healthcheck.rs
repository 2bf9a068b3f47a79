//! `agenthub-healthcheck`: the container image's HEALTHCHECK probe.
//!
//! The runtime image (distroless) has no shell, curl or wget, so the Dockerfile compiles this
//! one file with `rustc` (std only, statically linked) and runs it. It sends
//! `GET <path> HTTP/1.1` to `127.0.0.1:$PORT` (default 3000; path default `/healthz`, or the
//! first argument, e.g. `/readyz`) and exits 0 on a 2xx status line, 1 otherwise, within about
//! 5 seconds. It needs no DNS and no TLS: it only ever talks to the server in its own container.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or(3000);
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/healthz".to_owned());
    match probe(port, &path) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("GET {path}: HTTP {status}");
            ExitCode::FAILURE
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            eprintln!("GET {path}: no answer in time");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("GET {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe(port: u16, path: &str) -> std::io::Result<u16> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("the path must start with / and hold no spaces"));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: agenthub-healthcheck\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is all we need: "HTTP/1.1 200 OK".
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|s| s.parse::<u16>().ok()),
    ) {
        (Some(version), Some(status)) if version.starts_with("HTTP/") => Ok(status),
        _ => Err(bad("no HTTP status line in the answer")),
    }
}
