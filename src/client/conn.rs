//! Connections: TCP streams with their read buffer, and the pool of idle keep-alive connections
//! (locked once when a request takes a connection and once when it gives it back, never per
//! chunk).
//!
//! Every read is timestamped with when its bytes arrived. On Linux that is the kernel's receive
//! timestamp of the last segment the read took (`SO_TIMESTAMPNS`, see [`rx_time`]): exact however
//! late the read itself happens (read coalescing, a busy runtime). Elsewhere, or if the kernel
//! declines, it is the moment the read returned.
//!
//! An `https://` connection reads its ciphertext the same way (one `recvmsg`, one timestamp) and
//! hands it to rustls at once ([`super::tls::Session::absorb`]); the plaintext a read completes
//! carries that read's timestamp, so TLS moves no timestamp.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::tls::{Session, TlsContext, TlsFailKind, TlsFailure};

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
    /// The kernel timestamps this socket's received segments.
    kernel_rx_time: bool,
    /// When the bytes of the latest read arrived; never before the request they answer was
    /// written.
    arrived: Instant,
    /// The TLS session of an `https://` connection.
    tls: Option<Box<Session>>,
    /// How long the TLS handshake took (TCP connected → handshake done); taken by the first
    /// request on the connection.
    pub handshake: Option<Duration>,
}

impl Conn {
    /// Connects to the first address that answers, then (with `tls`) makes the TLS handshake
    /// within the same `timeout`.
    pub async fn connect(
        target: &Target,
        timeout: Duration,
        tls: Option<&TlsContext>,
    ) -> Result<Conn, ConnectError> {
        let mut last = ConnectError::Failed("no address to connect to".into());
        let start = Instant::now();
        for addr in &target.addrs {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let kernel_rx_time = rx_time::enable(&stream);
                    let mut conn = Conn {
                        stream,
                        buf: vec![0; READ_BUF],
                        start: 0,
                        end: 0,
                        reused: false,
                        kernel_rx_time,
                        arrived: Instant::now(),
                        tls: None,
                        handshake: None,
                    };
                    if let Some(ctx) = tls {
                        let left = timeout.saturating_sub(start.elapsed());
                        match tokio::time::timeout(left, conn.handshake(ctx)).await {
                            Ok(r) => r?,
                            Err(_) => {
                                return Err(ConnectError::TimedOut(format!(
                                    "no TLS handshake with {addr} within {:.1} s",
                                    timeout.as_secs_f64()
                                )))
                            }
                        }
                    }
                    return Ok(conn);
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

    /// The TLS handshake (client hello to finished), timed into [`Conn::handshake`].
    async fn handshake(&mut self, ctx: &TlsContext) -> Result<(), ConnectError> {
        let began = Instant::now();
        let fail = |f: TlsFailure| ConnectError::Tls(f.kind, f.message);
        let session = Session::new(ctx).map_err(|e| fail(TlsFailure::of(&e, true)))?;
        let tls = self.tls.insert(Box::new(session));
        loop {
            tls.take_output()
                .map_err(|e| ConnectError::Failed(format!("TLS: {e}")))?;
            if !tls.out.is_empty() {
                self.stream.write_all(&tls.out).await.map_err(|e| {
                    ConnectError::Failed(format!("connection broke during the TLS handshake: {e}"))
                })?;
            }
            if !tls.conn.is_handshaking() {
                break;
            }
            let (n, _) = rx_time::read(&self.stream, &mut tls.cipher)
                .await
                .map_err(|e| {
                    ConnectError::Failed(format!("connection broke during the TLS handshake: {e}"))
                })?;
            if n == 0 {
                return Err(ConnectError::Tls(
                    TlsFailKind::Handshake,
                    "the server closed the connection during the TLS handshake (does it speak TLS on this port?)".into(),
                ));
            }
            // Plaintext sent with the handshake's last flight stays in rustls for `fill`.
            let absorbed = tls.absorb(n, |_| Err(std::io::ErrorKind::WouldBlock.into()));
            if let Err(e) = absorbed {
                // The alert rustls queued for the server (best effort).
                if tls.take_output().is_ok() && !tls.out.is_empty() {
                    let _ = self.stream.write_all(&tls.out).await;
                }
                return Err(match TlsFailure::in_io(&e) {
                    Some(f) => fail(f.clone()),
                    None => ConnectError::Tls(
                        TlsFailKind::Handshake,
                        format!("TLS handshake failed: {e}"),
                    ),
                });
            }
        }
        self.handshake = Some(began.elapsed());
        Ok(())
    }

    /// The negotiated TLS version, cipher suite, ALPN protocol and whether the session was
    /// resumed (`None` on plain HTTP).
    pub fn tls_session(&self) -> Option<(String, String, Option<String>, bool)> {
        let c = &self.tls.as_ref()?.conn;
        Some((
            c.protocol_version()
                .map_or_else(String::new, |v| format!("{v:?}")),
            c.negotiated_cipher_suite()
                .map_or_else(String::new, |s| format!("{:?}", s.suite())),
            c.alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            c.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        ))
    }

    /// Writes a request. Its answer's bytes are timestamped no earlier than now.
    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.arrived = Instant::now();
        let Some(tls) = self.tls.as_mut() else {
            return self.stream.write_all(bytes).await;
        };
        let mut rest = bytes;
        loop {
            let n = tls.encrypt(rest)?;
            rest = &rest[n..];
            tls.take_output()?;
            self.stream.write_all(&tls.out).await?;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Whether reads carry the kernel's receive timestamps (else: the time each read returned).
    pub fn kernel_rx_time(&self) -> bool {
        self.kernel_rx_time
    }

    /// When the bytes of the latest [`Conn::fill`] arrived: the kernel's receive time of the last
    /// segment it read, or when the read returned. Never earlier than the previous read's or the
    /// request's write.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }

    /// Whether a connection that sat idle in the pool can carry another request: no byte is
    /// buffered and none arrived while it was idle (stray bytes after the previous response, or
    /// the server's close). Peeks at the socket, so it sees bytes the runtime has not noticed yet.
    pub fn idle_clean(&self) -> bool {
        self.buffered().is_empty() && idle::nothing_to_read(&self.stream)
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

    /// Reads more bytes after the buffered ones; 0 at end of stream. On TLS: reads ciphertext
    /// until some plaintext is complete (the timestamp is that of the read that completed it).
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        if self.tls.is_some() {
            return self.fill_tls().await;
        }
        make_room(&mut self.buf, &mut self.start, &mut self.end);
        let (n, stamp) = rx_time::read(&self.stream, &mut self.buf[self.end..]).await?;
        let at = stamp.map_or_else(Instant::now, rx_time::arrival);
        self.arrived = at.max(self.arrived);
        self.end += n;
        Ok(n)
    }

    async fn fill_tls(&mut self) -> std::io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(0);
        };
        let (buf, start, end) = (&mut self.buf, &mut self.start, &mut self.end);
        let mut sink = |r: &mut dyn std::io::Read| {
            make_room(buf, start, end);
            let k = r.read(&mut buf[*end..])?;
            *end += k;
            Ok(k)
        };
        let moved = tls.drain(&mut sink)?;
        if moved > 0 {
            return Ok(moved);
        }
        loop {
            if tls.eof {
                return Ok(0);
            }
            let (n, stamp) = rx_time::read(&self.stream, &mut tls.cipher).await?;
            let at = stamp.map_or_else(Instant::now, rx_time::arrival);
            self.arrived = at.max(self.arrived);
            let moved = tls.absorb(n, &mut sink)?;
            // A TLS 1.3 key update asks for an answer.
            if tls.conn.wants_write() {
                tls.take_output()?;
                self.stream.write_all(&tls.out).await?;
            }
            if moved > 0 {
                return Ok(moved);
            }
        }
    }
}

/// Makes room after the buffered bytes: moves them to the front, or doubles the buffer.
fn make_room(buf: &mut Vec<u8>, start: &mut usize, end: &mut usize) {
    if *end == buf.len() {
        if *start > 0 {
            buf.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
        } else {
            let len = buf.len() * 2;
            buf.resize(len, 0);
        }
    }
}

/// Reads with the kernel's receive timestamps (Linux: `SO_TIMESTAMPNS` on a TCP socket makes
/// `recvmsg` return the `CLOCK_REALTIME` time at which the last segment it copied was received).
mod rx_time {
    use std::time::{Duration, Instant, SystemTime};

    use tokio::net::TcpStream;

    /// A kernel timestamp as a monotonic instant. The two clocks are read as a pair — realtime,
    /// monotonic, realtime — so a thread preempted between the readings cannot shift the
    /// result by the preemption: a pair wider than 20 µs is read again (three tries, the
    /// tightest kept), and the realtime reading used is the midpoint.
    pub fn arrival(stamp: SystemTime) -> Instant {
        let mut best: Option<(Duration, Instant, SystemTime)> = None;
        for _ in 0..3 {
            let r1 = SystemTime::now();
            let m = Instant::now();
            let r2 = SystemTime::now();
            let width = r2.duration_since(r1).unwrap_or(Duration::ZERO);
            if best.is_none_or(|(w, _, _)| width < w) {
                best = Some((width, m, r1 + width / 2));
            }
            if width < Duration::from_micros(20) {
                break;
            }
        }
        match best {
            Some((_, now, real_now)) => to_instant(stamp, now, real_now),
            None => Instant::now(),
        }
    }

    /// `stamp` on the realtime clock, as an instant on the monotonic clock: `now` minus the age of
    /// the timestamp. Both clocks tick at the same rate; a timestamp "in the future" (a clock step)
    /// gives `now`.
    pub fn to_instant(stamp: SystemTime, now: Instant, real_now: SystemTime) -> Instant {
        let age = real_now.duration_since(stamp).unwrap_or(Duration::ZERO);
        now.checked_sub(age).unwrap_or(now)
    }

    /// Asks the kernel to timestamp the segments this socket receives.
    #[cfg(target_os = "linux")]
    pub fn enable(stream: &TcpStream) -> bool {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket this process owns, with a pointer to a live c_int and
        // its size.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn enable(_: &TcpStream) -> bool {
        false
    }

    /// Reads into `buf`: the bytes read and, if the kernel sent one, their receive timestamp.
    pub async fn read(
        stream: &TcpStream,
        buf: &mut [u8],
    ) -> std::io::Result<(usize, Option<SystemTime>)> {
        use std::io::ErrorKind;
        use tokio::io::Interest;
        let space = buf.len();
        loop {
            stream.readable().await?;
            let mut got = None;
            let r = stream.try_io(Interest::READABLE, || {
                let (n, stamp) = read_now(stream, buf)?;
                got = Some((n, stamp));
                // A read that did not fill the buffer emptied the socket: report WouldBlock so
                // tokio clears the readiness now instead of after one more (empty) read — what
                // tokio's own `poll_read` does for the same reason.
                if n > 0 && n < space {
                    Err(ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (got, r) {
                (Some(read), _) => return Ok(read),
                (None, Err(e)) if e.kind() == ErrorKind::WouldBlock => continue,
                (None, Err(e)) => return Err(e),
                (None, Ok(())) => continue,
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn read_now(
        stream: &TcpStream,
        buf: &mut [u8],
    ) -> std::io::Result<(usize, Option<SystemTime>)> {
        use std::os::fd::AsRawFd;
        recvmsg(stream.as_raw_fd(), buf)
    }

    #[cfg(not(target_os = "linux"))]
    fn read_now(
        stream: &TcpStream,
        buf: &mut [u8],
    ) -> std::io::Result<(usize, Option<SystemTime>)> {
        Ok((stream.try_read(buf)?, None))
    }

    /// One non-blocking `recvmsg`: bytes read and the `SCM_TIMESTAMPNS` control message, if any.
    #[cfg(target_os = "linux")]
    fn recvmsg(fd: libc::c_int, buf: &mut [u8]) -> std::io::Result<(usize, Option<SystemTime>)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for a few control messages; u64 elements keep it aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: an all-zero msghdr is valid (null name, no control) before the fields are set.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at a live iovec over `buf` and at `control`, both outliving the call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
        // msg_controllen; the payload of SCM_TIMESTAMPNS is a timespec, read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    if let (Ok(s), Ok(ns)) = (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
                        if ns < 1_000_000_000 {
                            stamp = Some(SystemTime::UNIX_EPOCH + Duration::new(s, ns));
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok((n as usize, stamp))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_timestamp_becomes_an_instant_as_old_as_it_is() {
            let now = Instant::now();
            let real = SystemTime::now();
            let t = to_instant(real - Duration::from_millis(3), now, real);
            assert_eq!(now - t, Duration::from_millis(3));
            // From the future (the realtime clock stepped back): now.
            assert_eq!(to_instant(real + Duration::from_secs(1), now, real), now);
        }

        #[test]
        fn a_fresh_kernel_stamp_is_now() {
            let before = Instant::now();
            let t = arrival(SystemTime::now());
            let after = Instant::now();
            // Within the clock-pair tolerance of the interval around the call.
            assert!(
                t + Duration::from_millis(5) >= before && t <= after,
                "{before:?} {t:?} {after:?}"
            );
        }
    }
}

mod idle {
    use tokio::net::TcpStream;

    /// No byte and no end of stream waits in the socket (`recv` with `MSG_PEEK | MSG_DONTWAIT`
    /// would block).
    #[cfg(unix)]
    pub fn nothing_to_read(stream: &TcpStream) -> bool {
        use std::os::fd::AsRawFd;
        let mut byte = 0u8;
        // SAFETY: a one-byte recv into a live local, on a socket this process owns; MSG_PEEK
        // leaves any byte in the socket.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
    }

    #[cfg(not(unix))]
    pub fn nothing_to_read(stream: &TcpStream) -> bool {
        let mut byte = [0u8; 1];
        matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Failed(String),
    TimedOut(String),
    /// The TLS handshake failed (certificate, alert, anything else).
    Tls(TlsFailKind, String),
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

    /// An idle connection that nothing arrived on while it was idle; the others (stray bytes,
    /// closed by the server) are closed and dropped.
    pub fn take(&self) -> Option<Conn> {
        loop {
            let mut c = self.idle.lock().ok()?.pop()?;
            if c.idle_clean() {
                c.reused = true;
                return Some(c);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A pooled connection on which bytes arrived (or that the server closed) while it was idle
    /// is not handed out again.
    #[tokio::test]
    async fn the_pool_drops_connections_with_stray_bytes_or_closed_by_the_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target {
            addrs: vec![listener.local_addr().unwrap()],
            host: String::new(),
            path: String::new(),
        };
        let pool = Pool::new(4);
        let mut server_ends = Vec::new();
        for _ in 0..3 {
            let c = Conn::connect(&target, Duration::from_secs(5), None)
                .await
                .unwrap();
            server_ends.push(listener.accept().unwrap().0);
            pool.put(c);
        }
        // Kept: the first connection (quiet). Stray bytes on the second, the third closed.
        server_ends[1].write_all(b"\r\nstray").unwrap();
        server_ends.pop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let c = pool.take().expect("the quiet connection");
        assert!(c.reused && c.idle_clean());
        assert!(pool.take().is_none(), "the other two were dropped");
    }
}
