//! A loopback HTTP/1.1 stub server for the backend tests (compiled for tests only).
//!
//! [`Stub::start`] binds `127.0.0.1:0` and answers each connection with the next canned
//! response, recording every request's method, path, headers and body first. Every answer says
//! `Connection: close`, so one connection is one request. [`Canned::Hang`] reads the request and
//! never answers, until the client gives up. Dropping the stub stops its accept thread.
//!
//! [`Stub::rate_limited`] plays a provider with a requests-per-minute limit instead: a token
//! bucket (refilling at the limit, holding `burst` requests) decides in arrival order; a request
//! within the limit gets the canned answer, one over it a 429 with `retry-after-ms`, and every
//! answer carries OpenAI's `x-ratelimit-limit/remaining/reset-requests` headers.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request the stub saw.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the request body is JSON")
    }
}

/// One canned answer.
#[derive(Debug, Clone)]
pub(crate) enum Canned {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        /// Bytes, so a canned image can be served.
        body: Vec<u8>,
    },
    /// Read the request, never answer.
    Hang,
}

impl Canned {
    pub(crate) fn status(status: u16, body: impl Into<String>) -> Self {
        Canned::Respond {
            status,
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// A 200 answer of raw bytes (an image file).
    pub(crate) fn bytes(body: &[u8]) -> Self {
        Canned::Respond {
            status: 200,
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    /// A 200 chat completion whose message content is `text`.
    pub(crate) fn chat(text: &str) -> Self {
        let body = serde_json::json!({
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": "stub-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        });
        Canned::status(200, body.to_string())
    }

    pub(crate) fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            Canned::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_string(), value.to_string()));
                Canned::Respond {
                    status,
                    headers,
                    body,
                }
            }
            Canned::Hang => Canned::Hang,
        }
    }
}

/// A running stub.
pub(crate) struct Stub {
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// 429s answered by a rate-limited stub.
    refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// How the stub picks each answer.
enum Responder {
    /// The canned answers in order, then 418s.
    Queue(VecDeque<Canned>),
    /// `answer` within a requests-per-minute limit, 429 over it.
    Limited { bucket: Bucket, answer: Canned },
}

/// A token bucket: `rate` requests per second, at most `burst` saved up.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token if there is one; returns whether it did and the tokens left.
    fn take(&mut self) -> (bool, f64) {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            (true, self.tokens)
        } else {
            (false, self.tokens)
        }
    }
}

impl Responder {
    fn next(&mut self, refused: &AtomicUsize) -> Canned {
        match self {
            Responder::Queue(queue) => queue.pop_front().unwrap_or_else(|| {
                Canned::status(
                    418,
                    r#"{"error":{"message":"stub: no canned response left"}}"#,
                )
            }),
            Responder::Limited { bucket, answer } => {
                let (allowed, left) = bucket.take();
                // OpenAI's meaning: the time until the bucket is full again.
                let reset_ms = ((bucket.burst - left) / bucket.rate * 1000.0).ceil();
                let limit = format!("{}", (bucket.rate * 60.0).round());
                let remaining = format!("{}", left.floor());
                let reset = format!("{reset_ms}ms");
                let canned = if allowed {
                    answer.clone()
                } else {
                    refused.fetch_add(1, Ordering::SeqCst);
                    let wait_ms = ((1.0 - left) / bucket.rate * 1000.0).ceil();
                    Canned::status(
                        429,
                        r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#,
                    )
                    .with_header("retry-after-ms", &format!("{wait_ms}"))
                };
                canned
                    .with_header("x-ratelimit-limit-requests", &limit)
                    .with_header("x-ratelimit-remaining-requests", &remaining)
                    .with_header("x-ratelimit-reset-requests", &reset)
            }
        }
    }
}

impl Stub {
    /// Starts a stub that answers connections with `responses` in order (then 418s).
    pub(crate) fn start(responses: Vec<Canned>) -> Stub {
        Stub::start_with(|_| responses)
    }

    /// [`Stub::start`] with answers that need the stub's own URL (`http://127.0.0.1:<port>`).
    pub(crate) fn start_with(responses: impl FnOnce(&str) -> Vec<Canned>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let queue = responses(&format!("http://{addr}"));
        Stub::serve_on(listener, Responder::Queue(VecDeque::from(queue)))
    }

    /// Starts a stub that enforces `per_minute` requests per minute (a bucket of `burst`,
    /// full at the start), answering `answer` within the limit and 429 over it.
    pub(crate) fn rate_limited(per_minute: u32, burst: u32, answer: Canned) -> Stub {
        let burst = f64::from(burst.max(1));
        Stub::serve_with(Responder::Limited {
            bucket: Bucket {
                rate: f64::from(per_minute) / 60.0,
                burst,
                tokens: burst,
                at: Instant::now(),
            },
            answer,
        })
    }

    fn serve_with(responder: Responder) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        Stub::serve_on(listener, responder)
    }

    fn serve_on(listener: TcpListener, mut responder: Responder) -> Stub {
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (requests, refused, stop) = (
                Arc::clone(&requests),
                Arc::clone(&refused),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // Decided in arrival order, on this thread.
                    let canned = responder.next(&refused);
                    let requests = Arc::clone(&requests);
                    std::thread::spawn(move || serve(stream, canned, &requests));
                }
            })
        };
        Stub {
            url: format!("http://{addr}"),
            addr,
            requests,
            refused,
            stop,
            accept: Some(accept),
        }
    }

    /// The requests seen so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }

    /// How many requests a rate-limited stub answered with 429.
    pub(crate) fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(mut stream: TcpStream, canned: Canned, requests: &Mutex<Vec<Recorded>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    requests.lock().expect("requests").push(request);
    match canned {
        Canned::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
        Canned::Hang => {
            // Wait for the client to give up (EOF or error), then drop the connection.
            let mut sink = [0u8; 256];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}
