//! A loopback stand-in for an OpenAI-compatible server, for benchmarks: answers every
//! `POST /chat/completions` after a fixed delay with a short scene that carries any A/B token
//! found in the request. Prints its base URL on the first line of stdout, then serves until killed.
//!
//! With RPM_LIMIT it also plays a rate-limited provider: requests over RPM_LIMIT per minute (a
//! bucket holding one second's worth) get a 429 with `retry-after-ms`, every answer carries the
//! `x-ratelimit-*-requests` headers, and each 429 prints `chat_stub: 429` on stderr for a script
//! to count.
//!
//! Usage: cargo run --release -p image-project --example chat_stub -- [DELAY_MS [RPM_LIMIT]]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket: `rate` requests per second, at most `burst` saved up.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

/// What the limit says about one request: `None` when it may be answered, else the wait in ms;
/// and the headers to send either way.
fn admit(bucket: &Mutex<Bucket>) -> (Option<f64>, String) {
    let mut b = bucket.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * b.rate).min(b.burst);
    b.at = now;
    let refused = if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        None
    } else {
        Some(((1.0 - b.tokens) / b.rate * 1000.0).ceil())
    };
    let headers = format!(
        "x-ratelimit-limit-requests: {}\r\nx-ratelimit-remaining-requests: {}\r\nx-ratelimit-reset-requests: {}ms\r\n",
        (b.rate * 60.0).round(),
        b.tokens.floor(),
        ((b.burst - b.tokens) / b.rate * 1000.0).ceil()
    );
    (refused, headers)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let delay_ms: u64 = args.next().and_then(|arg| arg.parse().ok()).unwrap_or(100);
    let bucket = args
        .next()
        .and_then(|arg| arg.parse::<f64>().ok())
        .filter(|rpm| *rpm > 0.0)
        .map(|rpm| {
            let rate = rpm / 60.0;
            Arc::new(Mutex::new(Bucket {
                rate,
                burst: rate.max(1.0),
                tokens: rate.max(1.0),
                at: Instant::now(),
            }))
        });
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("http://{}/v1", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        let limit = bucket.as_ref().map(|bucket| admit(bucket));
        std::thread::spawn(move || {
            if let Err(error) = answer(stream, Duration::from_millis(delay_ms), limit) {
                eprintln!("chat_stub: {error}");
            }
        });
    }
    Ok(())
}

fn answer(
    stream: TcpStream,
    delay: Duration,
    limit: Option<(Option<f64>, String)>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (refused, rate_headers) = limit.unwrap_or((None, String::new()));
    if let Some(wait_ms) = refused {
        eprintln!("chat_stub: 429");
        let reply = r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#;
        let mut stream = stream;
        return write!(
            stream,
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {}\r\nretry-after-ms: {wait_ms}\r\n{rate_headers}Connection: close\r\n\r\n{reply}",
            reply.len()
        )
        .and_then(|()| stream.flush());
    }
    let body = String::from_utf8_lossy(&body);
    let token = body
        .find("RV-")
        .map(|start| {
            body[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .unwrap_or_else(|| "RV-0-000000".to_owned());
    std::thread::sleep(delay);
    let content = format!(
        "SUBJECT=a lighthouse keeper mending a brass lamp | SETTING=a wind-battered stone tower above a grey winter sea | ACTION=tightening a screw with a small silver driver | COMPOSITION=low wide frame with the lamp filling the left third | CAMERA=35mm lens at eye level | LIGHTING=cold dawn through salt-streaked glass | COLOR=slate grey and brass | STYLE=quiet documentary photograph | TEXT_IN_SCENE=\"{token}\" | AR=16:9"
    );
    let reply = format!(
        "{{\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"finish_reason\":\"stop\"}}]}}",
        serde_json::to_string(&content).unwrap_or_default()
    );
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{rate_headers}Connection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}
