//! `argus-scenario`: parses the command line and calls the library. Thin by design: every
//! decision lives in `argus_scenario`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use argus_scenario::lab::{FabricChoice, check};
use argus_scenario::runner::{self, RunOptions};
use argus_scenario::schema::Scenario;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "argus-scenario", about = "Replay argus scenario files in a lab network", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario file; exits 1 when a check fails (and prints the seed to replay).
    Run {
        file: PathBuf,
        /// Replaces the file's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder (default: out/<scenario>-<UTC timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The argus binary (default: $ARGUS_BIN, else `argus` next to this executable).
        #[arg(long)]
        argus_bin: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "auto")]
        fabric: FabricChoice,
    },
    /// Validate scenario files and print what each would do.
    Check { files: Vec<PathBuf> },
    /// Build a namespace lab, prove links, multicast, partition and heal, tear down (root).
    LabCheck {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// Probes the lab self-check runs inside namespaces.
    #[command(hide = true)]
    Probe {
        #[command(subcommand)]
        probe: Probe,
    },
}

#[derive(Subcommand)]
enum Probe {
    Tcp {
        addr: SocketAddr,
        #[arg(long, default_value_t = 1500)]
        timeout_ms: u64,
    },
    McastRecv {
        iface: Ipv4Addr,
    },
    McastSend,
}

fn check_files(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        match Scenario::load(f, None) {
            Ok(p) => {
                let s = &p.scenario;
                println!(
                    "ok   {}: {} nodes (+{} spare){}, {} sources, {} timeline steps, {} s load",
                    f.display(),
                    s.nodes.count,
                    s.nodes.spare,
                    if s.monitor.is_some() { " under a monitor" } else { "" },
                    p.sources.len(),
                    p.faults.len(),
                    s.duration_s
                );
            }
            Err(e) => {
                ok = false;
                println!("FAIL {e}");
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn probe(p: Probe) -> ExitCode {
    let ok = match p {
        Probe::Tcp { addr, timeout_ms } => check::probe_tcp(addr, Duration::from_millis(timeout_ms)),
        Probe::McastRecv { iface } => check::probe_mcast_recv(iface, Duration::from_secs(3)).unwrap_or(false),
        Probe::McastSend => check::probe_mcast_send().is_ok(),
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Run { file, seed, out, argus_bin, fabric } => {
            match runner::run(RunOptions { file, seed, out, argus_bin, fabric }).await {
                Ok(outcome) => ExitCode::from(outcome.exit_code() as u8),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Check { files } => check_files(&files),
        Cmd::LabCheck { nodes } => {
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("argus-scenario"));
            match check::netns_selfcheck(&exe, nodes) {
                Ok(log) => {
                    log.iter().for_each(|l| println!("{l}"));
                    println!("lab check passed");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("lab check failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Probe { probe: p } => probe(p),
    }
}
