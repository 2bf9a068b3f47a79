//! The `agenthub` binary: parse the command line, set up logs, run.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use agenthub::app::{App, StartupError};
use agenthub::cli::{Cli, Command, run_operator};
use agenthub::config::{LogFormat, Secrets};
use clap::Parser;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.settings.secrets = Secrets::from_env();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let telemetry =
            match agenthub::telemetry::init(cli.settings.log_format() == LogFormat::Json) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Err(anyhow::Error::new(agenthub::config::ConfigError(e)));
                }
            };
        let result = match cli.command {
            None | Some(Command::Serve) => serve(cli.settings).await,
            Some(command) => run_operator(cli.settings, command).await,
        };
        // Flushing waits on the exporter task: do it off the async workers.
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Configuration mistakes exit 2, like clap's own usage errors.
            let config = e
                .downcast_ref::<StartupError>()
                .is_some_and(|e| matches!(e, StartupError::Config(_)))
                || e.downcast_ref::<agenthub::config::ConfigError>().is_some();
            ExitCode::from(if config { 2 } else { 1 })
        }
    }
}

async fn serve(settings: agenthub::config::Settings) -> anyhow::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    // Start-up may wait for an unreachable database: a signal meanwhile ends it cleanly.
    let app = tokio::select! {
        app = App::build(settings) => app?,
        () = stop.cancelled() => {
            tracing::info!("stopped before start-up finished");
            return Ok(());
        }
    };
    if let Some(key) = &app.bootstrap_key {
        print_banner(key, app.local_addr().port());
    }
    tracing::info!(addr = %app.local_addr(), "AgentHub listening");
    app.run_until(stop.cancelled_owned()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Prints the first admin's key. A closed stdout must not take the server down, so write
/// errors are ignored rather than panicking like `println!`.
fn print_banner(key: &str, port: u16) {
    use std::io::Write;
    let line = "=".repeat(78);
    let _ = writeln!(
        std::io::stdout().lock(),
        "{line}\n  AgentHub created the first admin agent \"admin\". Its API key, shown once:\n\n    {key}\n\n  Exchange it for a JWT:\n    curl -s -X POST -H 'Authorization: Bearer {key}' http://localhost:{port}/api/v1/auth/token\n{line}"
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
