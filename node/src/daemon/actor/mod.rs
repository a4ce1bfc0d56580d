//! The node's actor: the one task that owns the protocol state (`argus_state::State`) and
//! moves events between it and the world. It turns network events, worker results, HTTP
//! commands, timers and the answers of its own follow-ups into `In` events, hands each to the
//! state, and carries out the `Out` events it returns (`effects`). It never awaits the store
//! or the network: store calls, fetches and answers to peers run in follow-up tasks whose
//! answers come back on the `internal` channel; publishes and worker jobs are queued without
//! waiting, and a full queue is counted, never waited on.

mod effects;
mod event_loop;
mod follow_up;

pub use event_loop::{Actor, Command, Inputs, MAX_DEFERRED, MAX_FOLLOW_UPS};
