//! Who counts as an editor for a reader: the newest owner-signed editor
//! list it knows (stored from earlier fetches, in the document mailbox, or
//! carried in any notice's grant) decides. Storing peers only check that a
//! grant was in force (the validator); readers also apply revocations.

use crate::record::body::{DocNotice, EditorList, open_grant};
use crate::record::{Content, Header, Kind, Record};
use crate::store::notices::WatchRow;

/// The newest editor list known: stored, in the mailbox, or carried by
/// a notice's grant. `(bytes, header, list)`.
pub(super) fn newest_list(
    watch: &WatchRow,
    records: &[Record],
) -> Option<(Vec<u8>, Header, EditorList)> {
    let stored = watch.editor_list.iter().cloned();
    let listed = records
        .iter()
        .filter(|record| record.header.kind == Kind::EditorList)
        .map(|record| record.bytes().to_vec());
    let granted = records.iter().filter_map(|record| match &record.content {
        Content::DocNotice(notice) => notice.editor_grant.clone(),
        _ => None,
    });
    stored
        .chain(listed)
        .chain(granted)
        .filter_map(|bytes| {
            let (header, list) = open_grant(&bytes).ok()?;
            (header.sender == watch.owner && header.mailbox == watch.mailbox)
                .then_some((bytes, header, list))
        })
        .max_by_key(|(_, header, list)| (list.list_version, header.created_at))
}

/// A notice from an editor counts only if the newest editor list known
/// still names its sender, or its own grant is that recent, or it was made
/// before that list (an editor removed later keeps its earlier notices).
pub(super) fn still_editor(
    record: &Record,
    notice: &DocNotice,
    newest: Option<&(Vec<u8>, Header, EditorList)>,
) -> bool {
    let sender = record.header.sender;
    if sender == notice.owner {
        return true;
    }
    let Some((_, newest_header, newest_list)) = newest else {
        return true;
    };
    let grant_version = notice
        .editor_grant
        .as_deref()
        .and_then(|bytes| open_grant(bytes).ok())
        .map_or(0, |(_, list)| list.list_version);
    newest_list.names(&sender)
        || grant_version >= newest_list.list_version
        || record.header.created_at < newest_header.created_at
}
