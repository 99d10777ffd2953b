//! The canonical zip of an export, and its strict reader.
//!
//! An export's zip has exactly one byte layout for a given list of entries (name, content):
//! entries stored (no compression), in order, each a local header followed by its bytes, then
//! the central directory and the end record, nothing else. Every header field is fixed or a
//! function of (name, size, CRC-32, offset): time 00:00 and date 1980-01-01, flags `0x0800`
//! (UTF-8 names), version 2.0 (4.5 with ZIP64), made by Unix with mode 0644, no comments, no
//! extra fields except the ZIP64 one when a size or offset needs it (only then, and with only
//! the fields that overflow).
//!
//! [`StrictReader`] reads a zip front to back and accepts it only if every byte is that
//! canonical layout: each local header is rebuilt from the name, size and CRC it declares and
//! compared byte for byte; each entry's CRC-32 is recomputed; the central directory and end
//! record must equal the ones rebuilt from the entries read; nothing may follow. So a file the
//! reader accepts is *exactly* `canonical(entries)`: whoever has authenticated the entries'
//! names, order and contents (the signed manifest does) has authenticated every byte of the
//! file. Works over any `Read`/`Write`; opens nothing itself.

use std::io::{self, Read, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const MAX32: u64 = 0xFFFF_FFFF;
/// Bit 11: names are UTF-8.
const FLAGS: u16 = 0x0800;
const DOS_TIME: u16 = 0;
/// 1980-01-01, the first day a zip can name.
const DOS_DATE: u16 = 0x0021;
/// Unix, zip 4.5.
const MADE_BY: u16 = (3 << 8) | 45;
/// `-rw-r--r--` in the high half (Unix attributes).
const FILE_MODE: u32 = 0o100_644 << 16;
/// Longest entry name accepted (bytes).
pub const MAX_NAME: usize = 4096;
/// The fixed part of a local header (without its signature).
const LOCAL_FIXED: usize = 26;

/// An entry as laid out in the zip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    pub name: String,
    pub size: u64,
    pub crc32: u32,
    /// Offset of its local header.
    pub offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("reading or writing the archive: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Format(String),
}

fn format_error(m: impl Into<String>) -> ZipError {
    ZipError::Format(m.into())
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn small32(v: u64) -> u32 {
    u32::try_from(v.min(MAX32)).unwrap_or(u32::MAX)
}
fn len16(v: usize) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}
fn version(zip64: bool) -> u16 {
    if zip64 {
        45
    } else {
        20
    }
}

/// An entry name the format allows: relative, `/`-separated, no empty, `.` or `..` parts, no
/// backslashes or control characters, at most [`MAX_NAME`] bytes.
pub fn check_name(name: &str) -> Result<(), ZipError> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME
        || name.contains('\\')
        || name.chars().any(char::is_control)
        || name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        return Err(format_error(format!("entry name {name:?} is not allowed")));
    }
    Ok(())
}

/// The canonical local header of an entry.
pub fn local_header(name: &str, size: u64, crc32: u32) -> Vec<u8> {
    let zip64 = size >= MAX32;
    let mut b = Vec::with_capacity(30 + name.len() + 20);
    put32(&mut b, LOCAL_SIG);
    put16(&mut b, version(zip64));
    put16(&mut b, FLAGS);
    put16(&mut b, 0); // stored
    put16(&mut b, DOS_TIME);
    put16(&mut b, DOS_DATE);
    put32(&mut b, crc32);
    put32(&mut b, small32(size));
    put32(&mut b, small32(size));
    put16(&mut b, len16(name.len()));
    put16(&mut b, if zip64 { 20 } else { 0 });
    b.extend_from_slice(name.as_bytes());
    if zip64 {
        put16(&mut b, 1);
        put16(&mut b, 16);
        put64(&mut b, size);
        put64(&mut b, size);
    }
    b
}

/// The canonical central directory header of an entry.
pub fn central_header(e: &EntryMeta) -> Vec<u8> {
    let big_size = e.size >= MAX32;
    let big_offset = e.offset >= MAX32;
    let mut extra = Vec::new();
    if big_size {
        put64(&mut extra, e.size);
        put64(&mut extra, e.size);
    }
    if big_offset {
        put64(&mut extra, e.offset);
    }
    let mut b = Vec::with_capacity(46 + e.name.len() + 28);
    put32(&mut b, CENTRAL_SIG);
    put16(&mut b, MADE_BY);
    put16(&mut b, version(big_size || big_offset));
    put16(&mut b, FLAGS);
    put16(&mut b, 0);
    put16(&mut b, DOS_TIME);
    put16(&mut b, DOS_DATE);
    put32(&mut b, e.crc32);
    put32(&mut b, small32(e.size));
    put32(&mut b, small32(e.size));
    put16(&mut b, len16(e.name.len()));
    put16(
        &mut b,
        if extra.is_empty() {
            0
        } else {
            4 + len16(extra.len())
        },
    );
    put16(&mut b, 0); // comment
    put16(&mut b, 0); // disk
    put16(&mut b, 0); // internal attributes
    put32(&mut b, FILE_MODE);
    put32(&mut b, small32(e.offset));
    b.extend_from_slice(e.name.as_bytes());
    if !extra.is_empty() {
        put16(&mut b, 1);
        put16(&mut b, len16(extra.len()));
        b.extend_from_slice(&extra);
    }
    b
}

/// The canonical end of the archive: (ZIP64 end record and locator when needed) and the end
/// of central directory record, without a comment.
pub fn end_records(count: u64, cd_offset: u64, cd_size: u64) -> Vec<u8> {
    let zip64 = count >= 0xFFFF || cd_offset >= MAX32 || cd_size >= MAX32;
    let mut b = Vec::with_capacity(98);
    if zip64 {
        put32(&mut b, ZIP64_END_SIG);
        put64(&mut b, 44);
        put16(&mut b, MADE_BY);
        put16(&mut b, 45);
        put32(&mut b, 0);
        put32(&mut b, 0);
        put64(&mut b, count);
        put64(&mut b, count);
        put64(&mut b, cd_size);
        put64(&mut b, cd_offset);
        put32(&mut b, ZIP64_LOCATOR_SIG);
        put32(&mut b, 0);
        put64(&mut b, cd_offset + cd_size);
        put32(&mut b, 1);
    }
    let count16 = u16::try_from(count.min(0xFFFF)).unwrap_or(u16::MAX);
    put32(&mut b, END_SIG);
    put16(&mut b, 0);
    put16(&mut b, 0);
    put16(&mut b, count16);
    put16(&mut b, count16);
    put32(&mut b, small32(cd_size));
    put32(&mut b, small32(cd_offset));
    put16(&mut b, 0);
    b
}

struct Open {
    name: String,
    size: u64,
    offset: u64,
    crc: crc32fast::Hasher,
    written: u64,
}

/// Writes a canonical zip to a seekable output that starts empty. Each entry's size is given
/// up front; its CRC-32 is patched into the local header when the entry ends.
pub struct Writer<W: Write + Seek> {
    out: W,
    pos: u64,
    entries: Vec<EntryMeta>,
    open: Option<Open>,
}

impl<W: Write + Seek> Writer<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            pos: 0,
            entries: Vec::new(),
            open: None,
        }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Starts an entry of exactly `size` bytes.
    pub fn start(&mut self, name: &str, size: u64) -> Result<(), ZipError> {
        if self.open.is_some() {
            return Err(format_error("the previous entry is not finished"));
        }
        check_name(name)?;
        if self.entries.iter().any(|e| e.name == name) {
            return Err(format_error(format!("entry {name} twice")));
        }
        let header = local_header(name, size, 0);
        self.out.write_all(&header)?;
        self.open = Some(Open {
            name: name.to_owned(),
            size,
            offset: self.pos,
            crc: crc32fast::Hasher::new(),
            written: 0,
        });
        self.pos += header.len() as u64;
        Ok(())
    }

    /// Content of the started entry.
    pub fn write(&mut self, data: &[u8]) -> Result<(), ZipError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| format_error("no entry is started"))?;
        open.written += data.len() as u64;
        if open.written > open.size {
            return Err(format_error(format!(
                "entry {}: more than its {} bytes",
                open.name, open.size
            )));
        }
        open.crc.update(data);
        self.out.write_all(data)?;
        self.pos += data.len() as u64;
        Ok(())
    }

    /// Ends the started entry (all its bytes written) and patches its CRC-32.
    pub fn finish_entry(&mut self) -> Result<(), ZipError> {
        let open = self
            .open
            .take()
            .ok_or_else(|| format_error("no entry is started"))?;
        if open.written != open.size {
            return Err(format_error(format!(
                "entry {}: {} bytes written, {} announced",
                open.name, open.written, open.size
            )));
        }
        let crc32 = open.crc.finalize();
        self.out.seek(SeekFrom::Start(open.offset + 14))?;
        self.out.write_all(&crc32.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(self.pos))?;
        self.entries.push(EntryMeta {
            name: open.name,
            size: open.size,
            crc32,
            offset: open.offset,
        });
        Ok(())
    }

    /// A whole entry at once.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ZipError> {
        self.start(name, data.len() as u64)?;
        self.write(data)?;
        self.finish_entry()
    }

    /// Writes the central directory and end record; returns the output and its length.
    pub fn finish(mut self) -> Result<(W, u64), ZipError> {
        if self.open.is_some() {
            return Err(format_error("the last entry is not finished"));
        }
        let cd_offset = self.pos;
        let mut tail = Vec::new();
        for e in &self.entries {
            tail.extend_from_slice(&central_header(e));
        }
        let cd_size = tail.len() as u64;
        tail.extend_from_slice(&end_records(self.entries.len() as u64, cd_offset, cd_size));
        self.out.write_all(&tail)?;
        self.out.flush()?;
        Ok((self.out, self.pos + tail.len() as u64))
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}
fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}
fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// Reads a zip front to back, accepting only the canonical layout (see the module text).
/// Call [`StrictReader::next_entry`], then [`StrictReader::read_data`] for each entry, until
/// `next_entry` answers `None` (the end record was read and nothing follows it).
pub struct StrictReader<R: Read> {
    r: R,
    pos: u64,
    entries: Vec<EntryMeta>,
    pending: Option<EntryMeta>,
    ended: bool,
}

fn read_exact_at<R: Read>(r: &mut R, buf: &mut [u8], pos: u64) -> Result<(), ZipError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            format_error(format!("the archive ends early (after offset {pos})"))
        } else {
            ZipError::Io(e)
        }
    })
}

impl<R: Read> StrictReader<R> {
    pub fn new(r: R) -> Self {
        Self {
            r,
            pos: 0,
            entries: Vec::new(),
            pending: None,
            ended: false,
        }
    }

    /// The entries read so far.
    pub fn entries(&self) -> &[EntryMeta] {
        &self.entries
    }

    /// The next entry's header, or `None` once the central directory and end record (which
    /// must be exactly the canonical ones, followed by nothing) have been read.
    pub fn next_entry(&mut self) -> Result<Option<EntryMeta>, ZipError> {
        if self.pending.is_some() {
            return Err(format_error("the previous entry's data was not read"));
        }
        if self.ended {
            return Ok(None);
        }
        let at = self.pos;
        let mut sig = [0u8; 4];
        read_exact_at(&mut self.r, &mut sig, at)?;
        if u32::from_le_bytes(sig) == LOCAL_SIG {
            return self.local(sig, at).map(Some);
        }
        // The central directory and the end record, rebuilt from the entries read.
        let mut expected = Vec::new();
        for e in &self.entries {
            expected.extend_from_slice(&central_header(e));
        }
        let cd_size = expected.len() as u64;
        expected.extend_from_slice(&end_records(self.entries.len() as u64, at, cd_size));
        let mut actual = vec![0u8; expected.len()];
        let (head, rest) = actual.split_at_mut(4.min(expected.len()));
        head.copy_from_slice(sig.get(..head.len()).unwrap_or_default());
        read_exact_at(&mut self.r, rest, at + 4)?;
        if let Some(i) = expected.iter().zip(&actual).position(|(a, b)| a != b) {
            let offset = at + i as u64;
            let place = if (i as u64) < cd_size {
                "the central directory"
            } else {
                "the end record"
            };
            return Err(format_error(format!(
                "{place} is not the canonical one (byte at offset {offset})"
            )));
        }
        self.pos += expected.len() as u64;
        let mut extra = [0u8; 1];
        loop {
            match self.r.read(&mut extra) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(format_error(format!(
                        "data after the end record (offset {})",
                        self.pos
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ZipError::Io(e)),
            }
        }
        self.ended = true;
        Ok(None)
    }

    fn local(&mut self, sig: [u8; 4], at: u64) -> Result<EntryMeta, ZipError> {
        let index = self.entries.len() + 1;
        let mut fixed = [0u8; LOCAL_FIXED];
        read_exact_at(&mut self.r, &mut fixed, at + 4)?;
        let crc32 = le32(&fixed, 10);
        let small_size = le32(&fixed, 18);
        let name_len = usize::from(le16(&fixed, 22));
        let extra_len = usize::from(le16(&fixed, 24));
        if name_len > MAX_NAME || extra_len > 20 {
            return Err(format_error(format!(
                "entry {index}: the local header at offset {at} is not in canonical form"
            )));
        }
        let mut name = vec![0u8; name_len];
        read_exact_at(&mut self.r, &mut name, at + 30)?;
        let mut extra = vec![0u8; extra_len];
        read_exact_at(&mut self.r, &mut extra, at + 30 + name_len as u64)?;
        let size = if u64::from(small_size) == MAX32 {
            le64(&extra, 4)
        } else {
            u64::from(small_size)
        };
        let name = String::from_utf8(name).map_err(|_| {
            format_error(format!(
                "entry {index}: its name (offset {at}) is not UTF-8"
            ))
        })?;
        check_name(&name)?;
        if self.entries.iter().any(|e| e.name == name) {
            return Err(format_error(format!("entry {name} twice")));
        }
        let mut actual = Vec::with_capacity(30 + name_len + extra_len);
        actual.extend_from_slice(&sig);
        actual.extend_from_slice(&fixed);
        actual.extend_from_slice(name.as_bytes());
        actual.extend_from_slice(&extra);
        if actual != local_header(&name, size, crc32) {
            return Err(format_error(format!(
                "entry {name}: the local header at offset {at} is not in canonical form"
            )));
        }
        self.pos += actual.len() as u64;
        let meta = EntryMeta {
            name,
            size,
            crc32,
            offset: at,
        };
        self.pending = Some(meta.clone());
        Ok(meta)
    }

    /// Reads the current entry's bytes into `sink` (in chunks) and checks its CRC-32.
    pub fn read_data(&mut self, mut sink: impl FnMut(&[u8])) -> Result<(), ZipError> {
        let meta = self
            .pending
            .take()
            .ok_or_else(|| format_error("no entry header was read"))?;
        let mut left = meta.size;
        let mut buf = vec![0u8; 256 * 1024];
        let mut crc = crc32fast::Hasher::new();
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let chunk = buf.get_mut(..n).ok_or_else(|| format_error("buffer"))?;
            read_exact_at(&mut self.r, chunk, self.pos)?;
            crc.update(chunk);
            sink(chunk);
            self.pos += n as u64;
            left -= n as u64;
        }
        if crc.finalize() != meta.crc32 {
            return Err(format_error(format!(
                "entry {}: its CRC-32 does not match its content",
                meta.name
            )));
        }
        self.entries.push(meta);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use std::io::Cursor;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Cursor::new(Vec::new()));
        w.add("root/a.json", b"{\"a\": 1}").unwrap();
        w.add("root/empty", b"").unwrap();
        w.start("root/files/x.bin", 5).unwrap();
        w.write(b"he").unwrap();
        w.write(b"llo").unwrap();
        w.finish_entry().unwrap();
        let (out, len) = w.finish().unwrap();
        let bytes = out.into_inner();
        assert_eq!(bytes.len() as u64, len);
        bytes
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ZipError> {
        let mut r = StrictReader::new(Cursor::new(bytes));
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            let mut data = Vec::new();
            r.read_data(|c| data.extend_from_slice(c))?;
            out.push((e.name, data));
        }
        Ok(out)
    }

    #[test]
    fn a_canonical_zip_reads_back() {
        let bytes = sample();
        let got = read_all(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                ("root/a.json".to_owned(), b"{\"a\": 1}".to_vec()),
                ("root/empty".to_owned(), Vec::new()),
                ("root/files/x.bin".to_owned(), b"hello".to_vec()),
            ]
        );
        // The layout is a function of the entries only.
        assert_eq!(bytes, sample());
    }

    #[test]
    fn every_changed_byte_is_refused() {
        let bytes = sample();
        for at in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] ^= x;
                assert!(read_all(&bad).is_err(), "byte {at} ^ {x:#x} was accepted");
            }
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_refused() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(read_all(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_all(&longer).is_err());
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert!(read_all(&two).is_err());
    }

    #[test]
    fn an_empty_archive_is_just_the_end_record() {
        let (out, len) = Writer::new(Cursor::new(Vec::new())).finish().unwrap();
        assert_eq!(len, 22);
        assert!(read_all(&out.into_inner()).unwrap().is_empty());
    }

    #[test]
    fn the_writer_keeps_its_promises() {
        let mut w = Writer::new(Cursor::new(Vec::new()));
        assert!(w.add("../x", b"").is_err());
        assert!(w.add("/x", b"").is_err());
        assert!(w.add("a//b", b"").is_err());
        assert!(w.add("a\\b", b"").is_err());
        w.start("a", 2).unwrap();
        assert!(w.write(b"abc").is_err());
        let mut w = Writer::new(Cursor::new(Vec::new()));
        w.start("a", 2).unwrap();
        w.write(b"a").unwrap();
        assert!(w.finish_entry().is_err());
        let mut w = Writer::new(Cursor::new(Vec::new()));
        w.add("a", b"").unwrap();
        assert!(w.add("a", b"").is_err());
    }

    #[test]
    fn large_sizes_and_offsets_use_zip64_fields() {
        let small = local_header("a", 10, 7);
        assert_eq!(small.len(), 31);
        let big = local_header("a", 5 << 30, 7);
        assert_eq!(big.len(), 31 + 20);
        assert_eq!(le32(&big, 18), u32::MAX);
        assert_eq!(le64(&big, 31 + 4), 5 << 30);
        let e = EntryMeta {
            name: "a".into(),
            size: 1,
            crc32: 0,
            offset: 6 << 30,
        };
        let c = central_header(&e);
        assert_eq!(c.len(), 46 + 1 + 12);
        assert_eq!(le32(&c, 42), u32::MAX);
        assert_eq!(end_records(3, 1, 2).len(), 22);
        assert_eq!(end_records(3, 5 << 30, 2).len(), 22 + 56 + 20);
    }
}
