//! `ingest`: the evidence vault's write and read paths on one large file, against the SHA-256
//! limit of this CPU (`openssl dgst -sha256` of the same file, in the same run).
//!
//! Ingest = read the file (1 MiB chunks, on a blocking thread), SHA-256 it, seal it in
//! AES-256-GCM segments and write the ciphertext through `object_store` (local directory,
//! multipart) — exactly `Vault::put` as the server's upload handler runs it (the hash on one
//! core, sealing and writing on the other). Download = read the ciphertext back, open every segment and re-check the SHA-256 —
//! `Vault::open` as the server runs it. Peak RSS of this process is reset before each phase
//! (`/proc/self/clear_refs`) and read after it (`VmHWM`).

use crate::args::Flags;
use anyhow::{bail, Context};
use bytes::Bytes;
use futures::StreamExt;
use labledger_vault::{ObjectRef, Vault};
use std::path::Path;
use std::time::Instant;

const CHUNK: usize = 1 << 20;

fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn write_file(path: &Path, mib: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    // Incompressible-looking bytes from a cheap generator (xorshift).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; CHUNK];
    for _ in 0..mib {
        for b in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            b.copy_from_slice(bytes.get(..b.len()).unwrap_or(&bytes));
        }
        f.write_all(&buf)?;
    }
    f.flush()?;
    Ok(())
}

/// The file as a body stream of 1 MiB chunks, read on a blocking thread (as a request body
/// arrives from the socket, not through tokio's file adapter, which copies every read through
/// its own buffer and hops threads per read).
fn file_stream(
    path: std::path::PathBuf,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                match f.read(buf.get_mut(filled..).unwrap_or_default()) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
            if filled == 0 {
                return;
            }
            buf.truncate(filled);
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

async fn openssl_sha256(path: &Path) -> anyhow::Result<(f64, String)> {
    let start = Instant::now();
    let out = tokio::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(path)
        .output()
        .await
        .context("running openssl")?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("openssl failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok((
        secs,
        text.split_whitespace().next().unwrap_or("").to_owned(),
    ))
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    flags.only(&["mib", "runs", "dir"])?;
    let mib: usize = flags.num_or("mib", 1024)?;
    let runs: usize = flags.num_or("runs", 3)?;
    let tmp = match flags.get("dir") {
        Some(d) => tempfile::Builder::new()
            .prefix("labbench-ingest.")
            .tempdir_in(d)?,
        None => tempfile::Builder::new()
            .prefix("labbench-ingest.")
            .tempdir()?,
    };
    let input = tmp.path().join("input.bin");
    write_file(&input, mib)?;
    let bytes = (mib * CHUNK) as f64;
    let gib_s = |secs: f64| bytes / secs / (1u64 << 30) as f64;
    println!(
        "ingest: {mib} MiB file in {}, {runs} runs each (median reported); page cache warm for all",
        tmp.path().display()
    );
    // Warm the page cache for every contestant alike.
    openssl_sha256(&input).await?;

    let vault = Vault::local(&tmp.path().join("objects"), [7u8; 32])?;
    let (org, _) = vault.new_org_key("bench-org")?;
    let (mut t_openssl, mut t_ingest, mut t_download) = (Vec::new(), Vec::new(), Vec::new());
    let (mut hwm_ingest, mut hwm_download) = (Vec::new(), Vec::new());
    let mut ratios = Vec::new();
    let base_rss = rss_kib();
    for run in 0..runs {
        let (secs, openssl_hex) = openssl_sha256(&input).await?;
        t_openssl.push(secs);

        reset_hwm();
        let start = Instant::now();
        let stored = vault
            .put(&org, file_stream(input.clone()), u64::MAX)
            .await?;
        t_ingest.push(start.elapsed().as_secs_f64());
        hwm_ingest.push(hwm_kib());
        let ours = hex_of(&stored.sha256);
        if ours != openssl_hex {
            bail!("SHA-256 differs from openssl's: {ours} vs {openssl_hex}");
        }

        reset_hwm();
        let start = Instant::now();
        let object = ObjectRef {
            path: stored.path.clone(),
            wrapped_key: stored.wrapped_key.clone(),
            segment_size: stored.segment_size,
            sha256: stored.sha256,
            size: stored.size,
        };
        let mut stream = vault.open(&org, &object, None).await?;
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            n += chunk?.len() as u64;
        }
        t_download.push(start.elapsed().as_secs_f64());
        hwm_download.push(hwm_kib());
        if n != stored.size {
            bail!("read back {n} of {} bytes", stored.size);
        }
        vault.delete(&stored.path).await?;
        let last = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
        ratios.push(last(&t_openssl) / last(&t_ingest));
        println!(
            "  run {}: openssl {:.2} GiB/s, ingest {:.2} GiB/s ({:.0} % of this run's openssl), download {:.2} GiB/s",
            run + 1,
            gib_s(last(&t_openssl)),
            gib_s(last(&t_ingest)),
            100.0 * last(&ratios),
            gib_s(last(&t_download))
        );
    }
    let (o, i, d) = (median(&t_openssl), median(&t_ingest), median(&t_download));
    println!("openssl dgst -sha256: {:.2} GiB/s ({o:.2} s)", gib_s(o));
    println!(
        "ingest (hash + encrypt + write): {:.2} GiB/s ({i:.2} s) = {:.0} % of openssl",
        gib_s(i),
        100.0 * o / i
    );
    println!(
        "median of the per-run ratios ingest ÷ openssl: {:.0} %",
        100.0 * median(&ratios)
    );
    println!(
        "download (read + decrypt + verify): {:.2} GiB/s ({d:.2} s)",
        gib_s(d)
    );
    let mib_of = |v: &[u64]| v.iter().copied().max().unwrap_or(0) as f64 / 1024.0;
    println!(
        "peak RSS of the process: {:.0} MiB before, {:.0} MiB during ingest, {:.0} MiB during download (file: {mib} MiB)",
        base_rss as f64 / 1024.0,
        mib_of(&hwm_ingest),
        mib_of(&hwm_download)
    );
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
