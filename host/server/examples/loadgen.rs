//! A small HTTP/1.1 load generator for bench/serve_bench.py: N keep-alive connections each send
//! the same POST back to back for a fixed time; prints requests/s and latency percentiles as
//! JSON. Raw sockets keep the generator cheap, so on a small machine most CPU goes to the
//! server under test rather than to the client.
//!
//! ```text
//! cargo run --release -p microlearn-server --example loadgen -- \
//!   --url http://127.0.0.1:8080/v1/deployments/x/predict --body row.json \
//!   --header 'Authorization: Bearer mlk_…' --connections 8 --seconds 10
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Args {
    host: String,
    path: String,
    body: Vec<u8>,
    headers: Vec<String>,
    connections: usize,
    seconds: f64,
    warmup: f64,
    /// A new connection per request (`Connection: close`).
    fresh: bool,
}

fn parse() -> Result<Args, String> {
    let mut url = None;
    let mut body = Vec::new();
    let mut headers = Vec::new();
    let mut connections = 1;
    let mut seconds = 10.0;
    let mut warmup = 1.0;
    let mut fresh = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(val()?),
            "--body" => {
                let p = val()?;
                body = std::fs::read(&p).map_err(|e| format!("{p}: {e}"))?;
            }
            "--header" => headers.push(val()?),
            "--connections" => {
                connections = val()?.parse().map_err(|e| format!("--connections: {e}"))?
            }
            "--seconds" => seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--warmup" => warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--fresh" => fresh = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    };
    Ok(Args {
        host,
        path,
        body,
        headers,
        connections: connections.max(1),
        seconds,
        warmup,
        fresh,
    })
}

/// Read one response; returns its status. Handles Content-Length and chunked bodies.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        while buf.len() < header_end + len {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    } else if head.contains("transfer-encoding: chunked") {
        while !buf[header_end..].windows(5).any(|w| w == b"0\r\n\r\n") {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(status)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        args.path,
        args.host,
        args.body.len()
    )
    .into_bytes();
    for h in &args.headers {
        request.extend_from_slice(h.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    if args.fresh {
        // Some servers answer keep-alive requests in several segments without TCP_NODELAY,
        // which meets the client's delayed ACK (~40 ms a request); a fresh connection per
        // request measures them without that artefact.
        request.extend_from_slice(b"Connection: close\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(&args.body);
    let request = Arc::new(request);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..args.connections {
        let fresh = args.fresh;
        let (request, measuring, stop, host) = (
            request.clone(),
            measuring.clone(),
            stop.clone(),
            args.host.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 20);
            let mut errors = 0u64;
            let mut non_2xx = 0u64;
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut conn: Option<TcpStream> = None;
            while !stop.load(Ordering::Relaxed) {
                let s = match conn.as_mut() {
                    Some(s) => s,
                    None => match TcpStream::connect(&host) {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            conn.insert(s)
                        }
                        Err(_) => {
                            errors += 1;
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    },
                };
                let t0 = Instant::now();
                let ok = s
                    .write_all(&request)
                    .and_then(|()| read_response(s, &mut buf));
                let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                match ok {
                    Ok(status) => {
                        if fresh {
                            conn = None;
                        }
                        if measuring.load(Ordering::Relaxed) {
                            lat.push(us);
                            if !(200..300).contains(&status) {
                                non_2xx += 1;
                            }
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        conn = None;
                    }
                }
            }
            (lat, errors, non_2xx)
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(args.warmup));
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let (mut errors, mut non_2xx) = (0, 0);
    for h in handles {
        if let Ok((l, e, n)) = h.join() {
            all.extend(l);
            errors += e;
            non_2xx += n;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return f64::NAN;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all[i] as f64 / 1000.0
    };
    println!(
        "{{\"requests\": {}, \"seconds\": {:.3}, \"rps\": {:.1}, \"p50_ms\": {:.3}, \"p90_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}, \"errors\": {errors}, \"non_2xx\": {non_2xx}, \"connections\": {}, \"fresh_connections\": {}}}",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        all.last().map_or(f64::NAN, |&m| m as f64 / 1000.0),
        args.connections,
        args.fresh
    );
}
