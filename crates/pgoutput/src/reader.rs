//! Bounds-checked big-endian reads over a byte buffer.
//!
//! Every decoder in this crate reads through [`Reader`], so the one place
//! that proves "no read past the end" is here: each read checks the
//! remaining length first and returns [`DecodeError`] naming the field it
//! was reading. Byte-string values are returned as [`Bytes`] slices of the
//! input, so decoding a row never copies its column values.

use bytes::{Buf, Bytes};

use crate::DecodeError;

/// A cursor over the unread part of one message.
#[derive(Debug)]
pub(crate) struct Reader {
    rest: Bytes,
}

impl Reader {
    /// Starts reading `buf` from its first byte.
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { rest: buf }
    }

    /// Number of unread bytes.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Takes the next `N` bytes.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = *self
            .rest
            .first_chunk::<N>()
            .ok_or(DecodeError::UnexpectedEof(field))?;
        // Cannot panic: `first_chunk` just proved N bytes are there.
        self.rest.advance(N);
        Ok(bytes)
    }

    /// Reads an Int8 (PostgreSQL's `Byte1`/`Int8`).
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(field).map(|[byte]| byte)
    }

    /// Reads a signed Int16.
    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        self.array(field).map(i16::from_be_bytes)
    }

    /// Reads a signed Int32.
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// Reads an Int32 that the protocol treats as unsigned (OIDs, xids).
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    /// Reads a signed Int64.
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// Reads an Int64 that the protocol treats as unsigned (LSNs).
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }

    /// Reads a boolean sent as an Int8 that must be 0 or 1.
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidByte { field, value }),
        }
    }

    /// Reads a NUL-terminated UTF-8 string and consumes its terminator.
    pub(crate) fn cstr(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let nul = self
            .rest
            .iter()
            .position(|&byte| byte == 0)
            .ok_or(DecodeError::InvalidString(field))?;
        let text = self
            .rest
            .get(..nul)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .ok_or(DecodeError::InvalidString(field))?
            .to_owned();
        // Cannot panic: byte `nul` exists, so `nul + 1 <= len`.
        self.rest.advance(nul + 1);
        Ok(text)
    }

    /// Takes the next `len` bytes without copying them.
    pub(crate) fn bytes(&mut self, len: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::UnexpectedEof(field));
        }
        Ok(self.rest.split_to(len))
    }

    /// Reads an Int32 byte length, then that many bytes without copying them.
    pub(crate) fn len_prefixed(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.i32(field)?;
        let len = self.check_count(len.into(), 1, field)?;
        self.bytes(len, field)
    }

    /// Validates a count read from the wire before anything is sized by it:
    /// `count` items of at least `min_item_len` bytes each must fit in what
    /// remains. A negative count, or one the input cannot hold, is
    /// [`DecodeError::InvalidLength`], so a hostile count can never drive an
    /// allocation larger than the message itself.
    pub(crate) fn check_count(
        &self,
        count: i64,
        min_item_len: usize,
        field: &'static str,
    ) -> Result<usize, DecodeError> {
        usize::try_from(count)
            .ok()
            .filter(|&n| {
                n.checked_mul(min_item_len)
                    .is_some_and(|needed| needed <= self.rest.len())
            })
            .ok_or(DecodeError::InvalidLength { field, len: count })
    }

    /// Everything not yet read, consuming the reader.
    pub(crate) fn into_rest(self) -> Bytes {
        self.rest
    }

    /// Succeeds only when the whole input has been read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes(extra)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> Reader {
        Reader::new(Bytes::from_static(bytes))
    }

    #[test]
    fn reads_big_endian_integers() {
        let mut r = reader(&[
            0x01, 0xff, 0xfe, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 2,
        ]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.i16("b"), Ok(-2));
        assert_eq!(r.i32("c"), Ok(i32::MIN));
        assert_eq!(r.u32("d"), Ok(u32::MAX));
        assert_eq!(r.u64("e"), Ok(2));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn short_reads_name_the_field_and_consume_nothing() {
        let mut r = reader(&[0, 0, 0]);
        assert_eq!(r.i32("xid"), Err(DecodeError::UnexpectedEof("xid")));
        assert_eq!(r.i64("lsn"), Err(DecodeError::UnexpectedEof("lsn")));
        assert_eq!(r.remaining(), 3);
    }

    #[test]
    fn strings_need_a_terminator_and_utf8() {
        let mut r = reader(b"public\0caf\xc3\xa9\0");
        assert_eq!(r.cstr("ns").as_deref(), Ok("public"));
        assert_eq!(r.cstr("name").as_deref(), Ok("café"));
        assert_eq!(r.finish(), Ok(()));

        let mut r = reader(b"no terminator");
        assert_eq!(r.cstr("name"), Err(DecodeError::InvalidString("name")));
        let mut r = reader(b"\xff\0");
        assert_eq!(r.cstr("name"), Err(DecodeError::InvalidString("name")));
        let mut r = reader(b"\0");
        assert_eq!(r.cstr("name").as_deref(), Ok(""));
    }

    #[test]
    fn length_prefixed_values_are_checked_against_the_input() {
        let mut r = reader(&[0, 0, 0, 2, b'h', b'i', 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.len_prefixed("v"), Ok(Bytes::from_static(b"hi")));
        assert_eq!(
            r.len_prefixed("v"),
            Err(DecodeError::InvalidLength {
                field: "v",
                len: -1
            })
        );
        let mut r = reader(&[0x7f, 0xff, 0xff, 0xff, 0]);
        assert_eq!(
            r.len_prefixed("v"),
            Err(DecodeError::InvalidLength {
                field: "v",
                len: i64::from(i32::MAX)
            })
        );
    }

    #[test]
    fn counts_must_fit_in_the_remaining_input() {
        let r = reader(&[0; 10]);
        assert_eq!(r.check_count(1, 10, "n"), Ok(1));
        assert_eq!(r.check_count(0, 10, "n"), Ok(0));
        assert!(r.check_count(2, 10, "n").is_err());
        assert!(r.check_count(-1, 1, "n").is_err());
        assert!(r.check_count(i64::MAX, usize::MAX, "n").is_err());
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r = reader(&[1, 2, 3]);
        assert_eq!(r.u8("tag"), Ok(1));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(2)));
    }
}
