//! `pigeonhole`: the command-line face of the Pigeonhole SDK — an
//! always-on peer for the meetup laptop (`serve`), every buddy feature from
//! a terminal, and the one-command demo.
//!
//! Why a crate of its own: the SDK facade (`pigeonhole-sdk`) is what apps
//! hold; this binary is one more app over it, plus argument parsing, output
//! formats and exit codes. Modules:
//! * [`args`] — the command line (clap derive), with input checked at parse time;
//! * [`datadir`] — the data directory, its lock and saved peers;
//! * [`session`] — opening the local database alone, or a full peer;
//! * [`progress`] — bounded, visible waits;
//! * [`output`] — the JSON schema and human text;
//! * [`commands`] — the subcommands; [`demo`] — the scripted meetup;
//! * [`error`] — exit codes: 0 ok, 1 failed, 2 bad input.

#![deny(missing_docs)]

mod args;
mod commands;
mod datadir;
mod demo;
mod error;
mod output;
mod progress;
mod session;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::args::{Cli, Command, DirectoryCommand, DocCommand, FeedCommand, RequestCommand};
use crate::commands::{docs, feeds, local, network, serve};
use crate::error::CliError;
use crate::progress::Progress;

fn main() -> ExitCode {
    // clap exits 2 on bad usage (unknown subcommand, malformed value) and 0
    // for --help and --version.
    let cli = Cli::parse();
    // libp2p warns when a one-shot command's peer has no one to bootstrap
    // from yet; the command itself says what it is waiting for.
    let default_level = match cli.command {
        Command::Serve { .. } => "info,libp2p_kad=error",
        _ => "warn,libp2p_kad=error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pigeonhole: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pigeonhole: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn run(cli: &Cli) -> Result<(), CliError> {
    let global = &cli.global;
    let progress = Progress::new(global.json);
    match &cli.command {
        Command::Serve { stats_every } => {
            serve::serve(global, Duration::from_secs(*stats_every)).await
        }
        Command::Id { no_qr } => local::id(global, *no_qr),
        Command::Profile {
            display_name,
            directory_name,
        } => local::profile(global, display_name, directory_name.as_deref()),
        Command::Request(RequestCommand::Send {
            code,
            message,
            contacts,
        }) => network::send(global, &progress, code, message, contacts).await,
        Command::Requests { sync: false } => local::requests(global),
        Command::Requests { sync: true } => network::sync(global, &progress, true).await,
        Command::Sent => local::sent(global),
        Command::Accept { id } => network::answer(global, &progress, id, true).await,
        Command::Decline { id } => network::answer(global, &progress, id, false).await,
        Command::Withdraw { id } => network::withdraw(global, &progress, id).await,
        Command::Buddies => local::buddies(global),
        Command::Block { who } => local::block(global, who, true),
        Command::Unblock { who } => local::block(global, who, false),
        Command::RotateToken => local::rotate_token(global),
        Command::Directory(DirectoryCommand::Claim { name }) => {
            network::claim(global, &progress, name).await
        }
        Command::Directory(DirectoryCommand::Lookup { name }) => {
            network::lookup(global, &progress, name).await
        }
        Command::Sync => network::sync(global, &progress, false).await,
        Command::Peers => local::peers(global),
        Command::AddPeer { addr } => network::add_peer(global, &progress, addr).await,
        Command::Status => local::status(global),
        Command::Feed(command) => feed(cli, &progress, command).await,
        Command::Doc(command) => doc(cli, &progress, command).await,
        Command::Demo => demo::run(global.json).await,
    }
}

async fn feed(cli: &Cli, progress: &Progress, command: &FeedCommand) -> Result<(), CliError> {
    let global = &cli.global;
    match command {
        FeedCommand::Ref { name, qr } => feeds::reference(global, name, *qr),
        FeedCommand::Post {
            title,
            summary,
            link,
            name,
        } => feeds::post(global, progress, name, title, summary, link.as_deref()).await,
        FeedCommand::Follow { reference } => feeds::follow(global, reference, true),
        FeedCommand::Unfollow { reference } => feeds::follow(global, reference, false),
        FeedCommand::List => feeds::list(global),
        FeedCommand::Read {
            reference,
            sync,
            limit,
        } => feeds::read(global, progress, reference.as_ref(), *sync, *limit).await,
        FeedCommand::Rss {
            reference,
            name,
            sync,
        } => feeds::rss(global, progress, reference.as_ref(), name, *sync).await,
    }
}

async fn doc(cli: &Cli, progress: &Progress, command: &DocCommand) -> Result<(), CliError> {
    let global = &cli.global;
    match command {
        DocCommand::Notify {
            name,
            version,
            file,
            text,
            summary,
            owner,
        } => {
            let args = docs::NotifyArgs {
                name,
                version: *version,
                file: file.as_deref(),
                text: text.as_deref(),
                summary,
                owner: owner.as_ref(),
            };
            docs::notify(global, progress, args).await
        }
        DocCommand::Editors { name, editors } => {
            docs::editors(global, progress, name, editors).await
        }
        DocCommand::Watch { owner, name } => docs::watch(global, owner, name, true),
        DocCommand::Unwatch { owner, name } => docs::watch(global, owner, name, false),
        DocCommand::List => docs::list(global),
        DocCommand::Updates { owner, name } => {
            let one = owner.as_ref().zip(name.as_deref());
            docs::updates(global, progress, one).await
        }
    }
}
