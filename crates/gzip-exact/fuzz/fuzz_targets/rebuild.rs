#![no_main]
// The rebuild path of `gzip-rebuild` layers: the encoder id, level and header come from a
// bundle's bundle.json, the tar from its member, and the gzip stream `create` guesses from comes
// from a registry. None of it may panic, and whatever a recipe accepts must rebuild to a gzip
// stream that inflates back to the tar, the same in one piece or read a few bytes at a time.
// preflate-rs's side data leads its member: bytes that are not what bundle.json names must end
// the output short, never reach preflate-rs (which may loop on them). Restart points are
// untrusted too (Go's, zlib's and GNU gzip's): whatever list the recipe accepts must rebuild (to
// any bytes) without a panic.
use gzip_exact::{self as gz, Producer, RebuildReader, Rebuilder, Recipe, Restart};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let encoder = [
        "go1.8",
        "zlib",
        "go1.27",
        "pgzip",
        "gnu",
        "pigz",
        "pigz-p1",
        "",
        gz::ENCODER_PREFLATE,
        "pgzip-256k",
        "pgzip1.18.0",
        "pgzip1.18.0-256k",
        "pgzip1.18.1",
        "pgzip1.18.1-256k",
    ][usize::from(data[0] % 14)];
    let level = i32::from(data[1] as i8 % 12);
    let header_len = usize::from(data[2]).min(data.len() - 3);
    let (header, raw) = data[3..].split_at(header_len);
    // As a gzip stream from a registry: guessing its producer must not panic.
    let _ = gz::candidates(data);
    let _ = gz::guess(data, raw);
    let _ = gz::inflate(data, 1 << 20);
    if encoder == gz::ENCODER_PREFLATE {
        // data[1]: how much of the member is side data; then the sha256 bundle.json gives it
        // and the member. Only side data with that hash may reach preflate-rs.
        let Some((sha256, member)) = data[3..].split_first_chunk::<32>() else {
            return;
        };
        let side = u64::from(data[1]).min(member.len() as u64);
        let producer =
            Producer::from_id_with_side(encoder, 0, Some((side, *sha256))).expect("preflate");
        let recipe = Recipe::new(producer, vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]).unwrap();
        let mut out = Vec::new();
        let r = RebuildReader::new(member, Rebuilder::new(&recipe).expect("a valid recipe"));
        r.take(64 << 20)
            .read_to_end(&mut out)
            .expect("reading from memory");
        return;
    }
    let Some(producer) = Producer::from_id(encoder, level) else {
        return;
    };
    let zlib = matches!(producer, Producer::Zlib { .. });
    let gnu = matches!(producer, Producer::Gnu { .. });
    if let Producer::Go { .. } | Producer::Zlib { .. } | Producer::Gnu { .. } = producer {
        // zlib's points are primed with the 32 KiB before them: none comes sooner.
        let (mut at, mut bit) = (if zlib { 32768 } else { 0 }, 0u64);
        let restarts: Vec<Restart> = header
            .chunks_exact(6)
            .map(|c| {
                at += 1 + u64::from(c[0]) * u64::from(c[0]);
                bit += 1 + u64::from(c[1]) * 50;
                let base = (at / 32768).saturating_sub(u64::from(c[5] & 1)) * 32768;
                if zlib && c[5] & 2 == 0 {
                    return gz::zlib::restart(at, bit).expect("past the first 32 KiB");
                }
                Restart {
                    raw: at,
                    base,
                    bit,
                    pending: c[2] & 1 == 1,
                    length: u16::from(c[3]),
                    offset: u16::from(c[4]) * 129,
                }
            })
            .collect();
        // A GNU point's window must be full (64 KiB of tar from its base): the tar repeated to
        // 192 KiB, so points are met inside it.
        let long: Vec<u8> = match gnu {
            true => raw.iter().copied().cycle().take(3 << 16).collect(),
            false => raw.to_vec(),
        };
        let recipe = Recipe::new(producer, vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])
            .and_then(|r| r.with_restarts(restarts, long.len() as u64));
        if let Some(recipe) = recipe {
            let _ = gz::rebuild(&long, &recipe);
        }
    }
    let mut gzip_header = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    gzip_header.extend_from_slice(header);
    for h in [header.to_vec(), gzip_header] {
        let Some(recipe) = Recipe::new(producer, h) else {
            continue;
        };
        let whole = gz::rebuild(raw, &recipe).expect("a valid recipe rebuilds");
        assert_eq!(
            gz::inflate(&whole, raw.len() as u64).as_deref(),
            Some(raw),
            "{recipe:?} does not inflate back"
        );
        let mut r = RebuildReader::new(raw, Rebuilder::new(&recipe).expect("a valid recipe"));
        let mut pieces = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = r.read(&mut buf).expect("reading from memory");
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
        }
        assert!(pieces == whole, "{recipe:?}: a piece at a time differs");
    }
});
