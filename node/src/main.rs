//! The `argus` binary: parses flags, builds the configuration and hands over to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use argus_node::cli::{Cli, Cmd};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: node logs usually go to files (the monitor, the runner).
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,libp2p_gossipsub=warn,libp2p_mdns=warn".into()),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("argus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Cmd::Node(args) => argus_node::run_node(args, argus_node::shutdown_signal()).await,
            Cmd::Send(args) => argus_node::send::run(args).await.map(|()| 0),
            Cmd::Query(args) => argus_node::query::run(args).await,
            Cmd::Monitor(args) => argus_node::monitor::run(args).await.map(|()| 0),
            Cmd::Keygen(args) => match argus_node::net::netkey::write_new(&args.out) {
                Ok(fingerprint) => {
                    println!("wrote {} (fingerprint {fingerprint})", args.out.display());
                    Ok(0)
                }
                Err(e) => Err(anyhow::anyhow!(e)),
            },
            Cmd::Backends => {
                for b in argus_model::BackendKind::ALL.into_iter().filter(|b| b.is_compiled()) {
                    println!("{b}");
                }
                Ok(0)
            }
        }
    });
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("argus: {e:#}");
            ExitCode::FAILURE
        }
    }
}
