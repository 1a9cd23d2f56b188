//! `doc …`: announce new versions of a document with their content and
//! name its editors (network), watch and unwatch documents (local), and
//! fetch the new versions of watched documents with their content.
//!
//! Everything the user typed or pointed at (name, version, summary, the
//! content file and its size, the editor list) is checked before a peer
//! starts, so bad input fails with exit 2 and nothing written.

use std::path::Path;

use pigeonhole::codec::Reader;
use pigeonhole::identity::PublicKey;
use pigeonhole::notice::{DocRef, DocUpdates, UpdateContent};
use pigeonhole::record::body::{
    BodyRules, DocNotice, MAX_CONTENT_BYTES, MAX_EDITORS, MAX_INLINE_BYTES,
};
use serde::Serialize;
use serde_json::json;

use crate::args::{Global, KeyArg};
use crate::commands::network::{timeout, with_online};
use crate::datadir::Create;
use crate::error::CliError;
use crate::output::{DocOut, NoticeOut, carried, emit};
use crate::progress::Progress;
use crate::session::Local;

/// What `doc updates` found for one document.
#[derive(Clone, Debug, Serialize)]
struct DocUpdatesOut {
    #[serde(flatten)]
    doc: DocOut,
    notices: Vec<NoticeOut>,
    gaps: Vec<(u64, u64)>,
    conflicts: Vec<serde_json::Value>,
    rejected: u64,
    error: Option<String>,
}

/// The content of `doc notify`, read and checked.
fn content(file: Option<&Path>, text: Option<&str>) -> Result<Vec<u8>, CliError> {
    let data = match (file, text) {
        (Some(path), _) => std::fs::read(path).map_err(|error| {
            CliError::BadInput(format!("cannot read {}: {error}", path.display()))
        })?,
        (None, Some(text)) => text.as_bytes().to_vec(),
        (None, None) => return Err(CliError::BadInput("give --file or --text".into())),
    };
    if data.len() > MAX_CONTENT_BYTES {
        return Err(CliError::BadInput(format!(
            "{} bytes of content: at most {MAX_CONTENT_BYTES} travel with a notice",
            data.len()
        )));
    }
    if data.is_empty() {
        return Err(CliError::BadInput("the content is empty".into()));
    }
    Ok(data)
}

/// Checks the notice's fields against the protocol's rules.
fn check_notice(name: &str, version: u64, summary: &str) -> Result<(), CliError> {
    let body = DocNotice {
        owner: PublicKey([0; 32]),
        doc_name: name.to_owned(),
        version,
        content_hash: [0; 32],
        size: 0,
        change_summary: summary.to_owned(),
        inline: None,
        chain_head: None,
        chunks: 0,
        editor_grant: None,
    };
    DocNotice::decode_from(&mut Reader::new(&body.encode()))
        .map(drop)
        .map_err(|error| CliError::BadInput(format!("cannot notify: {error}")))
}

/// The arguments of `doc notify`.
pub struct NotifyArgs<'a> {
    /// Document name.
    pub name: &'a str,
    /// New version.
    pub version: u64,
    /// Content file.
    pub file: Option<&'a Path>,
    /// Content text.
    pub text: Option<&'a str>,
    /// What changed.
    pub summary: &'a str,
    /// The owner, when notifying as an editor.
    pub owner: Option<&'a KeyArg>,
}

/// `doc notify NAME VERSION (--file PATH | --text TEXT) [--summary] [--owner KEY]`.
pub async fn notify(
    global: &Global,
    progress: &Progress,
    args: NotifyArgs<'_>,
) -> Result<(), CliError> {
    check_notice(args.name, args.version, args.summary)?;
    let data = content(args.file, args.text)?;
    let size = data.len();
    let (doc, record) = with_online(global, progress, Create::Allowed, async |online| {
        let notices = online.node.notices();
        let doc = match args.owner {
            Some(owner) => DocRef::new(owner.0, args.name)?,
            None => notices.own_doc(args.name)?,
        };
        let record = progress
            .wait(
                &format!("the replicas to confirm version {}", args.version),
                timeout(global),
                async {
                    Ok(notices
                        .notify_update(&doc, args.version, args.summary, UpdateContent::Carry(data))
                        .await?)
                },
            )
            .await?;
        Ok((doc, record))
    })
    .await?;
    let how = match &record.content {
        pigeonhole::record::Content::DocNotice(notice) => carried(notice),
        _ => "inline",
    };
    let out = DocOut::from(&doc);
    let document = json!({
        "doc": out,
        "version": args.version,
        "notice_id": hex::encode(record.id()),
        "size": size,
        "carried": how,
    });
    emit(global.json, "doc_notice", &document, || {
        format!(
            "version {} of {:?} announced with its {size} bytes ({how}), confirmed by the network",
            args.version, out.name
        )
    });
    Ok(())
}

/// `doc editors NAME KEY…`.
pub async fn editors(
    global: &Global,
    progress: &Progress,
    name: &str,
    editors: &[KeyArg],
) -> Result<(), CliError> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for editor in editors {
        if !keys.contains(&editor.0) {
            keys.push(editor.0);
        }
    }
    if keys.len() > MAX_EDITORS {
        return Err(CliError::BadInput(format!(
            "{} editors: at most {MAX_EDITORS}",
            keys.len()
        )));
    }
    if keys.contains(&Local::open(global, Create::Refused)?.book.public_key()) {
        return Err(CliError::BadInput(
            "you own the document: do not name yourself an editor".into(),
        ));
    }
    let (doc, record) = with_online(global, progress, Create::Refused, async |online| {
        let notices = online.node.notices();
        let doc = notices.own_doc(name)?;
        let record = progress
            .wait(
                "the replicas to confirm the editor list",
                timeout(global),
                async { Ok(notices.set_editors(name, &keys).await?) },
            )
            .await?;
        Ok((doc, record))
    })
    .await?;
    let editors: Vec<String> = keys.iter().map(PublicKey::to_hex).collect();
    let document = json!({
        "doc": DocOut::from(&doc),
        "editors": editors,
        "list_id": hex::encode(record.id()),
    });
    emit(global.json, "editors", &document, || {
        format!("{name:?} now has {} editor(s)", editors.len())
    });
    Ok(())
}

/// `doc watch OWNER NAME` / `doc unwatch OWNER NAME`.
pub fn watch(global: &Global, owner: &KeyArg, name: &str, watch: bool) -> Result<(), CliError> {
    let doc = DocRef::new(owner.0, name)?;
    let create = if watch {
        Create::Allowed
    } else {
        Create::Refused
    };
    let local = Local::open(global, create)?;
    let changed = if watch {
        local.notices.watch(&doc)?
    } else {
        local.notices.unwatch(&doc)?
    };
    let document = json!({ "doc": DocOut::from(&doc), "watching": watch, "changed": changed });
    emit(global.json, "watch", &document, || match (watch, changed) {
        (true, true) => format!("watching {name:?} (fetch with `pigeonhole doc updates`)"),
        (true, false) => format!("already watching {name:?}"),
        (false, true) => format!("no longer watching {name:?}"),
        (false, false) => format!("{name:?} was not watched"),
    });
    Ok(())
}

/// `doc list`.
pub fn list(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let watching: Vec<serde_json::Value> = local
        .notices
        .watching()?
        .iter()
        .map(|(doc, last)| json!({ "doc": DocOut::from(doc), "last_version": last }))
        .collect();
    emit(
        global.json,
        "watching",
        &json!({ "watching": watching }),
        || {
            if watching.is_empty() {
                return "not watching any document".into();
            }
            watching
                .iter()
                .map(|w| {
                    format!(
                        "{}  by {}…  up to version {}",
                        w["doc"]["name"].as_str().unwrap_or_default(),
                        &w["doc"]["owner"].as_str().unwrap_or_default()[..12],
                        w["last_version"]
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

/// `doc updates [OWNER NAME]`.
pub async fn updates(
    global: &Global,
    progress: &Progress,
    one: Option<(&KeyArg, &str)>,
) -> Result<(), CliError> {
    let docs: Vec<DocRef> = {
        let local = Local::open(global, Create::Refused)?;
        let watched: Vec<DocRef> = local
            .notices
            .watching()?
            .into_iter()
            .map(|(doc, _)| doc)
            .collect();
        match one {
            None => watched,
            Some((owner, name)) => {
                let doc = DocRef::new(owner.0, name)?;
                if !watched.contains(&doc) {
                    return Err(CliError::BadInput(format!(
                        "{name:?} is not watched: run `pigeonhole doc watch {} {name}` first",
                        owner.0.to_hex()
                    )));
                }
                vec![doc]
            }
        }
    };
    let out = if docs.is_empty() {
        Vec::new()
    } else {
        with_online(global, progress, Create::Refused, async |online| {
            let mut out = Vec::new();
            for doc in &docs {
                let fetched = progress
                    .wait(
                        &format!("the notices of {:?}", doc.name),
                        timeout(global),
                        async { Ok(online.node.notices().fetch_updates(doc).await?) },
                    )
                    .await;
                out.push(match fetched {
                    Ok(updates) => with_content(global, progress, online, doc, updates).await,
                    Err(error) => DocUpdatesOut {
                        doc: DocOut::from(doc),
                        notices: Vec::new(),
                        gaps: Vec::new(),
                        conflicts: Vec::new(),
                        rejected: 0,
                        error: Some(error.to_string()),
                    },
                });
            }
            Ok(out)
        })
        .await?
    };
    emit(global.json, "doc_updates", &json!({ "docs": out }), || {
        human(&out)
    });
    // Whatever was delivered was printed first: a failed document does not
    // hide the others' notices.
    match out
        .iter()
        .find_map(|d| d.error.as_ref().map(|e| (&d.doc.name, e)))
    {
        Some((name, error)) => Err(CliError::Failed(format!(
            "fetching the notices of {name:?} failed: {error}"
        ))),
        None => Ok(()),
    }
}

/// The notices of one document with their content.
async fn with_content(
    global: &Global,
    progress: &Progress,
    online: &crate::session::Online,
    doc: &DocRef,
    updates: DocUpdates,
) -> DocUpdatesOut {
    let mut notices = Vec::new();
    for notice in &updates.notices {
        let content = if notice.body.inline.is_some() || notice.body.chain_head.is_none() {
            online
                .node
                .notices()
                .content(&notice.body)
                .await
                .map_err(|e| e.to_string())
        } else {
            progress
                .wait(
                    &format!("the content of version {}", notice.body.version),
                    timeout(global),
                    async { Ok(online.node.notices().content(&notice.body).await?) },
                )
                .await
                .map_err(|e| e.to_string())
        };
        notices.push(NoticeOut::new(notice, content));
    }
    DocUpdatesOut {
        doc: DocOut::from(doc),
        notices,
        gaps: updates.gaps.clone(),
        conflicts: updates
            .conflicts
            .iter()
            .map(|c| {
                json!({
                    "version": c.version,
                    "notice_ids": c.notice_ids.iter().map(hex::encode).collect::<Vec<_>>(),
                    "senders": c.senders.iter().map(PublicKey::to_hex).collect::<Vec<_>>(),
                })
            })
            .collect(),
        rejected: updates.rejected,
        error: None,
    }
}

fn human(docs: &[DocUpdatesOut]) -> String {
    if docs.is_empty() {
        return "not watching any document (watch one with `pigeonhole doc watch OWNER NAME`)"
            .into();
    }
    let mut blocks = Vec::new();
    for doc in docs {
        let mut text = format!(
            "== {} by {}…: {} new version(s)",
            doc.doc.name,
            &doc.doc.owner[..12],
            doc.notices.len()
        );
        for notice in &doc.notices {
            let who = if notice.sender == doc.doc.owner {
                "the owner".to_string()
            } else {
                format!("editor {}…", &notice.sender[..12])
            };
            text.push_str(&format!(
                "\nversion {} by {who}, {} bytes ({})",
                notice.version, notice.size, notice.carried
            ));
            if !notice.change_summary.is_empty() {
                text.push_str(&format!(": {}", notice.change_summary));
            }
            match (&notice.content_text, &notice.content_error) {
                (Some(content), _) if content.len() <= MAX_INLINE_BYTES => {
                    for line in content.lines() {
                        text.push_str(&format!("\n  | {line}"));
                    }
                }
                (_, Some(error)) => text.push_str(&format!("\n  (content not had: {error})")),
                _ => text.push_str("\n  (content not shown: use --json for it)"),
            }
        }
        for (from, to) in &doc.gaps {
            text.push_str(&format!("\nversions {from} to {to} were never seen"));
        }
        if !doc.conflicts.is_empty() {
            text.push_str(&format!(
                "\n{} version(s) with conflicting notices (see --json)",
                doc.conflicts.len()
            ));
        }
        if doc.rejected > 0 {
            text.push_str(&format!(
                "\n{} notice(s) from non-editors rejected",
                doc.rejected
            ));
        }
        if let Some(error) = &doc.error {
            text.push_str(&format!("\nfailed: {error}"));
        }
        blocks.push(text);
    }
    blocks.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_and_content_are_checked_before_anything_runs() {
        assert!(check_notice("agenda", 1, "first draft").is_ok());
        assert!(check_notice("agenda", 1, &"x".repeat(4001)).is_err());
        assert!(check_notice("two\nlines", 1, "").is_err());
        assert_eq!(content(None, Some("hi")).unwrap(), b"hi");
        assert!(content(None, Some("")).is_err());
        let missing = content(Some(Path::new("/nonexistent/agenda.md")), None);
        assert!(matches!(missing, Err(CliError::BadInput(ref m)) if m.contains("cannot read")));
    }
}
