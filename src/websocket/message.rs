//! The messages a WebSocket carries, and the Close frame's code and reason.

use bytes::Bytes;

use super::text::Utf8Bytes;

/// One WebSocket message (fragmented messages arrive whole).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message (UTF-8, checked by the protocol layer), shared
    /// rather than copied: it derefs to `str`.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; the server answers it with a pong by itself.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's Close frame, with its code and reason when it gave one.
    Close(Option<CloseFrame>),
}

impl Message {
    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Message {
        Message::Text(text)
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text.into())
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Message {
        Message::Binary(data)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data.into())
    }
}

/// A Close frame's status code (RFC 6455, section 7.4) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: u16,
    /// The reason, at most 123 bytes of UTF-8.
    pub reason: String,
}

impl CloseFrame {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the server is going away (a drain with no restart coming).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1009: a message or frame was larger than the configured limit.
    pub const TOO_BIG: u16 = 1009;
    /// 1011: the server met an unexpected condition (the handler panicked).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// 1012: the service is restarting (a drain under a supervisor that
    /// starts the next generation); a client reconnects at once.
    pub const SERVICE_RESTART: u16 = 1012;

    /// A Close frame with `code` and `reason` (cut to 123 bytes at a
    /// character boundary, the most a Close frame holds).
    pub fn new(code: u16, reason: &str) -> CloseFrame {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame {
            code,
            reason: reason[..end].to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let frame = CloseFrame::new(CloseFrame::NORMAL, &long);
        assert!(frame.reason.len() <= 123);
        assert_eq!(frame.reason.chars().count(), 61);
        assert_eq!(Message::from("hi"), Message::Text("hi".into()));
        assert_eq!(
            Message::from(String::from("hi")),
            Message::from(Utf8Bytes::from_static("hi"))
        );
        assert!(Message::from(vec![1u8]).is_data());
        assert!(!Message::Ping(Bytes::new()).is_data());
    }
}
