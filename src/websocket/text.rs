//! [`Utf8Bytes`]: a text message's UTF-8, shared rather than copied.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// The UTF-8 text of a [`Message::Text`](crate::Message::Text): a `str` held
/// in [`Bytes`], so a text message goes from the connection to the handler
/// and back without a copy. It derefs to `str`, compares with `str` and
/// `String`, and is made from a `String` or `&str` (`.into()`).
///
/// ```
/// use handover::Utf8Bytes;
/// let text = Utf8Bytes::from("hello");
/// assert_eq!(text, "hello");
/// assert!(text.starts_with("he"));
/// assert_eq!(text.as_str().len(), 5);
/// assert!(Utf8Bytes::try_from(vec![0xff, 0xfe]).is_err());
/// ```
///
/// For an adapter running the protocol with tungstenite it converts from
/// and into `tungstenite::Utf8Bytes` (the version the root crate depends
/// on) without checking the UTF-8 again.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(tungstenite::Utf8Bytes);

impl Utf8Bytes {
    /// Text from a `&'static str`, without a copy.
    pub const fn from_static(text: &'static str) -> Utf8Bytes {
        Utf8Bytes(tungstenite::Utf8Bytes::from_static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<String> for Utf8Bytes {
    /// Takes the string's buffer, without a copy.
    fn from(text: String) -> Utf8Bytes {
        Utf8Bytes(text.into())
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Utf8Bytes {
        Utf8Bytes(text.into())
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Utf8Bytes {
        Utf8Bytes(text.as_str().into())
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that `bytes` are UTF-8, and keeps them without a copy.
    fn try_from(bytes: Bytes) -> Result<Utf8Bytes, std::str::Utf8Error> {
        tungstenite::Utf8Bytes::try_from(bytes).map(Utf8Bytes)
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that `bytes` are UTF-8, and keeps them without a copy.
    fn try_from(bytes: Vec<u8>) -> Result<Utf8Bytes, std::str::Utf8Error> {
        tungstenite::Utf8Bytes::try_from(bytes).map(Utf8Bytes)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Bytes {
        text.0.into()
    }
}

impl From<Utf8Bytes> for String {
    /// Copies the text into a `String`.
    fn from(text: Utf8Bytes) -> String {
        text.as_str().to_owned()
    }
}

impl From<tungstenite::Utf8Bytes> for Utf8Bytes {
    fn from(text: tungstenite::Utf8Bytes) -> Utf8Bytes {
        Utf8Bytes(text)
    }
}

impl From<Utf8Bytes> for tungstenite::Utf8Bytes {
    fn from(text: Utf8Bytes) -> tungstenite::Utf8Bytes {
        text.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_compares_converts_and_refuses_what_is_not_utf8() {
        let owned = String::from("héllo");
        let text = Utf8Bytes::from(owned.clone());
        assert_eq!(text, owned);
        assert_eq!(text, "héllo");
        assert_eq!("héllo", text);
        assert_eq!(text.len(), owned.len());
        assert_eq!(format!("{text}|{text:?}"), "héllo|\"héllo\"");
        let bytes = Bytes::from(text.clone());
        assert_eq!(&bytes[..], owned.as_bytes());
        assert_eq!(Utf8Bytes::try_from(bytes).as_ref(), Ok(&text));
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"\xc3")).is_err());
        assert_eq!(String::from(Utf8Bytes::from_static("x")), "x");
        assert_eq!(Utf8Bytes::default(), "");
    }
}
