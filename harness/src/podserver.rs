//! The pod's server process (`svclab pod-server`): a small HTTP/1.1 server
//! with the knobs incidents need. It enters its pod netns before creating
//! any thread or socket, listens with the suite's backlog, and runs a fixed
//! set of worker threads that each call accept() only when free — so under
//! load connections wait in the kernel's accept queue while the handshake
//! still completes, as with a real overloaded server. Every response names
//! the pod that served it (body and `X-Pod` header).
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    path::PathBuf,
    time::Duration,
};

use anyhow::Context as _;
use socket2::{Domain, Socket, Type};

/// Who closes the connection after a `Connection: close` exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CloseMode {
    /// The server closes right after writing the response.
    Server,
    /// The server waits for the client to close (reads until EOF).
    Client,
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The pod's netns (e.g. /run/netns/svl-r1-web-0); entered first.
    #[arg(long)]
    pub netns: Option<PathBuf>,
    /// Pod name reported in every response.
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value_t = 4)]
    pub workers: u32,
    #[arg(long, default_value_t = 128)]
    pub backlog: i32,
    /// Time spent per request before answering, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub service_time_us: u64,
    #[arg(long, value_enum, default_value_t = CloseMode::Server)]
    pub close: CloseMode,
}

pub fn serve(args: ServerArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.netns {
        let ns = svclab_datapath::NetnsRef::open(path)?;
        ns.enter_current_thread()
            .context("entering the pod netns")?;
    }
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).context("socket")?;
    sock.set_reuse_address(true).context("SO_REUSEADDR")?;
    sock.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, args.port).into())
        .with_context(|| format!("bind port {}", args.port))?;
    sock.listen(args.backlog).context("listen")?;
    let listener: TcpListener = sock.into();
    let service_time = Duration::from_micros(args.service_time_us);
    let name: &'static str = Box::leak(args.name.into_boxed_str());
    std::thread::scope(|s| {
        for _ in 0..args.workers.max(1) {
            let listener = &listener;
            s.spawn(move || {
                // Accept only when this worker is free: the backlog holds the rest.
                while let Ok((stream, _)) = listener.accept() {
                    let _ = handle(stream, name, service_time, args.close);
                }
            });
        }
    });
    Ok(())
}

/// Serves one connection: requests until the client asks to close (or
/// closes), applying the close mode to the final exchange.
fn handle(
    mut s: TcpStream,
    name: &str,
    service_time: Duration,
    close: CloseMode,
) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        // Read one request head.
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Ok(()); // client closed
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 64 * 1024 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let keep_alive = wants_keep_alive(&head);
        if !service_time.is_zero() {
            std::thread::sleep(service_time);
        }
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        let body = if path.starts_with("/healthz") {
            format!("ok {name}\n")
        } else {
            format!("{name}\n")
        };
        let conn = if keep_alive { "keep-alive" } else { "close" };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Pod: {name}\r\nConnection: {conn}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes())?;
        if !keep_alive {
            if close == CloseMode::Client {
                // Wait for the client's FIN; it closes first.
                while s.read(&mut chunk)? > 0 {}
            }
            return Ok(());
        }
    }
}

fn wants_keep_alive(head_lower: &str) -> bool {
    let http10 = head_lower
        .lines()
        .next()
        .is_some_and(|l| l.ends_with("http/1.0"));
    let conn = head_lower
        .lines()
        .find_map(|l| l.strip_prefix("connection:"))
        .map(str::trim)
        .unwrap_or("");
    if http10 {
        conn == "keep-alive"
    } else {
        conn != "close"
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_rules() {
        assert!(wants_keep_alive("get / http/1.1\r\nhost: x\r\n\r\n"));
        assert!(!wants_keep_alive(
            "get / http/1.1\r\nconnection: close\r\n\r\n"
        ));
        assert!(!wants_keep_alive("get / http/1.0\r\n\r\n"));
        assert!(wants_keep_alive(
            "get / http/1.0\r\nconnection: keep-alive\r\n\r\n"
        ));
    }
}
