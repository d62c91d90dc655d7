//! Why a client request failed: the error kinds the run record counts by
//! name, and how an I/O error maps to one.
use std::io;

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    ConnectTimeout,
    Refused,
    Reset,
    /// connect(): no free local port / 4-tuple (EADDRNOTAVAIL).
    AddrNotAvail,
    /// bind(): every pool port tried was busy.
    AddrInUse,
    /// The response did not arrive within the timeout.
    Timeout,
    /// The connection closed before a full response.
    Eof,
    BadResponse,
    /// A 5xx status (a proxy's 502/504 when its upstream failed).
    Http5xx,
    /// Open loop: too many requests in flight; not sent.
    Overload,
    Other,
}

impl ErrorKind {
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::AddrNotAvail => "addr_not_avail",
            ErrorKind::AddrInUse => "addr_in_use",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Eof => "eof",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Overload => "overload",
            ErrorKind::Other => "other",
        }
    }

    pub(super) fn from_io(e: &io::Error, connecting: bool) -> Self {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
            io::ErrorKind::AddrNotAvailable => ErrorKind::AddrNotAvail,
            io::ErrorKind::AddrInUse => ErrorKind::AddrInUse,
            io::ErrorKind::TimedOut if connecting => ErrorKind::ConnectTimeout,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            io::ErrorKind::UnexpectedEof => ErrorKind::Eof,
            _ => ErrorKind::Other,
        }
    }
}
