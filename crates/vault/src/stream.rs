//! The segmented object format (STREAM construction over AES-256-GCM).
//!
//! ```text
//! header (16 bytes): "LLV1" ‖ segment size (u32 BE) ‖ nonce prefix (7 random bytes) ‖ 0
//! segment i:         AES-256-GCM(data key, nonce = prefix ‖ i (u32 BE) ‖ last?1:0,
//!                                aad = header, plaintext ≤ segment size) — ciphertext ‖ 16-byte tag
//! ```
//!
//! Every object ends with exactly one segment flagged last (an empty object is one empty last
//! segment), so a cut-off end cannot pass for a complete object, a segment moved elsewhere
//! carries the wrong number, and any flipped bit fails its tag. Plaintext is released one
//! verified segment at a time.
//!
//! Segments are sealed and opened with aws-lc-rs (AES-NI/VAES + carry-less multiply, several
//! times the throughput of the portable implementation); the bytes are exactly those the
//! earlier `aes-gcm` code wrote (`tests::format_is_unchanged`).

use crate::keys::Key;
use crate::VaultError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 4] = b"LLV1";
pub const HEADER_LEN: usize = 16;
pub const TAG_LEN: usize = 16;
/// 64 KiB: large enough that the tag overhead is 0.02 %, small enough to stream in little memory.
pub const DEFAULT_SEGMENT: usize = 64 * 1024;

fn nonce(prefix: &[u8; 7], index: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// The segment cipher of a data key.
fn segment_key(key: &Key) -> Result<LessSafeKey, VaultError> {
    UnboundKey::new(&AES_256_GCM, key.as_bytes())
        .map(LessSafeKey::new)
        .map_err(|_| VaultError::Encrypt)
}

/// Appends `plain` to `out` and seals it there in place, then appends the tag.
fn seal_onto(
    key: &LessSafeKey,
    nonce: Nonce,
    header: &[u8; HEADER_LEN],
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), VaultError> {
    let start = out.len();
    out.extend_from_slice(plain);
    let body = out.get_mut(start..).ok_or(VaultError::Encrypt)?;
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(header), body)
        .map_err(|_| VaultError::Encrypt)?;
    out.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Ciphertext length (header included) of a plaintext of `len` bytes.
pub fn ciphertext_len(len: u64, segment: usize) -> u64 {
    let seg = segment as u64;
    let segments = if len == 0 { 1 } else { len.div_ceil(seg) };
    HEADER_LEN as u64 + len + segments * TAG_LEN as u64
}

/// Encrypts a stream of plaintext chunks, hashing the plaintext on the way.
pub struct Encryptor {
    cipher: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; 7],
    segment: usize,
    index: u32,
    pending: Vec<u8>,
    sha: Sha256,
    total: u64,
    hashing: bool,
}

impl Encryptor {
    pub fn new(data_key: &Key, segment: usize) -> Result<Self, VaultError> {
        let mut prefix = [0u8; 7];
        OsRng.fill_bytes(&mut prefix);
        Self::with_prefix(data_key, segment, prefix)
    }

    fn with_prefix(data_key: &Key, segment: usize, prefix: [u8; 7]) -> Result<Self, VaultError> {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4..8].copy_from_slice(&(segment as u32).to_be_bytes());
        header[8..15].copy_from_slice(&prefix);
        Ok(Self {
            cipher: segment_key(data_key)?,
            header,
            prefix,
            segment,
            index: 0,
            pending: Vec::with_capacity(segment),
            sha: Sha256::new(),
            total: 0,
            hashing: true,
        })
    }

    /// An encryptor that leaves the SHA-256 to the caller (who hashes the same plaintext on
    /// another core); end it with [`Encryptor::finish_unhashed`].
    pub fn unhashed(data_key: &Key, segment: usize) -> Result<Self, VaultError> {
        Ok(Self {
            hashing: false,
            ..Self::new(data_key, segment)?
        })
    }

    /// Seals the last segment of an [`Encryptor::unhashed`]; returns the plaintext's length.
    pub fn finish_unhashed(mut self, out: &mut Vec<u8>) -> Result<u64, VaultError> {
        self.seal(true, out)?;
        Ok(self.total)
    }

    /// The header, to be written before the first segment.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        self.header
    }

    /// Takes plaintext; appends to `out` the ciphertext of each segment that is complete and
    /// known not to be the last (one full segment is held back until more data or `finish`).
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), VaultError> {
        if self.hashing {
            self.sha.update(data);
        }
        self.total += data.len() as u64;
        loop {
            if self.pending.len() == self.segment && !data.is_empty() {
                self.seal(false, out)?;
            }
            if self.pending.is_empty() {
                // Whole segments with more data after them go straight from the input to
                // `out`: one copy, sealed in place there.
                while data.len() > self.segment {
                    let (seg, rest) = data.split_at(self.segment);
                    let n = self.next_nonce(false)?;
                    seal_onto(&self.cipher, n, &self.header, seg, out)?;
                    data = rest;
                }
            }
            if data.is_empty() {
                return Ok(());
            }
            let take = (self.segment - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
        }
    }

    fn next_nonce(&mut self, last: bool) -> Result<Nonce, VaultError> {
        let n = nonce(&self.prefix, self.index, last);
        self.index = self.index.checked_add(1).ok_or(VaultError::Encrypt)?;
        Ok(n)
    }

    /// Seals the last segment; returns the plaintext's SHA-256 and length.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<([u8; 32], u64), VaultError> {
        if !self.hashing {
            return Err(VaultError::Encrypt);
        }
        self.seal(true, out)?;
        Ok((self.sha.finalize().into(), self.total))
    }

    fn seal(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), VaultError> {
        let n = self.next_nonce(last)?;
        seal_onto(&self.cipher, n, &self.header, &self.pending, out)?;
        self.pending.clear();
        Ok(())
    }
}

/// Decrypts a stream of ciphertext chunks (header first), releasing only verified plaintext.
pub struct Decryptor {
    cipher: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; 7],
    segment: usize,
    index: u32,
    buf: Vec<u8>,
    sha: Sha256,
    hashing: bool,
    header_seen: bool,
}

/// The segment size an object header declares (checked like a full parse).
pub fn segment_size(header: &[u8]) -> Result<usize, VaultError> {
    parse_header(header).map(|(_, _, segment)| segment)
}

fn parse_header(bytes: &[u8]) -> Result<([u8; HEADER_LEN], [u8; 7], usize), VaultError> {
    let header: [u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(VaultError::BadHeader)?;
    if &header[..4] != MAGIC || header[15] != 0 {
        return Err(VaultError::BadHeader);
    }
    let segment = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !(1024..=16 * 1024 * 1024).contains(&segment) {
        return Err(VaultError::BadHeader);
    }
    let mut prefix = [0u8; 7];
    prefix.copy_from_slice(&header[8..15]);
    Ok((header, prefix, segment))
}

impl Decryptor {
    pub fn new(data_key: &Key) -> Result<Self, VaultError> {
        Ok(Self {
            cipher: segment_key(data_key)?,
            header: [0u8; HEADER_LEN],
            prefix: [0u8; 7],
            segment: 0,
            index: 0,
            buf: Vec::new(),
            sha: Sha256::new(),
            hashing: true,
            header_seen: false,
        })
    }

    /// A decryptor that leaves the SHA-256 to the caller (who hashes the released plaintext
    /// on another core); [`Decryptor::finish`] then answers a meaningless hash.
    pub fn unhashed(data_key: &Key) -> Result<Self, VaultError> {
        Ok(Self {
            hashing: false,
            ..Self::new(data_key)?
        })
    }

    /// Takes ciphertext; appends verified plaintext of every segment known not to be the last.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), VaultError> {
        if !self.header_seen {
            let need = HEADER_LEN.saturating_sub(self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(need);
            self.buf.extend_from_slice(head);
            data = rest;
            if self.buf.len() < HEADER_LEN {
                return Ok(());
            }
            let (header, prefix, segment) = parse_header(&self.buf)?;
            (self.header, self.prefix, self.segment, self.header_seen) =
                (header, prefix, segment, true);
            self.buf.clear();
        }
        let full = self.segment + TAG_LEN;
        // A full segment is surely not the last only once a byte after it has arrived.
        loop {
            if self.buf.len() == full && !data.is_empty() {
                let seg = std::mem::take(&mut self.buf);
                let opened = self.open(&seg, false, out);
                self.buf = seg;
                self.buf.clear();
                opened?;
            }
            if self.buf.is_empty() {
                // Whole segments with more data after them are opened where they lie.
                while data.len() > full {
                    let (seg, rest) = data.split_at(full);
                    self.open(seg, false, out)?;
                    data = rest;
                }
            }
            if data.is_empty() {
                return Ok(());
            }
            let take = (full - self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf.extend_from_slice(head);
            data = rest;
        }
    }

    /// For a ranged read: continues an object whose header was read apart, at segment `index`
    /// (the ciphertext fed next starts at that segment's first byte).
    pub fn resume(data_key: &Key, header: &[u8], index: u32) -> Result<Self, VaultError> {
        let (header, prefix, segment) = parse_header(header)?;
        Ok(Self {
            cipher: segment_key(data_key)?,
            header,
            prefix,
            segment,
            index,
            buf: Vec::new(),
            sha: Sha256::new(),
            hashing: false,
            header_seen: true,
        })
    }

    /// Ends a ranged read: opens what remains as one segment, flagged last only if it is the
    /// object's last (`last`); a range's final segment that is not the object's must be whole.
    pub fn finish_range(mut self, out: &mut Vec<u8>, last: bool) -> Result<(), VaultError> {
        if last {
            return self.finish(out).map(|_| ());
        }
        if self.buf.len() != self.segment + TAG_LEN {
            return Err(VaultError::Integrity("a segment is cut short"));
        }
        let seg = std::mem::take(&mut self.buf);
        self.open(&seg, false, out)
    }

    /// Opens the last segment; returns the plaintext's SHA-256. Fails if the end was cut off.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<[u8; 32], VaultError> {
        if !self.header_seen {
            return Err(VaultError::BadHeader);
        }
        if self.buf.len() < TAG_LEN {
            return Err(VaultError::Integrity(
                "the object ends before its last segment",
            ));
        }
        let last = std::mem::take(&mut self.buf);
        self.open(&last, true, out)?;
        Ok(self.sha.finalize().into())
    }

    fn open(&mut self, segment: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), VaultError> {
        let (body, tag) = segment
            .split_at_checked(segment.len().saturating_sub(TAG_LEN))
            .filter(|(_, tag)| tag.len() == TAG_LEN)
            .ok_or(VaultError::Integrity("a segment is shorter than its tag"))?;
        let n = nonce(&self.prefix, self.index, last);
        let start = out.len();
        out.extend_from_slice(body);
        let plain = out
            .get_mut(start..)
            .ok_or(VaultError::Integrity("segment bounds"))?;
        let opened = self
            .cipher
            .open_in_place_separate_tag(n, Aad::from(&self.header), tag, plain)
            .map(|_| ());
        if opened.is_err() {
            // Never leave unverified bytes (nor unspecified ones) in the output.
            out.truncate(start);
        }
        opened.map_err(|_| {
            VaultError::Integrity(if last {
                "the last segment does not verify (altered, or the object was cut off)"
            } else {
                "a segment does not verify (altered, reordered or truncated)"
            })
        })?;
        if self.hashing {
            self.sha.update(out.get(start..).unwrap_or_default());
        }
        self.index = self
            .index
            .checked_add(1)
            .ok_or(VaultError::Integrity("too many segments"))?;
        Ok(())
    }
}

/// Encrypts a whole buffer (for small objects and tests).
pub fn seal_all(
    key: &Key,
    plain: &[u8],
    segment: usize,
) -> Result<(Vec<u8>, [u8; 32]), VaultError> {
    let mut enc = Encryptor::new(key, segment)?;
    let mut out = enc.header().to_vec();
    enc.update(plain, &mut out)?;
    let (sha, _) = enc.finish(&mut out)?;
    Ok((out, sha))
}

/// Decrypts a whole buffer, verifying every segment and the end.
pub fn open_all(key: &Key, sealed: &[u8]) -> Result<(Vec<u8>, [u8; 32]), VaultError> {
    let mut dec = Decryptor::new(key)?;
    let mut out = Vec::new();
    dec.update(sealed, &mut out)?;
    let sha = dec.finish(&mut out)?;
    Ok((out, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: usize = 1024;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_edge_and_in_any_chunking() {
        let key = Key::generate();
        for n in [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 5 * SEG + 7] {
            let plain = data(n);
            let (sealed, sha) = seal_all(&key, &plain, SEG).unwrap();
            assert_eq!(sealed.len() as u64, ciphertext_len(n as u64, SEG), "{n}");
            assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&plain)));
            let (opened, sha2) = open_all(&key, &sealed).unwrap();
            assert_eq!(opened, plain, "{n}");
            assert_eq!(sha2, sha);
            // Streaming in odd chunk sizes both ways gives the same result.
            let mut enc = Encryptor::new(&key, SEG).unwrap();
            let mut out = enc.header().to_vec();
            for chunk in plain.chunks(333) {
                enc.update(chunk, &mut out).unwrap();
            }
            enc.finish(&mut out).unwrap();
            let mut dec = Decryptor::new(&key).unwrap();
            let mut back = Vec::new();
            for chunk in out.chunks(77) {
                dec.update(chunk, &mut back).unwrap();
            }
            dec.finish(&mut back).unwrap();
            assert_eq!(back, plain);
        }
    }

    /// The segment sealing of the earlier code (RustCrypto `aes-gcm`), kept verbatim as the
    /// reference: objects it wrote must open with the aws-lc-rs code, byte for byte the same.
    fn old_seal(key: &Key, prefix: [u8; 7], segment: usize, plain: &[u8]) -> Vec<u8> {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        let cipher = aes_gcm::Aes256Gcm::new(key.as_bytes().into());
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4..8].copy_from_slice(&(segment as u32).to_be_bytes());
        header[8..15].copy_from_slice(&prefix);
        let mut out = header.to_vec();
        let chunks: Vec<&[u8]> = if plain.is_empty() {
            vec![&[]]
        } else {
            plain.chunks(segment).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let mut n = [0u8; 12];
            n[..7].copy_from_slice(&prefix);
            n[7..11].copy_from_slice(&(i as u32).to_be_bytes());
            n[11] = u8::from(i + 1 == chunks.len());
            let mut buf = chunk.to_vec();
            let tag = cipher
                .encrypt_in_place_detached(aes_gcm::Nonce::from_slice(&n), &header, &mut buf)
                .unwrap();
            out.extend_from_slice(&buf);
            out.extend_from_slice(&tag);
        }
        out
    }

    #[test]
    fn format_is_unchanged() {
        let key = Key::from_bytes([0x11; 32]);
        let prefix = [0x22; 7];
        // A fixed vector written by the aes-gcm code (and, independently, by Python's
        // `cryptography` AESGCM with the same key, nonce and header): opens with the new code.
        let fixed = hex::decode(
            "4c4c563100000400222222222222220021918c0425bac597f9df26958bf4be56807fd8ed1ad86aa28350",
        )
        .unwrap();
        let small = old_seal(&key, prefix, SEG, b"LabLedger!");
        assert_eq!(hex::encode(&small), hex::encode(&fixed));
        let (opened, _) = open_all(&key, &fixed).unwrap();
        assert_eq!(opened, b"LabLedger!");
        for n in [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG + 5] {
            let plain = data(n);
            let old = old_seal(&key, prefix, SEG, &plain);
            let (opened, sha) = open_all(&key, &old).unwrap();
            assert_eq!(opened, plain, "{n}");
            assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&plain)));
            // And the new code writes exactly those bytes, in any chunking.
            let mut enc = Encryptor::with_prefix(&key, SEG, prefix).unwrap();
            let mut new = enc.header().to_vec();
            for chunk in plain.chunks(700) {
                enc.update(chunk, &mut new).unwrap();
            }
            enc.finish(&mut new).unwrap();
            assert_eq!(new, old, "{n}");
        }
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let key = Key::generate();
        let (sealed, _) = seal_all(&key, &data(3 * SEG + 5), SEG).unwrap();
        for pos in (0..sealed.len())
            .step_by(97)
            .chain([4, 8, 15, sealed.len() - 1])
        {
            let mut bad = sealed.clone();
            bad[pos] ^= 0x40;
            assert!(open_all(&key, &bad).is_err(), "flip at {pos}");
        }
    }

    #[test]
    fn truncation_and_reordering_are_caught() {
        let key = Key::generate();
        let (sealed, _) = seal_all(&key, &data(3 * SEG + 5), SEG).unwrap();
        let full = SEG + TAG_LEN;
        // Cut at a segment boundary: the remaining last segment is not flagged last.
        let cut = &sealed[..HEADER_LEN + 2 * full];
        assert_eq!(
            open_all(&key, cut).unwrap_err(),
            VaultError::Integrity(
                "the last segment does not verify (altered, or the object was cut off)"
            )
        );
        // Cut inside a segment, and down to the header.
        assert!(open_all(&key, &sealed[..sealed.len() - 3]).is_err());
        assert!(open_all(&key, &sealed[..HEADER_LEN]).is_err());
        // Swap segments 0 and 1.
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + full);
        let first = sealed[a..a + full].to_vec();
        swapped[a..a + full].copy_from_slice(&sealed[b..b + full]);
        swapped[b..b + full].copy_from_slice(&first);
        assert!(open_all(&key, &swapped).is_err());
        // Extra bytes after the last segment.
        let mut longer = sealed.clone();
        longer.extend_from_slice(&[0u8; TAG_LEN + 1]);
        assert!(open_all(&key, &longer).is_err());
    }

    #[test]
    fn ranged_reads_open_any_run_of_segments() {
        let key = Key::generate();
        let plain = data(4 * SEG + 9);
        let (sealed, _) = seal_all(&key, &plain, SEG).unwrap();
        let full = SEG + TAG_LEN;
        let header = &sealed[..HEADER_LEN];
        assert_eq!(segment_size(header).unwrap(), SEG);
        // Segments 1..=2 (not the last), then 3..=4 (the last).
        let mut dec = Decryptor::resume(&key, header, 1).unwrap();
        let mut out = Vec::new();
        dec.update(&sealed[HEADER_LEN + full..HEADER_LEN + 3 * full], &mut out)
            .unwrap();
        dec.finish_range(&mut out, false).unwrap();
        assert_eq!(out, &plain[SEG..3 * SEG]);
        let mut dec = Decryptor::resume(&key, header, 3).unwrap();
        let mut out = Vec::new();
        dec.update(&sealed[HEADER_LEN + 3 * full..], &mut out)
            .unwrap();
        dec.finish_range(&mut out, true).unwrap();
        assert_eq!(out, &plain[3 * SEG..]);
        // A segment read at the wrong index, or a middle one passed off as last, fails.
        let mut dec = Decryptor::resume(&key, header, 2).unwrap();
        let mut out = Vec::new();
        dec.update(&sealed[HEADER_LEN + full..HEADER_LEN + 2 * full], &mut out)
            .unwrap();
        assert!(dec.finish_range(&mut out, false).is_err());
        let mut dec = Decryptor::resume(&key, header, 1).unwrap();
        dec.update(&sealed[HEADER_LEN + full..HEADER_LEN + 2 * full], &mut out)
            .unwrap();
        assert!(dec.finish_range(&mut out, true).is_err());
    }

    #[test]
    fn another_key_or_header_fails() {
        let (sealed, _) = seal_all(&Key::generate(), &data(10), SEG).unwrap();
        assert!(open_all(&Key::generate(), &sealed).is_err());
        assert_eq!(
            open_all(&Key::generate(), b"not a vault object").unwrap_err(),
            VaultError::BadHeader
        );
    }

    #[test]
    fn no_plaintext_shows_in_the_ciphertext() {
        let marker = b"LABLEDGER-PLAINTEXT-MARKER-0123456789";
        let plain: Vec<u8> = marker.iter().copied().cycle().take(10 * SEG).collect();
        let (sealed, _) = seal_all(&Key::generate(), &plain, SEG).unwrap();
        assert!(!sealed
            .windows(16)
            .any(|w| marker.windows(16).any(|m| m == w)));
    }
}
