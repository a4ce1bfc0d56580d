//! Hostile input: every class of bad bytes returns a typed error, never a panic, and the
//! decoder's allocations stay small whatever a length prefix claims. A per-thread counting
//! allocator measures the peak heap growth during each decode.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use argus_protocol::codec::{CodecError, Envelope, decode, decode_gossip, decode_wire, encode};
use argus_protocol::limits::*;
use argus_protocol::messages::{Bid, GossipMessage};
use argus_protocol::rpc::{FetchResponse, SyncRequest, SyncResponse};
use serde_bytes::ByteBuf;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| {
            l.set(l.get() + layout.size());
            let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the peak heap growth (bytes) on this thread.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

const SMALL_HEAP_BYTES: usize = 64 * 1024;

/// xorshift64*: deterministic "random" bytes without a dependency.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn bid() -> GossipMessage {
    let node = common::node_of(&common::keypair(1));
    GossipMessage::Bid(Bid { image_id: common::image(), bidder: node, wait_ms: 120, queue_len: 3 })
}

#[test]
fn one_mib_of_random_bytes_is_refused_with_small_memory() {
    for seed in 1..=8u64 {
        let input = random_bytes(1024 * 1024, seed);
        let t = Instant::now();
        let (res, heap) = peak_growth(|| decode::<SyncResponse>(&input, MAX_SYNC_RESPONSE_BYTES));
        let err = res.expect_err("random bytes decoded");
        assert!(heap < SMALL_HEAP_BYTES, "seed {seed}: {heap} bytes allocated ({err})");
        eprintln!("random 1 MiB seed {seed}: {err} in {:?}, heap {heap} B", t.elapsed());
        // Through the gossip path the size check refuses it before anything else.
        assert!(matches!(decode_gossip(&input), Err(CodecError::TooLarge { .. })));
    }
}

#[test]
fn byte_string_claiming_two_to_the_64_bytes_does_not_allocate() {
    for head in [0x5bu8, 0x7b] {
        // bytes / text string with an 8-byte length of 2^64 - 1, then a little payload.
        let mut input = vec![head];
        input.extend_from_slice(&[0xff; 8]);
        input.extend_from_slice(b"tail");
        let t = Instant::now();
        let (res, heap) = peak_growth(|| decode::<ByteBuf>(&input, MAX_FETCH_RESPONSE_BYTES));
        assert!(matches!(res, Err(CodecError::Truncated { .. })), "{res:?}");
        assert!(heap < SMALL_HEAP_BYTES, "{heap} bytes allocated");
        eprintln!("2^64-byte header {head:#x}: {:?} in {:?}", res.unwrap_err(), t.elapsed());
    }
    // Same inside a real message: an announcement whose inline bytes claim 2^64.
    let mut body = vec![0xa1, 0x68];
    body.extend_from_slice(b"Announce");
    body.extend_from_slice(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let (res, heap) = peak_growth(|| decode::<GossipMessage>(&body, MAX_GOSSIP_BYTES));
    assert!(matches!(res, Err(CodecError::Truncated { .. })), "{res:?}");
    assert!(heap < SMALL_HEAP_BYTES);
}

#[test]
fn arrays_and_maps_claiming_huge_counts_do_not_preallocate() {
    // array of 2^32 - 1 elements, map of 2^63 pairs (2n overflows), both with 3 bytes behind.
    let inputs: [&[u8]; 3] = [
        &[0x9a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3],
        &[0x99, 0x10, 0x00, 0x01], // 4096 elements, one present
    ];
    for input in inputs {
        let (res, heap) = peak_growth(|| decode::<Vec<u64>>(input, MAX_SYNC_RESPONSE_BYTES));
        assert!(matches!(res, Err(CodecError::Truncated { .. })), "{res:?}");
        assert!(heap < 1024, "{heap} bytes allocated");
    }
}

#[test]
fn hundred_thousand_nested_arrays_are_too_deep() {
    let input = vec![0x81u8; 100_000];
    let t = Instant::now();
    let (res, heap) = peak_growth(|| decode::<SyncResponse>(&input, MAX_SYNC_RESPONSE_BYTES));
    assert_eq!(res, Err(CodecError::TooDeep));
    assert!(heap < SMALL_HEAP_BYTES, "{heap} bytes allocated");
    eprintln!("100k nested arrays: TooDeep in {:?}", t.elapsed());
    // Nested maps too, and nesting just past the limit (depth 17 with a scalar inside).
    let mut maps = Vec::new();
    for _ in 0..50_000 {
        maps.extend_from_slice(&[0xa1, 0x00]);
    }
    assert_eq!(decode::<SyncResponse>(&maps, MAX_SYNC_RESPONSE_BYTES), Err(CodecError::TooDeep));
    let mut just_over = vec![0x81u8; MAX_NESTING_DEPTH + 1];
    just_over.push(0x00);
    assert_eq!(decode::<ciborium::Value>(&just_over, 1024), Err(CodecError::TooDeep));
    let mut at_limit = vec![0x81u8; MAX_NESTING_DEPTH];
    at_limit.push(0x00);
    assert!(decode::<ciborium::Value>(&at_limit, 1024).is_ok());
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let input = vec![0u8; MAX_FETCH_REQUEST_BYTES + 1];
    let err = decode_wire::<argus_protocol::rpc::FetchRequest>(&input).unwrap_err();
    assert_eq!(
        err,
        CodecError::TooLarge { len: MAX_FETCH_REQUEST_BYTES + 1, limit: MAX_FETCH_REQUEST_BYTES }
    );
    let big = vec![0u8; MAX_GOSSIP_BYTES + 1];
    assert!(matches!(decode_gossip(&big), Err(CodecError::TooLarge { .. })));
    // Encoding refuses too: a fetch response over its limit.
    let resp = FetchResponse { bytes: Some(ByteBuf::from(vec![7u8; MAX_FETCH_RESPONSE_BYTES])) };
    assert!(matches!(encode(&resp, MAX_FETCH_RESPONSE_BYTES), Err(CodecError::TooLarge { .. })));
}

#[test]
fn every_truncation_of_a_valid_message_is_an_error() {
    let bytes = argus_protocol::encode_gossip(&bid()).unwrap();
    for cut in 0..bytes.len() {
        let err = decode_gossip(&bytes[..cut]).expect_err("truncated message decoded");
        assert!(matches!(err, CodecError::Truncated { .. }), "cut {cut}: {err:?}");
    }
    assert_eq!(decode_gossip(&bytes).unwrap(), bid());
}

#[test]
fn wrong_version_is_reported_as_such() {
    let body = encode(&bid(), MAX_GOSSIP_BYTES).unwrap();
    // Versions 1 (no model on the wire), 2 (no work stealing), 3 (no register meta) and 4 (no
    // bid in claims) are wrong versions now, like any other but 5.
    assert_eq!(PROTOCOL_VERSION, 5);
    for v in [0u16, 1, 2, 3, 4, 6, 7, u16::MAX] {
        let env = encode(&Envelope { v, body: ByteBuf::from(body.clone()) }, MAX_GOSSIP_BYTES).unwrap();
        assert_eq!(decode_gossip(&env), Err(CodecError::WrongVersion { got: u64::from(v) }));
    }
    // A future version whose body we cannot read, with an extra envelope key: still WrongVersion.
    let future = ciborium::Value::Map(vec![
        ("v".into(), 6.into()),
        ("body".into(), ciborium::Value::Bytes(vec![0xff, 0xfe])),
        ("sig".into(), ciborium::Value::Bytes(vec![1; 4])),
    ]);
    let env = encode(&future, MAX_GOSSIP_BYTES).unwrap();
    assert_eq!(decode_gossip(&env), Err(CodecError::WrongVersion { got: 6 }));
}

#[test]
fn garbage_and_forbidden_encodings_are_malformed() {
    let good_body = encode(&bid(), MAX_GOSSIP_BYTES).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("break byte", vec![0xff]),
        ("reserved info", vec![0x1c]),
        ("tag", vec![0xc0, 0x00]),
        ("indefinite bytes", vec![0x5f, 0x41, 0x00, 0xff]),
        ("indefinite map", vec![0xbf, 0xff]),
        ("trailing bytes", [good_body.clone(), vec![0x00]].concat()),
        ("text instead of map", vec![0x63, b'a', b'b', b'c']),
        ("unknown variant", encode(&ciborium::Value::Map(vec![("Nope".into(), 1.into())]), 64).unwrap()),
    ];
    for (what, input) in cases {
        let res = decode::<GossipMessage>(&input, MAX_GOSSIP_BYTES);
        assert!(
            matches!(res, Err(CodecError::Malformed(_) | CodecError::Truncated { .. })),
            "{what}: {res:?}"
        );
    }
    // Invalid UTF-8 in a text string.
    assert!(matches!(decode::<String>(&[0x62, 0xc3, 0x28], 64), Err(CodecError::Malformed(_))));
}

#[test]
fn unknown_fields_and_wrong_types_are_malformed() {
    let bid_map = |extra: Option<(&str, ciborium::Value)>, wait: ciborium::Value| {
        let mut fields = vec![
            ("image_id".into(), ciborium::Value::Bytes(common::image().0.to_vec())),
            ("bidder".into(), ciborium::Value::Bytes(common::node_of(&common::keypair(1)).to_bytes())),
            ("wait_ms".into(), wait),
            ("queue_len".into(), 3.into()),
        ];
        fields.extend(extra.map(|(k, v)| (k.into(), v)));
        ciborium::Value::Map(vec![("Bid".into(), ciborium::Value::Map(fields))])
    };
    let ok = encode(&bid_map(None, 120.into()), 1024).unwrap();
    assert_eq!(decode::<GossipMessage>(&ok, 1024).unwrap(), bid());
    let cases = [
        bid_map(Some(("extra", 1.into())), 120.into()),
        bid_map(None, (-1).into()),
        bid_map(None, u64::MAX.into()),
        bid_map(None, "120".into()),
    ];
    for v in cases {
        let bytes = encode(&v, 1024).unwrap();
        assert!(matches!(decode::<GossipMessage>(&bytes, 1024), Err(CodecError::Malformed(_))), "{v:?}");
    }
    // Ids must be byte strings of the right length, and node ids must parse as PeerIds.
    let mut bad_node = common::node_of(&common::keypair(1)).to_bytes();
    bad_node[0] = 0x77;
    let mut fields = vec![("image_id".into(), ciborium::Value::Bytes(vec![1; 31]))];
    for v in [ciborium::Value::Bytes(bad_node), ciborium::Value::Array(vec![1.into(); 32])] {
        fields.push(("bidder".into(), v));
        let bytes =
            encode(&ciborium::Value::Map(vec![("Bid".into(), ciborium::Value::Map(fields.clone()))]), 1024)
                .unwrap();
        assert!(matches!(decode::<GossipMessage>(&bytes, 1024), Err(CodecError::Malformed(_))));
        fields.pop();
    }
}

#[test]
fn sync_requests_out_of_bounds_are_invalid() {
    for req in [
        SyncRequest::Fingerprints { start_ms: 10, end_ms: 5, parts: 4 },
        SyncRequest::Fingerprints { start_ms: 0, end_ms: 5, parts: 0 },
        SyncRequest::Fingerprints { start_ms: 0, end_ms: 5, parts: MAX_RANGES as u16 + 1 },
        SyncRequest::Fetch { start_ms: 0, end_ms: 5, limit: MAX_SYNC_FETCH_LIMIT + 1, after: None },
    ] {
        let bytes = encode(&req, MAX_SYNC_REQUEST_BYTES).unwrap();
        assert!(matches!(decode_wire::<SyncRequest>(&bytes), Err(CodecError::Invalid(_))), "{req:?}");
        assert!(matches!(argus_protocol::encode_wire(&req), Err(CodecError::Invalid(_))));
    }
}

/// Documents why the pre-scan exists: ciborium alone streams byte strings in chunks (no
/// prefix allocation), but serde's `Vec` visitor preallocates from an array's declared count
/// (capped at 1 MiB by serde). Through `decode` the same input allocates nothing.
#[test]
fn ciborium_alone_preallocates_from_an_array_count_decode_does_not() {
    let input = [0x9a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    let (raw, raw_heap) = peak_growth(|| ciborium::de::from_reader::<Vec<u64>, _>(&input[..]));
    assert!(raw.is_err());
    let (ours, our_heap) = peak_growth(|| decode::<Vec<u64>>(&input, 1024));
    assert!(ours.is_err());
    eprintln!("array count 2^32-1: ciborium alone peak {raw_heap} B, decode peak {our_heap} B");
    assert!(our_heap < 1024);
    assert!(raw_heap > 100 * 1024, "ciborium no longer preallocates ({raw_heap} B)");
}
