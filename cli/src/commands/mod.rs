//! The subcommands, grouped by what they need: the local database only
//! ([`local`]), the network ([`network`]), or a long-running peer ([`serve`]).

pub mod local;
pub mod network;
pub mod serve;
