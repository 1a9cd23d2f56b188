//! `feed …`: post to your feed (network), follow and unfollow (local), read
//! and RSS out (the local copy, fetched first with `--sync`).
//!
//! Posts are checked against the protocol's rules before a peer starts, so
//! a bad title or link fails with exit 2 and nothing published or written.

use std::collections::BTreeMap;

use pigeonhole::codec::Reader;
use pigeonhole::feed::{FeedRef, FeedUpdate};
use pigeonhole::record::body::{BodyRules, FeedPost};
use serde::Serialize;
use serde_json::json;

use crate::args::Global;
use crate::commands::local::qr;
use crate::commands::network::{timeout, with_online};
use crate::datadir::Create;
use crate::error::CliError;
use crate::output::{FeedOut, PostOut, emit};
use crate::progress::Progress;
use crate::session::Local;

/// What a `--sync` fetch delivered for one feed.
#[derive(Clone, Debug, Serialize)]
struct FetchedOut {
    new_posts: usize,
    deleted: usize,
    missed: u64,
    rejected: u32,
}

impl From<&FeedUpdate> for FetchedOut {
    fn from(update: &FeedUpdate) -> Self {
        Self {
            new_posts: update.posts.len(),
            deleted: update.deleted.len(),
            missed: update.missed,
            rejected: update.rejected,
        }
    }
}

/// One feed as `feed read` shows it.
#[derive(Clone, Debug, Serialize)]
struct FeedPostsOut {
    #[serde(flatten)]
    feed: FeedOut,
    fetched: Option<FetchedOut>,
    posts: Vec<PostOut>,
}

/// `feed ref [--feed NAME] [--qr]`.
pub fn reference(global: &Global, name: &str, draw_qr: bool) -> Result<(), CliError> {
    let local = Local::open(global, Create::Allowed)?;
    let feed = local.feeds.own_feed(name)?;
    let out = FeedOut::from(&feed);
    emit(global.json, "feed_ref", &out, || {
        if draw_qr {
            format!("{}\n{}", qr(&out.feed), out.feed)
        } else {
            out.feed.clone()
        }
    });
    Ok(())
}

/// Checks a post against the protocol's rules, before anything runs.
fn check_post(name: &str, title: &str, summary: &str, link: Option<&str>) -> Result<(), CliError> {
    let body = FeedPost {
        feed_name: name.to_owned(),
        title: title.to_owned(),
        link: link.map(str::to_owned),
        summary: summary.to_owned(),
        number: 1,
        published_at: None,
        replaces: None,
    };
    FeedPost::decode_from(&mut Reader::new(&body.encode()))
        .map(drop)
        .map_err(|error| CliError::BadInput(format!("cannot post: {error}")))
}

/// `feed post TITLE [--summary] [--link] [--feed NAME]`.
pub async fn post(
    global: &Global,
    progress: &Progress,
    name: &str,
    title: &str,
    summary: &str,
    link: Option<&str>,
) -> Result<(), CliError> {
    check_post(name, title, summary, link)?;
    let post = with_online(global, progress, Create::Allowed, async |online| {
        progress
            .wait("the replicas to confirm the post", timeout(global), async {
                Ok(online
                    .node
                    .feeds()
                    .post(name, title, link, summary, None)
                    .await?)
            })
            .await
    })
    .await?;
    let feed = FeedOut::from(&post.feed);
    let out = PostOut::from(&post);
    emit(
        global.json,
        "feed_post",
        &json!({ "feed": feed, "post": out }),
        || {
            format!(
                "posted #{} to your feed {:?}, confirmed by the network\nshare it: {}",
                out.number, feed.name, feed.feed
            )
        },
    );
    Ok(())
}

/// `feed follow REF` / `feed unfollow REF`.
pub fn follow(global: &Global, feed: &FeedRef, follow: bool) -> Result<(), CliError> {
    let create = if follow {
        Create::Allowed
    } else {
        Create::Refused
    };
    let local = Local::open(global, create)?;
    let changed = if follow {
        local.feeds.follow(feed)?
    } else {
        local.feeds.unfollow(feed)?
    };
    let out = FeedOut::from(feed);
    let document = json!({ "feed": out, "following": follow, "changed": changed });
    emit(global.json, "follow", &document, || {
        match (follow, changed) {
            (true, true) => format!(
                "following {:?} by {}… (fetch with `pigeonhole feed read --sync`)",
                out.name,
                &out.author[..12]
            ),
            (true, false) => format!("already following {:?}", out.name),
            (false, true) => format!("no longer following {:?}", out.name),
            (false, false) => format!("{:?} was not followed", out.name),
        }
    });
    Ok(())
}

/// `feed list`.
pub fn list(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let following: Vec<serde_json::Value> = local
        .feeds
        .following()?
        .iter()
        .map(|f| {
            json!({
                "feed": FeedOut::from(&f.feed),
                "last_number": f.last_number,
                "missed": f.missed,
            })
        })
        .collect();
    emit(
        global.json,
        "following",
        &json!({ "following": following }),
        || {
            if following.is_empty() {
                return "not following any feed (follow one with `pigeonhole feed follow PHF-…`)"
                    .into();
            }
            following
                .iter()
                .map(|f| {
                    format!(
                        "{}  by {}…  up to #{}\n    {}",
                        f["feed"]["name"].as_str().unwrap_or_default(),
                        &f["feed"]["author"].as_str().unwrap_or_default()[..12],
                        f["last_number"],
                        f["feed"]["feed"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

/// The feeds a read is about: `reference` (which must be followed, or this
/// user's own), else every followed feed. Returns them with whether each
/// is followed (only followed feeds are fetched).
fn chosen(local: &Local, reference: Option<&FeedRef>) -> Result<Vec<(FeedRef, bool)>, CliError> {
    let followed: Vec<FeedRef> = local
        .feeds
        .following()?
        .into_iter()
        .map(|f| f.feed)
        .collect();
    match reference {
        None => Ok(followed.into_iter().map(|f| (f, true)).collect()),
        Some(feed) if followed.contains(feed) => Ok(vec![(feed.clone(), true)]),
        Some(feed) if feed.author == local.book.public_key() => Ok(vec![(feed.clone(), false)]),
        Some(feed) => Err(CliError::BadInput(format!(
            "feed {:?} is not followed: run `pigeonhole feed follow {feed}` first",
            feed.name
        ))),
    }
}

/// Fetches new posts of the followed feeds among `feeds`.
async fn fetch(
    global: &Global,
    progress: &Progress,
    feeds: &[(FeedRef, bool)],
) -> Result<BTreeMap<FeedRef, FeedUpdate>, CliError> {
    let wanted: Vec<&FeedRef> = feeds
        .iter()
        .filter(|(_, followed)| *followed)
        .map(|(f, _)| f)
        .collect();
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    with_online(global, progress, Create::Refused, async |online| {
        let mut updates = BTreeMap::new();
        for feed in wanted {
            let update = progress
                .wait(
                    &format!("the posts of feed {:?}", feed.name),
                    timeout(global),
                    async { Ok(online.node.feeds().fetch_new(feed).await?) },
                )
                .await?;
            updates.insert(feed.clone(), update);
        }
        Ok(updates)
    })
    .await
}

/// `feed read [REF] [--sync] [--limit N]`.
pub async fn read(
    global: &Global,
    progress: &Progress,
    reference: Option<&FeedRef>,
    sync: bool,
    limit: u32,
) -> Result<(), CliError> {
    let feeds = chosen(&Local::open(global, Create::Refused)?, reference)?;
    let fetched = if sync {
        fetch(global, progress, &feeds).await?
    } else {
        BTreeMap::new()
    };
    let local = Local::open(global, Create::Refused)?;
    let mut out = Vec::new();
    for (feed, _) in &feeds {
        let mut posts: Vec<PostOut> = local
            .feeds
            .posts(feed, limit)?
            .iter()
            .map(PostOut::from)
            .collect();
        posts.reverse();
        out.push(FeedPostsOut {
            feed: FeedOut::from(feed),
            fetched: fetched.get(feed).map(FetchedOut::from),
            posts,
        });
    }
    emit(global.json, "feed_posts", &json!({ "feeds": out }), || {
        if out.is_empty() {
            return "not following any feed (follow one with `pigeonhole feed follow PHF-…`)"
                .into();
        }
        out.iter()
            .map(|f| {
                let mut text = format!("== {} by {}…", f.feed.name, &f.feed.author[..12]);
                if let Some(fetched) = &f.fetched {
                    text.push_str(&format!(" ({} new)", fetched.new_posts));
                }
                if f.posts.is_empty() {
                    text.push_str("\nno posts yet");
                }
                for post in &f.posts {
                    text.push('\n');
                    text.push_str(&post.human());
                }
                text
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    });
    Ok(())
}

/// `feed rss [REF] [--feed NAME] [--sync]`.
pub async fn rss(
    global: &Global,
    progress: &Progress,
    reference: Option<&FeedRef>,
    name: &str,
    sync: bool,
) -> Result<(), CliError> {
    let feeds = {
        let local = Local::open(global, Create::Refused)?;
        let own;
        let feed = match reference {
            Some(feed) => feed,
            None => {
                own = local.feeds.own_feed(name)?;
                &own
            }
        };
        chosen(&local, Some(feed))?
    };
    if sync {
        fetch(global, progress, &feeds).await?;
    }
    let local = Local::open(global, Create::Refused)?;
    let (feed, _) = &feeds[0];
    let document = local.feeds.rss(feed)?;
    emit(
        global.json,
        "rss",
        &json!({ "feed": FeedOut::from(feed), "rss": document }),
        || document.clone(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_are_checked_before_anything_runs() {
        assert!(check_post("main", "Hello", "", Some("https://example.org")).is_ok());
        let bad = [
            check_post("main", "", "", None),
            check_post("main", "two\nlines", "", None),
            check_post("main", "Hello", "", Some("ftp://example.org")),
            check_post("main", "Hello", &"x".repeat(4001), None),
        ];
        for outcome in bad {
            assert!(
                matches!(outcome, Err(CliError::BadInput(ref m)) if m.starts_with("cannot post")),
                "{outcome:?}"
            );
        }
    }
}
