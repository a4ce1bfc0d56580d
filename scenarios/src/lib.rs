//! argus-scenario: replays scenario files against real `argus` processes in a lab network.
//!
//! Layout:
//! - `schema`: the scenario file format, its validation and resolution into a `Plan`.
//! - `http`: a small HTTP/1.1 client over Unix sockets or TCP.
//! - `api`: typed calls to a node's HTTP API (docs/NODE-INTERFACE.md).
//! - `procs`: child processes: spawn, stdout lines, signals, graceful stop.
//! - `lab`: the network: namespaces + bridge (root) or loopback with connection gating.
//! - `observe`: the data a run collects, and pure derivations from it.
//! - `bands`: time bands of partitions, outages, pauses, restarts, anomalies.
//! - `figures`: every figure of a run computed from the observations.
//! - `checks`: thresholds applied to the figures; missing data fails.
pub mod api;
pub mod bands;
pub mod checks;
pub mod figures;
pub mod http;
pub mod lab;
pub mod observe;
pub mod procs;
pub mod schema;
