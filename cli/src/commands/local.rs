//! Commands that read or change only the local database: they work with no
//! peers at all, and next to a running `serve` on the same directory.

use pigeonhole::buddy::PendingRequest;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use serde_json::json;

use crate::args::{Global, KeyArg};
use crate::datadir::Create;
use crate::error::CliError;
use crate::output::{BuddyOut, RequestOut, SentOut, emit};
use crate::session::Local;

/// `id`: the contact code, as text and as a QR code.
pub fn id(global: &Global, no_qr: bool) -> Result<(), CliError> {
    let local = Local::open(global, Create::Allowed)?;
    let code = local.book.contact_code()?.to_string();
    let profile = local.store.profile()?;
    let (name, directory_name) = match profile {
        Some((name, directory)) => (Some(name), directory),
        None => (None, None),
    };
    let document = json!({
        "contact_code": code,
        "public_key": local.book.public_key().to_hex(),
        "display_name": name,
        "directory_name": directory_name,
    });
    emit(global.json, "id", &document, || {
        let mut text = String::new();
        if !no_qr {
            text.push_str(&qr(&code));
            text.push('\n');
        }
        text.push_str(&format!("contact code: {code}\n"));
        text.push_str(&format!("public key:   {}\n", local.book.public_key()));
        match &name {
            Some(name) => text.push_str(&format!("name:         {name}")),
            None => text.push_str("name:         (not set: run `pigeonhole profile NAME`)"),
        }
        text
    });
    Ok(())
}

/// The QR code of `text`, drawn with half-block characters (light on dark
/// works on both dark and light terminal themes thanks to the quiet zone).
pub fn qr(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
        Err(error) => format!("(no QR code: {error})"),
    }
}

/// `profile NAME [--directory-name NAME]`.
pub fn profile(
    global: &Global,
    display_name: &str,
    directory_name: Option<&str>,
) -> Result<(), CliError> {
    // Check before creating anything.
    pigeonhole::record::body::check_display_name(display_name)
        .map_err(|error| CliError::BadInput(error.to_string()))?;
    if let Some(name) = directory_name {
        pigeonhole::record::body::check_directory_name(name)
            .map_err(|error| CliError::BadInput(error.to_string()))?;
    }
    let local = Local::open(global, Create::Allowed)?;
    local.book.set_profile(display_name, directory_name)?;
    let document = json!({ "display_name": display_name, "directory_name": directory_name });
    emit(global.json, "profile", &document, || {
        format!("display name set to {display_name:?}")
    });
    Ok(())
}

/// Prints pending requests.
pub fn print_requests(global: &Global, pending: &[PendingRequest]) {
    let requests: Vec<RequestOut> = pending.iter().map(RequestOut::from).collect();
    emit(
        global.json,
        "requests",
        &json!({ "requests": requests }),
        || {
            if requests.is_empty() {
                return "no pending requests (run `pigeonhole sync` to fetch new ones)".into();
            }
            let mut text = requests
                .iter()
                .map(RequestOut::human)
                .collect::<Vec<_>>()
                .join("\n");
            text.push_str("\n\nanswer with `pigeonhole accept ID` or `pigeonhole decline ID`");
            text
        },
    );
}

/// `requests` (without `--sync`).
pub fn requests(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    print_requests(global, &local.book.pending_requests()?);
    Ok(())
}

/// `sent`.
pub fn sent(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let sent: Vec<SentOut> = local
        .book
        .sent_requests()?
        .iter()
        .map(SentOut::from)
        .collect();
    emit(global.json, "sent", &json!({ "sent": sent }), || {
        if sent.is_empty() {
            return "no requests sent".into();
        }
        sent.iter()
            .map(|s| format!("{}  to {}…  {}", &s.id[..12], &s.to[..12], s.status))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// `buddies`.
pub fn buddies(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let buddies: Vec<BuddyOut> = local.book.buddies()?.iter().map(BuddyOut::from).collect();
    emit(
        global.json,
        "buddies",
        &json!({ "buddies": buddies }),
        || {
            if buddies.is_empty() {
                return "no buddies yet".into();
            }
            buddies
                .iter()
                .map(|b| format!("{}  {}…", b.display_name, &b.public_key[..12]))
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

/// `block` / `unblock`.
pub fn block(global: &Global, who: &KeyArg, block: bool) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let changed = if block {
        local.book.block(&who.0)?;
        true
    } else {
        local.book.unblock(&who.0)?
    };
    let key = who.0.to_hex();
    let document = json!({ "public_key": key, "blocked": block, "changed": changed });
    emit(global.json, "block", &document, || match (block, changed) {
        (true, _) => format!("blocked {key}"),
        (false, true) => format!("unblocked {key}"),
        (false, false) => format!("{key} was not blocked"),
    });
    Ok(())
}

/// `rotate-token`.
pub fn rotate_token(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let code = local.book.rotate_inbox_token()?.to_string();
    emit(global.json, "id", &json!({ "contact_code": code }), || {
        format!("new contact code: {code}\n(requests sent to the old code are no longer shown)")
    });
    Ok(())
}

/// `peers`: the saved peers.
pub fn peers(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let saved: Vec<String> = local
        .dir
        .saved_peers()
        .iter()
        .map(|a| a.to_string())
        .collect();
    emit(global.json, "peers", &json!({ "saved": saved }), || {
        if saved.is_empty() {
            return "no saved peers (peers are found by mDNS; save one with `add-peer`)".into();
        }
        saved.join("\n")
    });
    Ok(())
}

/// `status`: identity, storage and counts.
pub fn status(global: &Global) -> Result<(), CliError> {
    let local = Local::open(global, Create::Refused)?;
    let totals = local.store.totals()?;
    let pending = local.book.pending_requests()?.len();
    let buddies = local.book.buddies()?.len();
    let sent = local.book.sent_requests()?;
    let unanswered = sent
        .iter()
        .filter(|s| SentOut::from(*s).status == "pending")
        .count();
    let document = json!({
        "data_dir": local.dir.path().display().to_string(),
        "contact_code": local.book.contact_code()?.to_string(),
        "public_key": local.book.public_key().to_hex(),
        "serving": local.dir.in_use(),
        "records_held": totals.records,
        "bytes_held": totals.bytes,
        "pending_requests": pending,
        "buddies": buddies,
        "sent_unanswered": unanswered,
        "saved_peers": local.dir.saved_peers().len(),
    });
    emit(global.json, "status", &document, || {
        format!(
            "data directory: {}\ncontact code:   {}\npeer running:   {}\n\
             records held:   {} ({} bytes)\npending:        {pending} request(s)\n\
             buddies:        {buddies}\nsent, waiting:  {unanswered}\nsaved peers:    {}",
            local.dir.path().display(),
            document["contact_code"].as_str().unwrap_or_default(),
            if local.dir.in_use() { "yes" } else { "no" },
            totals.records,
            totals.bytes,
            document["saved_peers"],
        )
    });
    Ok(())
}
