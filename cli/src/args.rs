//! The command line: every subcommand, flag and help text, as clap derive
//! types. Values that can be malformed (contact codes, request ids,
//! multiaddrs, contact fields) are parsed here, so that bad input is
//! refused with exit code 2 before anything is opened or written.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use pigeonhole::contact::ContactCode;
use pigeonhole::feed::FeedRef;
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole_sdk::Multiaddr;

const EXAMPLES: &str = "\
Examples:
  pigeonhole demo                          # the scripted meetup on 5 local peers
  pigeonhole serve                         # an always-on peer for the local network
  pigeonhole profile \"Alice\"               # the name shown with your requests
  pigeonhole id                            # your contact code, as text and QR code
  pigeonhole request send PH-AEB… --message \"Hi, we met at the meetup\"
  pigeonhole sync && pigeonhole requests   # fetch, then list pending requests
  pigeonhole accept 3f9c2a                 # accept by id (a unique prefix will do)
  pigeonhole feed post \"Slides are up\" --link https://example.org/slides
  pigeonhole feed follow PHF-AEB… && pigeonhole feed read --sync
  pigeonhole doc watch PH-AEB… agenda && pigeonhole doc updates
  pigeonhole --json buddies                # machine-readable output

Exit codes: 0 ok, 1 the operation failed, 2 bad input (nothing was written).";

/// Pigeonhole: serverless buddy requests over the local network.
///
/// Every user keeps an identity and a database in a data directory. Peers
/// find each other with mDNS on the local network; where multicast is
/// blocked, give peers with --peer or save them with `add-peer`.
#[derive(Debug, Parser)]
#[command(name = "pigeonhole", version, after_help = EXAMPLES, args_override_self = true)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The data directory (identity, database, saved peers). Default: the
    /// platform's data directory for pigeonhole.
    #[arg(long, global = true, env = "PIGEONHOLE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A peer to connect to (repeatable), e.g.
    /// /ip4/192.168.1.20/tcp/4001/p2p/12D3Koo…
    #[arg(long = "peer", global = true, value_name = "MULTIADDR")]
    pub peers: Vec<Multiaddr>,
    /// Address to listen on (repeatable). Default: /ip4/0.0.0.0/tcp/0.
    #[arg(long, global = true, value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,
    /// Do not use mDNS (rely on --peer and saved peers).
    #[arg(long, global = true)]
    pub no_mdns: bool,
    /// Print JSON (one document, schema in the README) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for peers and for replicas to confirm a publish.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an always-on peer: holds records for sleeping phones, syncs
    /// your own inbox, logs peers and storage. Stops on Ctrl-C or SIGTERM.
    #[command(after_help = "Example:\n  pigeonhole serve --listen /ip4/0.0.0.0/tcp/4001")]
    Serve {
        /// Seconds between the lines reporting peers, records held and bytes used.
        #[arg(long, value_name = "SECS", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(1..))]
        stats_every: u64,
    },
    /// Show your contact code (text and QR code) and public key.
    #[command(after_help = "Example:\n  pigeonhole id --no-qr")]
    Id {
        /// Do not draw the QR code.
        #[arg(long)]
        no_qr: bool,
    },
    /// Set the display name sent with your requests and answers.
    #[command(
        after_help = "Example:\n  pigeonhole profile \"Alice Martin\" --directory-name alice"
    )]
    Profile {
        /// Your display name (1–64 characters, one line).
        display_name: String,
        /// The public-directory name requests from you are verified under.
        #[arg(long, value_name = "NAME")]
        directory_name: Option<String>,
    },
    /// Buddy requests you send.
    #[command(subcommand)]
    Request(RequestCommand),
    /// List pending buddy requests (from the local database).
    #[command(after_help = "Examples:\n  pigeonhole requests\n  pigeonhole requests --sync --json")]
    Requests {
        /// Fetch your inbox from the network first.
        #[arg(long)]
        sync: bool,
    },
    /// List the requests you sent and their answers (local database).
    Sent,
    /// Accept a pending request: answer it and add the sender as a buddy.
    #[command(after_help = "Example:\n  pigeonhole accept 3f9c2a")]
    Accept {
        /// The request id, or a unique prefix of it (see `pigeonhole requests`).
        #[arg(value_parser = parse_id_prefix)]
        id: String,
    },
    /// Decline a pending request (your answer carries no name).
    #[command(after_help = "Example:\n  pigeonhole decline 3f9c2a")]
    Decline {
        /// The request id, or a unique prefix of it.
        #[arg(value_parser = parse_id_prefix)]
        id: String,
    },
    /// Withdraw a request you sent that is still unanswered: it disappears
    /// from the recipient's pending list at their next sync, and a late
    /// answer to it adds no buddy.
    #[command(after_help = "Example:\n  pigeonhole withdraw 3f9c2a")]
    Withdraw {
        /// The sent request's id, or a unique prefix of it (see `pigeonhole sent`).
        #[arg(value_parser = parse_id_prefix)]
        id: String,
    },
    /// List your buddies (local database).
    Buddies,
    /// Block a key: its requests are dropped unread.
    #[command(after_help = "Example:\n  pigeonhole block PH-AEB…")]
    Block {
        /// A contact code or a 64-hex-digit public key.
        #[arg(value_parser = parse_key)]
        who: KeyArg,
    },
    /// Unblock a key.
    Unblock {
        /// A contact code or a 64-hex-digit public key.
        #[arg(value_parser = parse_key)]
        who: KeyArg,
    },
    /// Make a new contact code; requests to the old one are no longer shown.
    RotateToken,
    /// The public-key directory (a name people can type → your key).
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Fetch your inbox now: new requests and answers to yours.
    Sync,
    /// List saved peers (see add-peer).
    Peers,
    /// Connect to a peer, and save it for every later command and `serve`.
    #[command(
        after_help = "Example:\n  pigeonhole add-peer /ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…"
    )]
    AddPeer {
        /// The peer's address, with /p2p/<peer id> if known.
        addr: Multiaddr,
    },
    /// Identity, storage and request counts (local database, no network).
    Status,
    /// Feeds: post to yours, follow others', read them, RSS out.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Document notices: announce new versions, watch documents, read updates.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Run the scripted offline meetup on 5 local peers and check each step.
    Demo,
}

/// `pigeonhole request …`
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Send a buddy request; waits until the replicas confirm it.
    #[command(
        after_help = "Example:\n  pigeonhole request send PH-AEB… --message \"Hi!\" \
                             --contact email=alice@example.org"
    )]
    Send {
        /// The recipient's contact code (PH-…).
        #[arg(value_parser = parse_code)]
        code: ContactCode,
        /// A note to the recipient (up to 1000 characters).
        #[arg(long, short, default_value = "")]
        message: String,
        /// A contact detail to share: email=…, phone=+…, url=https://…,
        /// handle=… (repeatable).
        #[arg(long = "contact", value_name = "KIND=VALUE", value_parser = parse_contact)]
        contacts: Vec<ContactField>,
    },
}

/// `pigeonhole directory …`
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Claim NAME for your key (sets your profile's directory name).
    Claim {
        /// The name (lower case letters, digits, '-', '.').
        name: String,
    },
    /// Every live claim to NAME.
    Lookup {
        /// The name.
        name: String,
    },
}

/// The feed name used when none is given.
pub const DEFAULT_FEED: &str = "main";

/// `pigeonhole feed …`
#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// Print the reference of your feed, to share (local, no network).
    #[command(
        after_help = "Examples:\n  pigeonhole feed ref\n  pigeonhole feed ref --feed photos --qr"
    )]
    Ref {
        /// Which of your feeds.
        #[arg(long = "feed", value_name = "NAME", default_value = DEFAULT_FEED,
              value_parser = parse_feed_name)]
        name: String,
        /// Also draw the reference as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Publish a post to your feed; waits until the replicas confirm it.
    #[command(
        after_help = "Example:\n  pigeonhole feed post \"Slides are up\" --summary \"Thanks for coming\" \
                             --link https://example.org/slides"
    )]
    Post {
        /// The title (1–200 characters, one line).
        title: String,
        /// The text (up to 4000 characters).
        #[arg(long, short, default_value = "")]
        summary: String,
        /// An http(s) link.
        #[arg(long, value_name = "URL")]
        link: Option<String>,
        /// Which of your feeds.
        #[arg(long = "feed", value_name = "NAME", default_value = DEFAULT_FEED,
              value_parser = parse_feed_name)]
        name: String,
    },
    /// Follow a feed from its first post (local; `feed read --sync` fetches).
    #[command(after_help = "Example:\n  pigeonhole feed follow PHF-AEB…")]
    Follow {
        /// The feed reference (PHF-…, from `pigeonhole feed ref`).
        #[arg(value_name = "PHF-REF", value_parser = parse_feed_ref)]
        reference: FeedRef,
    },
    /// Stop following a feed (local).
    Unfollow {
        /// The feed reference (PHF-…).
        #[arg(value_name = "PHF-REF", value_parser = parse_feed_ref)]
        reference: FeedRef,
    },
    /// List the feeds you follow (local).
    List,
    /// Show the posts of followed feeds (or one feed), oldest first, from
    /// the local copy; `--sync` fetches new posts first.
    #[command(
        after_help = "Examples:\n  pigeonhole feed read --sync\n  pigeonhole feed read PHF-AEB… --json"
    )]
    Read {
        /// One feed (followed, or your own); default: every followed feed.
        #[arg(value_name = "PHF-REF", value_parser = parse_feed_ref)]
        reference: Option<FeedRef>,
        /// Fetch new posts from the network first.
        #[arg(long)]
        sync: bool,
        /// Show at most this many of the newest posts per feed.
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
    /// Print a feed as an RSS 2.0 document (local copy; `--sync` fetches first).
    #[command(
        after_help = "Examples:\n  pigeonhole feed rss PHF-AEB… --sync > meetup.xml\n  pigeonhole feed rss"
    )]
    Rss {
        /// The feed (followed, or your own); default: your feed --feed NAME.
        #[arg(value_name = "PHF-REF", value_parser = parse_feed_ref)]
        reference: Option<FeedRef>,
        /// Which of your feeds, when no reference is given.
        #[arg(long = "feed", value_name = "NAME", default_value = DEFAULT_FEED,
              value_parser = parse_feed_name)]
        name: String,
        /// Fetch new posts from the network first.
        #[arg(long)]
        sync: bool,
    },
}

/// `pigeonhole doc …`
#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Announce version VERSION of a document with its content (inline up
    /// to 4 KiB, as chunks up to 256 KiB); waits until the replicas confirm.
    #[command(
        group(clap::ArgGroup::new("content").required(true).args(["file", "text"])),
        after_help = "Examples:\n  pigeonhole doc notify agenda 2 --file agenda.md --summary \"talk order changed\"\n  \
                      pigeonhole doc notify agenda 3 --text \"18:00 doors\" --owner PH-AEB…   # as an editor"
    )]
    Notify {
        /// The document's name (1–64 characters, one line).
        #[arg(value_parser = parse_doc_name)]
        name: String,
        /// The new version's number (from 1).
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        version: u64,
        /// The new content, read from a file.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The new content, given as text.
        #[arg(long, value_name = "TEXT")]
        text: Option<String>,
        /// What changed (up to 4000 characters).
        #[arg(long, short, default_value = "")]
        summary: String,
        /// The document's owner, when you edit someone else's document
        /// (contact code or hex key; they must have named you an editor).
        #[arg(long, value_name = "KEY", value_parser = parse_key)]
        owner: Option<KeyArg>,
    },
    /// Name the editors of your document (replaces the list; none revokes all).
    #[command(after_help = "Example:\n  pigeonhole doc editors agenda PH-AEB… PH-AFC…")]
    Editors {
        /// Your document's name.
        #[arg(value_parser = parse_doc_name)]
        name: String,
        /// The editors' contact codes or hex keys.
        #[arg(value_name = "KEY", value_parser = parse_key)]
        editors: Vec<KeyArg>,
    },
    /// Watch a document from its first version (local; `doc updates` fetches).
    #[command(after_help = "Example:\n  pigeonhole doc watch PH-AEB… agenda")]
    Watch {
        /// The owner's contact code or hex key.
        #[arg(value_parser = parse_key)]
        owner: KeyArg,
        /// The document's name.
        #[arg(value_parser = parse_doc_name)]
        name: String,
    },
    /// Stop watching a document (local).
    Unwatch {
        /// The owner's contact code or hex key.
        #[arg(value_parser = parse_key)]
        owner: KeyArg,
        /// The document's name.
        #[arg(value_parser = parse_doc_name)]
        name: String,
    },
    /// List the documents you watch (local).
    List,
    /// Fetch new versions of watched documents (or one), in version order,
    /// with their content.
    #[command(
        after_help = "Examples:\n  pigeonhole doc updates\n  pigeonhole --json doc updates PH-AEB… agenda"
    )]
    Updates {
        /// One document's owner (contact code or hex key).
        #[arg(value_parser = parse_key, requires = "name")]
        owner: Option<KeyArg>,
        /// That document's name.
        #[arg(value_parser = parse_doc_name, requires = "owner")]
        name: Option<String>,
    },
}

/// A key given on the command line, as a contact code or in hex.
#[derive(Clone, Debug)]
pub struct KeyArg(pub pigeonhole::identity::PublicKey);

fn parse_code(text: &str) -> Result<ContactCode, String> {
    ContactCode::parse(text).map_err(|error| error.to_string())
}

fn parse_key(text: &str) -> Result<KeyArg, String> {
    if text.trim().to_ascii_uppercase().starts_with("PH-") {
        return parse_code(text).map(|code| KeyArg(code.public_key));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| "expected a contact code (PH-…) or a 64-hex-digit public key".to_string())?;
    Ok(KeyArg(pigeonhole::identity::PublicKey(bytes)))
}

fn parse_feed_ref(text: &str) -> Result<FeedRef, String> {
    FeedRef::parse(text).map_err(|error| error.to_string())
}

fn parse_feed_name(text: &str) -> Result<String, String> {
    pigeonhole::record::body::check_feed_name(text).map_err(|error| error.to_string())?;
    Ok(text.to_owned())
}

fn parse_doc_name(text: &str) -> Result<String, String> {
    pigeonhole::record::body::check_doc_name(text).map_err(|error| error.to_string())?;
    Ok(text.to_owned())
}

fn parse_id_prefix(text: &str) -> Result<String, String> {
    let text = text.trim().to_ascii_lowercase();
    if text.len() < 4 || text.len() > 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a request id is 4 to 64 hex digits (see `pigeonhole requests`)".into());
    }
    Ok(text)
}

fn parse_contact(text: &str) -> Result<ContactField, String> {
    let (kind, value) = text
        .split_once('=')
        .ok_or("expected KIND=VALUE, e.g. email=alice@example.org")?;
    let kind = match kind.trim().to_ascii_lowercase().as_str() {
        "email" => ContactFieldKind::Email,
        "phone" => ContactFieldKind::Phone,
        "url" => ContactFieldKind::Url,
        "handle" => ContactFieldKind::Handle,
        other => {
            return Err(format!(
                "unknown contact kind {other:?}: use email, phone, url or handle"
            ));
        }
    };
    ContactField::check(kind as u8, value).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn contact_fields_are_checked_by_kind() {
        assert!(parse_contact("email=alice@example.org").is_ok());
        assert!(parse_contact("phone=+33612345678").is_ok());
        assert!(parse_contact("phone=12").is_err());
        assert!(
            parse_contact("fax=123")
                .unwrap_err()
                .contains("unknown contact kind")
        );
        assert!(parse_contact("email").unwrap_err().contains("KIND=VALUE"));
    }

    #[test]
    fn request_ids_are_hex_prefixes() {
        assert_eq!(parse_id_prefix(" 3F9C ").unwrap(), "3f9c");
        assert!(parse_id_prefix("3f9").is_err());
        assert!(parse_id_prefix("zzzz").is_err());
        assert!(parse_id_prefix(&"a".repeat(65)).is_err());
    }

    #[test]
    fn keys_are_codes_or_hex() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key("abcd").is_err());
        assert!(parse_key("PH-AAAA").is_err());
    }
}
