//! Raw speed of the parts on 256 MiB in memory: SHA-256 (sha2 and aws-lc-rs), AES-256-GCM
//! segment sealing and opening (aws-lc-rs, through the vault's format), and hash + seal on one core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use labledger_vault::keys::Key;
use labledger_vault::stream::{Decryptor, Encryptor};
use sha2::Digest;
use std::time::Instant;

fn main() {
    let n = 256usize << 20;
    let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let gib = |s: f64| n as f64 / s / (1u64 << 30) as f64;
    let t = Instant::now();
    let h = sha2::Sha256::digest(&data);
    println!(
        "sha256 (sha2): {:.2} GiB/s {:02x}",
        gib(t.elapsed().as_secs_f64()),
        h[0]
    );
    let t = Instant::now();
    let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
    println!(
        "sha256 (aws-lc-rs): {:.2} GiB/s {:02x}",
        gib(t.elapsed().as_secs_f64()),
        h.as_ref()[0]
    );
    let key = Key::generate();
    let mut sealed = Vec::with_capacity(n + n / 1024 + 64);
    let t = Instant::now();
    let mut enc = Encryptor::unhashed(&key, 64 * 1024).unwrap();
    sealed.extend_from_slice(&enc.header());
    for c in data.chunks(1 << 20) {
        enc.update(c, &mut sealed).unwrap();
    }
    enc.finish_unhashed(&mut sealed).unwrap();
    println!("seal: {:.2} GiB/s", gib(t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let mut dec = Decryptor::unhashed(&key).unwrap();
    let mut out = Vec::with_capacity(4 << 20);
    for c in sealed.chunks(4 << 20) {
        dec.update(c, &mut out).unwrap();
        out.clear();
    }
    dec.finish(&mut out).unwrap();
    println!("open: {:.2} GiB/s", gib(t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let mut enc = Encryptor::new(&key, 64 * 1024).unwrap();
    let mut out = Vec::with_capacity(2 << 20);
    for c in data.chunks(1 << 20) {
        enc.update(c, &mut out).unwrap();
        out.clear();
    }
    enc.finish(&mut out).unwrap();
    println!(
        "hash+seal, one core: {:.2} GiB/s",
        gib(t.elapsed().as_secs_f64())
    );
}
