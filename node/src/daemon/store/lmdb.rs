//! The LMDB side of the store: databases, keys, and each operation as a plain function over a
//! transaction. Runs only on the store thread; never on the async executor.
//!
//! Databases:
//! - `registers`: image id (32 B) -> CBOR `RegisterWire`.
//! - `by_time`: capture ms (u64 BE) ++ image id -> register state hash (32 B); the time index
//!   that range fingerprints and paging walk.
//! - `by_content`: the content index (`content`): source, label, capture time, image id ->
//!   highest score.
//! - `meta`: `hlc` -> last hybrid-logical-clock timestamp (u64 BE); `schema` -> version.
//!
//! Commits are durable (no NO_SYNC). MDB_MAP_FULL aborts the batch, doubles the map up to the
//! configured maximum, and retries; past the maximum the batch fails with `MapFull`.

use std::path::Path;

use argus_protocol::codec::{decode, encode};
use argus_protocol::ids::ImageId;
use argus_protocol::limits::MAX_REGISTER_BYTES;
use argus_protocol::register::Register;
use argus_protocol::register_wire::RegisterWire;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};

use super::StoreError;

/// Version 2: candidates carry the model and weights they were computed with (protocol v2).
/// Version 3: registers carry meta (source name, thumbnail; protocol v4), their state hash
/// covers it, and the content index exists. A version 2 store is migrated when opened.
pub const SCHEMA_VERSION: u32 = 3;
pub const TIME_KEY_BYTES: usize = 40;

pub type Db<'e> = Database<'e, Bytes, Bytes>;

pub struct Dbs<'e> {
    pub registers: Db<'e>,
    pub by_time: Db<'e>,
    pub by_content: Db<'e>,
    pub meta: Db<'e>,
}

pub fn open_env(dir: &Path, map_size_bytes: usize) -> Result<Env<WithoutTls>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e.to_string()))?;
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.map_size(map_size_bytes).max_dbs(8);
    // SAFETY: the environment is opened once per process on a directory that only this node
    // uses (its data directory); heed's own check refuses a second open in the same process.
    unsafe { opts.open(dir) }.map_err(StoreError::from)
}

pub fn open_dbs(env: &Env<WithoutTls>) -> Result<Dbs<'_>, StoreError> {
    let wtxn = env.write_txn()?;
    let created = env.create_databases_and_commit(wtxn, |wdo, wtxn| -> Result<_, heed::Error> {
        let registers = wdo.create_database::<Bytes, Bytes>(wtxn, Some("registers"))?;
        let by_time = wdo.create_database::<Bytes, Bytes>(wtxn, Some("by_time"))?;
        let by_content = wdo.create_database::<Bytes, Bytes>(wtxn, Some("by_content"))?;
        let meta = wdo.create_database::<Bytes, Bytes>(wtxn, Some("meta"))?;
        Ok(CommitOrAbort::<_, ()>::Commit([registers, by_time, by_content, meta]))
    })?;
    let CommitOrAbort::Commit([registers, by_time, by_content, meta]) = created else {
        return Err(StoreError::Lmdb("database creation aborted".into()));
    };
    let dbs = Dbs { registers, by_time, by_content, meta };
    let mut wtxn = env.write_txn()?;
    match dbs.meta.get(&wtxn, b"schema")? {
        None => dbs.meta.put(&mut wtxn, b"schema", &SCHEMA_VERSION.to_be_bytes())?,
        Some(v) if v == SCHEMA_VERSION.to_be_bytes() => {}
        Some(v) if v == 2u32.to_be_bytes() => {
            // Same registers, new state hash domain and a new index: rebuild both.
            let n = rebuild_indexes(&dbs, &mut wtxn)?;
            dbs.meta.put(&mut wtxn, b"schema", &SCHEMA_VERSION.to_be_bytes())?;
            tracing::info!(registers = n, "store migrated from schema 2 to 3 (state hashes, content index)");
        }
        Some(v) => {
            return Err(StoreError::Corrupt(format!(
                "store schema version {v:?}, this build reads {SCHEMA_VERSION}: the data directory was \
                 written by another version of argus (move it aside to start afresh)"
            )));
        }
    }
    wtxn.commit()?;
    Ok(dbs)
}

pub fn time_key(captured_at_ms: u64, image: &ImageId) -> [u8; TIME_KEY_BYTES] {
    let mut k = [0u8; TIME_KEY_BYTES];
    k[..8].copy_from_slice(&captured_at_ms.to_be_bytes());
    k[8..].copy_from_slice(image.as_bytes());
    k
}

pub fn split_time_key(k: &[u8]) -> Result<(u64, ImageId), StoreError> {
    if k.len() != TIME_KEY_BYTES {
        return Err(StoreError::Corrupt("time index key of wrong length".into()));
    }
    let mut ms = [0u8; 8];
    ms.copy_from_slice(&k[..8]);
    let id = ImageId::from_slice(&k[8..]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((u64::from_be_bytes(ms), id))
}

pub fn get_wire(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    image: &ImageId,
) -> Result<Option<RegisterWire>, StoreError> {
    match dbs.registers.get(txn, image.as_bytes())? {
        None => Ok(None),
        Some(bytes) => {
            let wire: RegisterWire = decode(bytes, MAX_REGISTER_BYTES)
                .map_err(|e| StoreError::Corrupt(format!("register {image}: {e}")))?;
            // Pair assertion: what we read is what we keyed it by.
            if wire.image_id != *image {
                return Err(StoreError::Corrupt(format!("register {image} holds another id")));
            }
            Ok(Some(wire))
        }
    }
}

/// Verified register as stored (signatures re-checked: a damaged file cannot add votes).
pub fn get(dbs: &Dbs, txn: &RoTxn<WithoutTls>, image: &ImageId) -> Result<Option<Register>, StoreError> {
    match get_wire(dbs, txn, image)? {
        None => Ok(None),
        Some(wire) => {
            let (reg, _refused) = Register::from_wire(&wire)
                .map_err(|e| StoreError::Corrupt(format!("register {image}: {e}")))?;
            Ok(Some(reg))
        }
    }
}

/// Merges `incoming` into the stored register. Returns the merged register and whether the
/// store changed.
pub fn merge(dbs: &Dbs, wtxn: &mut RwTxn, incoming: &Register) -> Result<(Register, bool), StoreError> {
    let image = *incoming.image_id();
    let stored = get(dbs, wtxn, &image)?;
    // What the indexes hold for the stored register, to move them if the merge changes it
    // (the register itself is merged in place, not copied).
    let before = stored.as_ref().map(|r| (r.captured_at_ms(), super::content::entries(r)));
    let mut merged = stored.unwrap_or_else(|| Register::new(image, incoming.captured_at_ms()));
    let changed = merged.merge(incoming).map_err(|e| StoreError::Invalid(e.to_string()))?;
    // A register nobody holds is stored once it has a candidate (meta alone is not a result).
    let changed = if before.is_none() { !merged.is_empty() } else { changed };
    if changed {
        // Merge keeps the earliest capture time; move the time-index entry with it.
        if let Some((old_ms, _)) = &before
            && *old_ms != merged.captured_at_ms()
        {
            dbs.by_time.delete(wtxn, &time_key(*old_ms, &image))?;
        }
        let old_entries = before.as_ref().map_or(&[][..], |(_, e)| e.as_slice());
        super::content::update(&dbs.by_content, wtxn, old_entries, &merged)?;
        put(dbs, wtxn, &merged)?;
    }
    Ok((merged, changed))
}

fn put(dbs: &Dbs, wtxn: &mut RwTxn, reg: &Register) -> Result<(), StoreError> {
    let wire = reg.to_wire();
    let bytes = encode(&wire, MAX_REGISTER_BYTES).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let image = reg.image_id();
    dbs.registers.put(wtxn, image.as_bytes(), &bytes)?;
    let key = time_key(reg.captured_at_ms(), image);
    dbs.by_time.put(wtxn, &key, &reg.state_hash())?;
    Ok(())
}

/// Rebuilds every register's time-index hash and content entries (schema migration).
fn rebuild_indexes(dbs: &Dbs, wtxn: &mut RwTxn) -> Result<u64, StoreError> {
    let ids: Vec<ImageId> = dbs
        .registers
        .iter(wtxn)?
        .map(|item| {
            let (k, _) = item?;
            ImageId::from_slice(k).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect::<Result<_, StoreError>>()?;
    for id in &ids {
        if let Some(reg) = get(dbs, wtxn, id)? {
            dbs.by_time.put(wtxn, &time_key(reg.captured_at_ms(), id), &reg.state_hash())?;
            super::content::update(&dbs.by_content, wtxn, &[], &reg)?;
        }
    }
    Ok(ids.len() as u64)
}

pub fn load_clock(dbs: &Dbs, txn: &RoTxn<WithoutTls>) -> Result<u64, StoreError> {
    match dbs.meta.get(txn, b"hlc")? {
        None => Ok(0),
        Some(v) => {
            let arr: [u8; 8] = v.try_into().map_err(|_| StoreError::Corrupt("clock".into()))?;
            Ok(u64::from_be_bytes(arr))
        }
    }
}

pub fn save_clock(dbs: &Dbs, wtxn: &mut RwTxn, ts: u64) -> Result<(), StoreError> {
    let current = load_clock(dbs, wtxn)?;
    if ts > current {
        dbs.meta.put(wtxn, b"hlc", &ts.to_be_bytes())?;
    }
    Ok(())
}

/// The persisted audit record (see `argus_state::AuditRecord`): CBOR of
/// `[(peer id bytes, fails, condemned cutoff ms)]`. A record that does not decode is refused.
pub fn load_audit_record(dbs: &Dbs, txn: &RoTxn<WithoutTls>) -> Result<Vec<(Vec<u8>, u32, u64)>, StoreError> {
    match dbs.meta.get(txn, b"audit_record")? {
        None => Ok(Vec::new()),
        Some(v) => {
            decode(v, MAX_AUDIT_RECORD_BYTES).map_err(|e| StoreError::Corrupt(format!("audit record: {e}")))
        }
    }
}

pub fn save_audit_record(dbs: &Dbs, wtxn: &mut RwTxn, bytes: &[u8]) -> Result<(), StoreError> {
    dbs.meta.put(wtxn, b"audit_record", bytes)?;
    Ok(())
}

/// Largest audit record kept: 1,024 workers of about 60 bytes each.
pub const MAX_AUDIT_RECORD_BYTES: usize = 128 * 1024;
