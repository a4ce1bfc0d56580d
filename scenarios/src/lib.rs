//! argus-scenario: replays scenario files (`scenarios/*.toml`) against real `argus`
//! processes in a lab network, injects faults on a timeline, observes the nodes through their
//! HTTP API, and judges the run with checks. See `scenarios/README.md` for the file format.
//! What it reads from and writes to nodes and the monitor (HTTP bodies, stdout lines, the
//! monitor's config, the HTTP client) is typed in `argus_interface`, shared with the node.
//!
//! Layout:
//! - `schema`: the scenario file format, its validation and resolution into a `Plan`.
//! - `runner`: `argus-scenario run`: setup, phases, teardown, report (exit status).
//! - `lab`: the network: namespaces + bridge (root) or loopback with connection gating;
//!   `lab::check` is the namespace lab's self-check.
//! - `fleet`: node folders, command lines, processes, states; monitored fleets.
//! - `monitor`: the config file handed to `argus monitor`.
//! - `sources`: the `argus send` processes.
//! - `faults`: the timeline executor.
//! - `collect`: observer tasks (stdout lines, status poller, completion prober, queries).
//! - `procs`: child processes: spawn, stdout lines, signals, graceful stop.
//! - `observe`: the data a run collects, and pure derivations from it.
//! - `bands`: time bands of partitions, outages, pauses, restarts, anomalies.
//! - `figures`: every figure of a run computed from the observations.
//! - `checks`: thresholds applied to the figures; missing data fails.
//! - `chart`: the per-second series and the `timeline.svg` chart.
//! - `report`: `report.json` and the summary table.
pub mod bands;
pub mod chart;
pub mod checks;
pub mod collect;
pub mod faults;
pub mod figures;
pub mod fleet;
pub mod lab;
pub mod monitor;
pub mod observe;
pub mod procs;
pub mod report;
pub mod runner;
pub mod schema;
pub mod sources;
