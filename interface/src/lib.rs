//! argus-interface: everything that crosses an argus process boundary, typed once and used by
//! both sides: the node serialises, the scenario runner, `argus query` and the tests
//! deserialise. `docs/NODE-INTERFACE.md` is the prose of these types.
//!
//! - `api`: the bodies of the node's HTTP API.
//! - `lines`: the JSON lines `argus node`, `argus send` and `argus monitor` print on stdout.
//! - `monitor`: the monitor's config file.
//! - `http`: the one HTTP/1.1 client (TCP or Unix socket), and `client::NodeClient`, typed
//!   calls to a node's API on top of it.
pub mod api;
pub mod client;
pub mod http;
pub mod lines;
pub mod monitor;
