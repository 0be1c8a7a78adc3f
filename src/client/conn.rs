//! Connections: TCP streams with their read buffer, and the pool of idle keep-alive connections
//! (locked once when a request takes a connection and once when it gives it back, never per
//! chunk).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Initial read buffer of a connection (grows only for very large response heads).
const READ_BUF: usize = 16 * 1024;

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved addresses of the host, tried in order.
    pub addrs: Vec<SocketAddr>,
    /// `Host` header value.
    pub host: String,
    /// Request path (with query).
    pub path: String,
}

/// One HTTP/1.1 connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Taken from the pool (it carried a request before).
    pub reused: bool,
}

impl Conn {
    /// Connects to the first address that answers.
    pub async fn connect(target: &Target, timeout: Duration) -> Result<Conn, ConnectError> {
        let mut last = ConnectError::Failed("no address to connect to".into());
        for addr in &target.addrs {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn {
                        stream,
                        buf: vec![0; READ_BUF],
                        start: 0,
                        end: 0,
                        reused: false,
                    });
                }
                Ok(Err(e)) => last = ConnectError::Failed(format!("{e} connecting to {addr}")),
                Err(_) => {
                    last = ConnectError::TimedOut(format!(
                        "no connection to {addr} within {:.1} s",
                        timeout.as_secs_f64()
                    ))
                }
            }
        }
        Err(last)
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Bytes read and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes after the buffered ones; 0 at end of stream.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let len = self.buf.len() * 2;
                self.buf.resize(len, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Failed(String),
    TimedOut(String),
}

/// Idle keep-alive connections.
pub struct Pool {
    idle: Mutex<Vec<Conn>>,
    max_idle: usize,
}

impl Pool {
    pub fn new(max_idle: usize) -> Pool {
        Pool {
            idle: Mutex::new(Vec::with_capacity(max_idle.min(65_536))),
            max_idle,
        }
    }

    pub fn take(&self) -> Option<Conn> {
        let mut c = self.idle.lock().ok()?.pop()?;
        c.reused = true;
        Some(c)
    }

    /// Keeps a connection whose last response was read completely (and nothing more).
    pub fn put(&self, c: Conn) {
        if !c.buffered().is_empty() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(c);
            }
        }
    }
}
