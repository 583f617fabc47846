use std::process::ExitCode;

use clap::Parser;
use runner::cli::{Cli, Command, exit_code};
use runner::lint;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { exit_code::USAGE } else { 0 });
        }
    };
    if let Command::SandboxHelper { plan } = &cli.command {
        // Before any runtime exists: the helper must stay single-threaded to unshare and fork.
        return ExitCode::from(u8::try_from(runner::sandbox::helper_main(plan)).unwrap_or(exit_code::INTERNAL));
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUNNER_LOG").unwrap_or_else(|_| "runner=warn".into()))
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runner: cannot start the async runtime: {error}");
            return ExitCode::from(exit_code::INTERNAL);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(cli)))
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Exec(args) => exec(*args).await,
        Command::Policy(args) => runner::policy::command::run(args).await,
        Command::Lint(args) => lint(&args),
        Command::Cell(args) => runner::interactive::run(args).await,
        Command::Lineage(args) => lineage(&args),
        Command::Schedule(args) => runner::schedule::command::run(args).await,
        Command::Serve(args) => match count_stop_signals() {
            Ok(stops) => runner::serve::command::serve(args, stops).await,
            Err(error) => {
                eprintln!("runner: cannot install signal handlers: {error}");
                exit_code::INTERNAL
            }
        },
        Command::Runs(args) => runner::serve::command::runs(&args),
        Command::SandboxHelper { .. } => exit_code::INTERNAL,
    }
}

async fn exec(args: runner::cli::ExecArgs) -> u8 {
    let job = match args.into_job() {
        Ok(job) => job,
        Err(error) => {
            eprintln!("runner: {error}");
            return exit_code::USAGE;
        }
    };
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("runner: cannot install signal handlers: {error}");
            return exit_code::INTERNAL;
        }
    };
    match runner::exec::run(&job, stop).await {
        Ok(outcome) => {
            if outcome.exit_code() != 0 {
                let saved = match &job.output {
                    runner::notebook::Destination::File(path) => format!("; partial notebook saved to {}", path.display()),
                    runner::notebook::Destination::Stdout => String::new(),
                };
                eprintln!("runner: {outcome}{saved}");
            }
            outcome.exit_code()
        }
        Err(error) => {
            eprintln!("runner: {error}");
            error.exit_code()
        }
    }
}

/// `runner lint`: 0 when eligible (warnings allowed), 1 when not, 2 when the notebook cannot be read.
fn lint(args: &runner::cli::LintArgs) -> u8 {
    let notebook = match runner::notebook::read(&args.notebook) {
        Ok(notebook) => notebook,
        Err(error) => {
            eprintln!("runner: {error}");
            return exit_code::USAGE;
        }
    };
    let findings = lint::lint(&notebook);
    let report = if args.json { lint::report::json(&findings) } else { lint::report::human(&args.notebook, &findings) };
    print!("{report}");
    if lint::is_eligible(&findings) { 0 } else { exit_code::NOT_ELIGIBLE }
}

fn lineage(args: &runner::cli::LineageArgs) -> u8 {
    use runner::lineage::query;
    let found = std::env::current_dir()
        .map_err(|e| e.to_string())
        .and_then(|dir| query::resolve(&args.table, &dir, args.config.as_deref()).map_err(|e| e.to_string()))
        .and_then(|(file, table)| query::accesses(&file, &table).map(|found| (table, found)).map_err(|e| e.to_string()));
    match found {
        Ok((table, accesses)) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&accesses).unwrap_or_default());
            } else {
                print!("{}", query::render(&table, &accesses));
            }
            0
        }
        Err(error) => {
            eprintln!("runner: {error}");
            exit_code::USAGE
        }
    }
}

/// A flag that turns true on SIGINT or SIGTERM, so the run can save its work and stop its kernel.
fn stop_on_signals() -> std::io::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// How many times SIGINT or SIGTERM came: the daemon drains on the first and leaves on the second.
fn count_stop_signals() -> std::io::Result<watch::Receiver<u32>> {
    let (tx, rx) = watch::channel(0);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tx.send_modify(|count| *count += 1);
        }
    });
    Ok(rx)
}
