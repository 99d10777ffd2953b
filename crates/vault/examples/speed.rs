//! Raw speed of the parts: SHA-256, AES-256-GCM sealing, and the two together, on 256 MiB in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use labledger_vault::keys::Key;
use labledger_vault::stream::Encryptor;
use sha2::Digest;
use std::time::Instant;

fn main() {
    let n = 256usize << 20;
    let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let gib = |s: f64| n as f64 / s / (1u64 << 30) as f64;
    let t = Instant::now();
    let h = sha2::Sha256::digest(&data);
    println!(
        "sha256: {:.2} GiB/s {:02x}",
        gib(t.elapsed().as_secs_f64()),
        h[0]
    );
    let key = Key::generate();
    let t = Instant::now();
    let mut enc = Encryptor::new(&key, 64 * 1024);
    let mut out = Vec::with_capacity(1 << 20);
    for c in data.chunks(1 << 20) {
        enc.update(c, &mut out).unwrap();
        out.clear();
    }
    enc.finish(&mut out).unwrap();
    println!("hash+seal: {:.2} GiB/s", gib(t.elapsed().as_secs_f64()));
}
