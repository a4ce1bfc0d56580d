//! argus-scenario: replays scenario files against real `argus` processes in a lab network.
pub mod schema;
