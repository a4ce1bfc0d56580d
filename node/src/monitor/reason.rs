//! Why the monitor restarts a node or gives up on it: the reasons its policy names, as the
//! log, the JSON lines (`kind`) and the metrics' labels read them.

use std::fmt;

/// Why a node is restarted or given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No answer to the local health probe for `silent_ms` (since the last one, or since the
    /// ready line when none came).
    Unhealthy { silent_ms: u64 },
    /// `fails` FAIL verdicts within the audit window.
    FailedAudits { fails: u32 },
    /// The process ended by itself; both `None` when it could not be spawned at all.
    Exited { code: Option<i32>, signal: Option<i32> },
    /// No ready line within the ready timeout.
    NotReady { waited_ms: u64 },
}

impl Reason {
    /// Short machine-readable name (`kind` in the JSON events, a label in /metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Unhealthy { .. } => "unhealthy",
            Reason::FailedAudits { .. } => "failed_audits",
            Reason::Exited { .. } => "exited",
            Reason::NotReady { .. } => "not_ready",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unhealthy { silent_ms } => {
                write!(f, "unhealthy: no answer to the local health probe for {silent_ms} ms")
            }
            Reason::FailedAudits { fails } => {
                write!(f, "failed audits: {fails} FAIL verdicts within the audit window")
            }
            Reason::Exited { code: Some(c), .. } => write!(f, "exited by itself with code {c}"),
            Reason::Exited { signal: Some(s), .. } => write!(f, "exited by itself on signal {s}"),
            Reason::Exited { .. } => write!(f, "could not be started"),
            Reason::NotReady { waited_ms } => write!(f, "no ready line within {waited_ms} ms"),
        }
    }
}
