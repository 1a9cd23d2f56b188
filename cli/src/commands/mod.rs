//! The subcommands, grouped by what they need: the local database only
//! ([`local`]), the network ([`network`]), or a long-running peer ([`serve`]);
//! feeds ([`feeds`]) and document notices ([`docs`]) mix local and network.

pub mod docs;
pub mod feeds;
pub mod local;
pub mod network;
pub mod serve;
