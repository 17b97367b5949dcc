//! A loopback stand-in for an OpenAI-compatible server, for benchmarks: answers every
//! `POST /chat/completions` after a fixed delay with a short scene that carries any A/B token
//! found in the request. Prints its base URL on the first line of stdout, then serves until killed.
//!
//! Usage: cargo run --release -p image-project --example chat_stub -- [DELAY_MS]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let delay_ms: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(100);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("http://{}/v1", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(error) = answer(stream, Duration::from_millis(delay_ms)) {
                eprintln!("chat_stub: {error}");
            }
        });
    }
    Ok(())
}

fn answer(stream: TcpStream, delay: Duration) -> std::io::Result<()> {
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
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}
