#![no_main]
// A layer carried as a reference delta: its member comes from the bundle (untrusted until the
// rebuilt gzip's digest says otherwise) and its reference from the loading side. Decoding
// must never panic, hang or allocate past its bounds, and what an encoding made must decode
// back exactly. A reference spooled from a target or a base stops at its promised size.
use bundle::format::patch::{self, Decoder, Reference};
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // data[0..2]: how much of the rest is the reference; data[2..4]: the member's size.
    let split = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 4);
    let member_len = u64::from(u16::from_le_bytes([data[2], data[3]]));
    let (reference, member) = data[4..].split_at(split);
    let reference: Arc<dyn Reference> = Arc::new(reference.to_vec());
    let mut out = Vec::new();
    let _ = Decoder::new(member, reference.clone(), member_len)
        .take(1 << 20)
        .read_to_end(&mut out);

    // The member as a reference layer spooled by a loader: never past the size its record
    // promises (member_len here), whether it comes as a tar or as a gzip (maybe a bomb).
    let tars = bundle::reference_tars::ReferenceTars::new();
    let layer = bundle::digest::Digest::of(member);
    let as_tar: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(member.to_vec()));
    match tars.spool(&layer, as_tar, member_len) {
        Ok(s) => assert!(s.size <= member_len),
        Err(_) => assert!(member.len() as u64 > member_len),
    }
    let gz = bundle::reference_tars::gunzip(std::io::Cursor::new(member.to_vec()));
    if let Ok(s) = bundle::reference_tars::ReferenceTars::new().spool(&layer, gz, member_len) {
        assert!(s.size <= member_len);
    }

    // The same bytes as a tar pair: the member encoded against the reference decodes back.
    let old = bundle::tarindex::index(&reference_bytes(&reference)[..]).unwrap_or_default();
    let new = bundle::tarindex::index(member).unwrap_or_default();
    let chunks = patch::plan(member.len() as u64, 0, &new, &old);
    let mut enc = Vec::new();
    patch::encode(&mut &member[..], &chunks, reference.as_ref(), 1, &mut enc).expect("encodes");
    let mut back = Vec::new();
    Decoder::new(&enc[..], reference, member.len() as u64)
        .read_to_end(&mut back)
        .expect("decodes what it encoded");
    assert!(back == member);
});

fn reference_bytes(r: &Arc<dyn Reference>) -> Vec<u8> {
    let mut v = vec![0u8; r.size() as usize];
    r.read_at(&mut v, 0).expect("in memory");
    v
}
