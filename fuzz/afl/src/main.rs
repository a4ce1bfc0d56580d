//! One AFL++ target for the decoders of untrusted bytes in `argus-protocol`: the first input
//! byte picks the decoder (gossip envelope, each request and response, a register), the rest
//! is its input. AFL++ instruments the build (`cargo afl build`) and steers its mutations by
//! the edges they reach; a panic is a crash it saves. The mutation fuzzer in the workspace
//! (`argus-fuzz`) also covers images and the text formats.

use argus_protocol::codec::{decode, decode_gossip, decode_wire};
use argus_protocol::rpc::{FetchRequest, FetchResponse, QueryRequest, QueryResponse, SyncRequest, SyncResponse};

/// Inputs over this are cut (the decoders' own limits are far lower).
const MAX_INPUT: usize = 1 << 20;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&which, rest)) = data.split_first() else { return };
        match which % 8 {
            0 => drop(decode_gossip(rest)),
            1 => drop(decode_wire::<FetchRequest>(rest)),
            2 => drop(decode_wire::<FetchResponse>(rest)),
            3 => drop(decode_wire::<QueryRequest>(rest)),
            4 => drop(decode_wire::<QueryResponse>(rest)),
            5 => drop(decode_wire::<SyncRequest>(rest)),
            6 => drop(decode_wire::<SyncResponse>(rest)),
            _ => drop(decode::<argus_protocol::register_wire::RegisterWire>(rest, MAX_INPUT)),
        }
    });
}
