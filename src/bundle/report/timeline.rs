//! The custody timeline as a clerk reads it: one row per event, in plain
//! English (who, what, which record, when), with a run of searches and
//! views by one user folded into one row. No JSON: the signed events are
//! in `data/custody/`.

use std::collections::HashMap;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::custody::Event;

/// One row of the timeline (plain text; the caller escapes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Vault positions: the first and the last event of the row.
    pub positions: (u64, u64),
    /// The vault the events were signed in (its first 8 hex digits).
    pub vault: String,
    /// Who.
    pub user: String,
    /// What, in plain English.
    pub what: String,
    /// Which record(s).
    pub record: String,
    /// When, in UTC (and in the vault's zone, when it has one).
    pub when: String,
}

/// Parses an RFC 3339 time, in UTC.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// `2026-12-06 14:03 UTC` for an RFC 3339 time; an unreadable one is
/// shown as recorded, and said to be so.
pub(crate) fn utc_minute(text: &str) -> String {
    match parse_time(text) {
        Some(t) => format!("{} UTC", minute(t)),
        None => format!("{} (as recorded; not a readable time)", text.trim()),
    }
}

fn day(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn minute(t: OffsetDateTime) -> String {
    format!("{} {:02}:{:02}", day(t), t.hour(), t.minute())
}

/// The span from `first` to `last`: `2026-12-06 14:03 – 14:09 UTC`, or with
/// both dates when the days differ, or one time when the minutes agree.
pub(crate) fn utc_span(first: &str, last: &str) -> String {
    match (parse_time(first), parse_time(last)) {
        (Some(a), Some(b)) if minute(a) == minute(b) => format!("{} UTC", minute(a)),
        (Some(a), Some(b)) if day(a) == day(b) => {
            format!("{} – {:02}:{:02} UTC", minute(a), b.hour(), b.minute())
        }
        (Some(a), Some(b)) => format!("{} – {} UTC", minute(a), minute(b)),
        _ if first == last => utc_minute(first),
        _ => format!("{} – {}", utc_minute(first), utc_minute(last)),
    }
}

/// An offset as the report writes it: `+02:00`, `-05:30`.
pub(crate) fn offset_text(zone: UtcOffset) -> String {
    let (h, m, _) = zone.as_hms();
    format!(
        "{}{:02}:{:02}",
        if zone.is_negative() { '-' } else { '+' },
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

/// The time in UTC, then in the vault's zone when it has one:
/// `2026-12-06 14:03 UTC (16:03 +02:00)`, with the local date too when it
/// is another day.
pub(crate) fn zoned_minute(text: &str, zone: Option<UtcOffset>) -> String {
    let utc = utc_minute(text);
    match (zone.filter(|z| *z != UtcOffset::UTC), parse_time(text)) {
        (Some(z), Some(t)) => format!("{utc} ({})", local(t, t.to_offset(z), z)),
        _ => utc,
    }
}

/// [`utc_span`], then the same span in the vault's zone.
pub(crate) fn zoned_span(first: &str, last: &str, zone: Option<UtcOffset>) -> String {
    let utc = utc_span(first, last);
    match (
        zone.filter(|z| *z != UtcOffset::UTC),
        parse_time(first),
        parse_time(last),
    ) {
        (Some(z), Some(a), Some(b)) if minute(a) != minute(b) => {
            let (la, lb) = (a.to_offset(z), b.to_offset(z));
            let end = if day(la) == day(lb) {
                format!("{:02}:{:02}", lb.hour(), lb.minute())
            } else {
                minute(lb)
            };
            format!(
                "{utc} ({} – {end} {})",
                short_or_full(a, la),
                offset_text(z)
            )
        }
        (Some(z), Some(a), Some(_)) => format!("{utc} ({})", local(a, a.to_offset(z), z)),
        _ => utc,
    }
}

/// `16:03 +02:00`, or `2026-12-07 01:03 +02:00` when the local day differs.
fn local(utc: OffsetDateTime, at: OffsetDateTime, zone: UtcOffset) -> String {
    format!("{} {}", short_or_full(utc, at), offset_text(zone))
}

fn short_or_full(utc: OffsetDateTime, at: OffsetDateTime) -> String {
    if day(utc) == day(at) {
        format!("{:02}:{:02}", at.hour(), at.minute())
    } else {
        minute(at)
    }
}

/// `1 record`, `12 records`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A detail that is a number.
fn number(ev: &Event, key: &str) -> Option<u64> {
    ev.details.get(key).and_then(serde_json::Value::as_u64)
}

/// The first 8 hex digits of a detail that is a hash, with an ellipsis.
fn hash(ev: &Event, key: &str) -> Option<String> {
    let h = ev.details.get(key)?.as_str()?;
    let short: String = h
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    (short.len() == 8).then(|| format!("{short}…"))
}

fn text<'a>(ev: &'a Event, key: &str) -> Option<&'a str> {
    ev.details.get(key).and_then(serde_json::Value::as_str)
}

/// What one event did, in plain English.
pub fn what(ev: &Event) -> String {
    let version = number(ev, "version");
    let at_version = |s: &str| match version {
        Some(v) => format!("{s} version {v}"),
        None => s.trim_end_matches(" at").to_owned(),
    };
    match ev.action.as_str() {
        "create" => match ev.record_kind.as_str() {
            "evidence" => match (hash(ev, "sha256"), number(ev, "size")) {
                (Some(h), Some(size)) => format!("added (SHA-256 {h}, {size} bytes)"),
                _ => "added".into(),
            },
            "statement" => "created (version 1)".into(),
            _ => "created".into(),
        },
        "view" => {
            if ev.details.get("history").and_then(|h| h.as_bool()) == Some(true) {
                "viewed the list of versions".into()
            } else if text(ev, "via") == Some("search") {
                format!("{} (a search result)", at_version("viewed"))
            } else {
                at_version("viewed")
            }
        }
        "amend" => {
            let mut s = match version {
                Some(v) => format!("amended: version {v}"),
                None => "amended".into(),
            };
            if let Some(h) = hash(ev, "reason_sha256") {
                s.push_str(&format!(" (reason SHA-256 {h})"));
            }
            s
        }
        "seal" => format!("{} (no further amendment)", at_version("sealed at")),
        "extract" => match hash(ev, "sha256") {
            Some(h) => format!("extracted a copy (SHA-256 {h})"),
            None => "extracted a copy".into(),
        },
        "export" => {
            let how = match text(ev, "encryption") {
                Some("age-recipients") => {
                    let n = ev
                        .details
                        .get("recipients")
                        .and_then(|r| r.as_array())
                        .map_or(0, Vec::len);
                    format!(
                        "encrypted with age to {}",
                        count(n, "recipient", "recipients")
                    )
                }
                Some("age-passphrase") => "encrypted with age to a passphrase".into(),
                Some("none") => "not encrypted".into(),
                _ => "encryption not recorded".into(),
            };
            let names =
                if ev.details.get("reveal_protected").and_then(|r| r.as_bool()) == Some(true) {
                    "; protected witnesses' names revealed"
                } else {
                    ""
                };
            format!("exported in a bundle ({how}{names})")
        }
        "import" => {
            let mut s = String::from("imported from a bundle");
            if let Some(signer) = text(ev, "signer") {
                s.push_str(&format!(" signed by key {signer}"));
            }
            if let Some(n) = number(ev, "original_events") {
                s.push_str(&format!(
                    ", with {} from its earlier vault",
                    count(n as usize, "event", "events")
                ));
            }
            s
        }
        "search" => match number(ev, "count") {
            Some(n) => format!("searched ({})", count(n as usize, "hit", "hits")),
            None => "searched".into(),
        },
        "checkpoint" => "checkpoint".into(),
        "delete" => "deleted".into(),
        "user-add" => "added a user".into(),
        "user-remove" => "removed a user".into(),
        "passphrase-change" => "changed their passphrase".into(),
        "recover" => "recovered access with the recovery key".into(),
        "signer-add" => "pinned a signer's key".into(),
        "migrate" => "migrated the vault to the current format".into(),
        "refold" => "rebuilt the search text".into(),
        other => other.replace('-', " "),
    }
}

/// `statement a8f4aab118bb (Nurlan Abenov)`: kind, short id, and the name
/// `names` knows for the record.
pub fn record(ev: &Event, names: &HashMap<String, String>) -> String {
    let kind = match ev.record_kind.as_str() {
        "evidence" => "exhibit",
        other => other,
    };
    let short: String = ev.record.chars().take(12).collect();
    match names.get(&ev.record) {
        Some(name) => format!("{kind} {short} ({name})"),
        None => format!("{kind} {short}"),
    }
}

/// Searches and views: consecutive ones by one user share a row.
fn folds(ev: &Event) -> bool {
    matches!(ev.action.as_str(), "view" | "search")
}

/// The rows of `events` (in order): one per event, but each run of
/// consecutive searches and views by the same user (in the same vault) is
/// one row, "viewed 12 records", with the span of its times.
pub fn rows(
    events: &[Event],
    names: &HashMap<String, String>,
    zone: Option<UtcOffset>,
) -> Vec<Row> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let ev = &events[i];
        let mut j = i + 1;
        if folds(ev) {
            while j < events.len()
                && folds(&events[j])
                && events[j].user == ev.user
                && events[j].vault == ev.vault
            {
                j += 1;
            }
        }
        let run = &events[i..j];
        let last = &run[run.len() - 1];
        let vault: String = ev.vault.chars().take(8).collect();
        if run.len() == 1 {
            out.push(Row {
                positions: (ev.position, ev.position),
                vault,
                user: ev.user.clone(),
                what: what(ev),
                record: record(ev, names),
                when: zoned_minute(&ev.time, zone),
            });
        } else {
            let views: Vec<&Event> = run.iter().filter(|e| e.action.as_str() == "view").collect();
            let searches = run.len() - views.len();
            let mut records: Vec<&Event> = Vec::new();
            for v in views.iter().copied() {
                if !records.iter().any(|r| r.record == v.record) {
                    records.push(v);
                }
            }
            let mut what = Vec::new();
            if searches > 0 {
                what.push(format!("searched {}", count(searches, "time", "times")));
            }
            if !views.is_empty() {
                let mut s = format!("viewed {}", count(records.len(), "record", "records"));
                if views.len() > records.len() {
                    s.push_str(&format!(" ({})", count(views.len(), "view", "views")));
                }
                what.push(s);
            }
            const LISTED: usize = 4;
            let mut listed: Vec<String> = records
                .iter()
                .take(LISTED)
                .map(|e| record(e, names))
                .collect();
            if records.len() > LISTED {
                listed.push(format!("and {} more", records.len() - LISTED));
            }
            out.push(Row {
                positions: (ev.position, last.position),
                vault,
                user: ev.user.clone(),
                what: what.join(" and "),
                record: listed.join("; "),
                when: zoned_span(&ev.time, &last.time, zone),
            });
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::custody::Action;

    fn event(position: u64, user: &str, action: Action, record: &str, time: &str) -> Event {
        Event {
            event_type: crate::custody::EVENT_TYPE.into(),
            vault: "4aac22ab00000000000000000000000".into(),
            position,
            record: record.into(),
            record_kind: "statement".into(),
            record_position: 1,
            action,
            user: user.into(),
            key_id: "6CA5453EB1677588".into(),
            time: time.into(),
            details: serde_json::json!({}),
            prev: crate::custody::GENESIS.into(),
            prev_record: crate::custody::GENESIS.into(),
        }
    }

    fn id(n: u8) -> String {
        format!("{:032x}", n)
    }

    #[test]
    fn times_are_also_shown_in_the_vaults_zone() {
        let kyiv = UtcOffset::from_hms(2, 0, 0).unwrap();
        assert_eq!(
            zoned_minute("2026-12-06T14:03:22Z", Some(kyiv)),
            "2026-12-06 14:03 UTC (16:03 +02:00)"
        );
        assert_eq!(
            zoned_minute("2026-12-06T23:30:00Z", Some(kyiv)),
            "2026-12-06 23:30 UTC (2026-12-07 01:30 +02:00)"
        );
        let caracas = UtcOffset::from_hms(-4, -30, 0).unwrap();
        assert_eq!(
            zoned_span(
                "2026-12-06T14:03:01Z",
                "2026-12-06T14:09:59Z",
                Some(caracas)
            ),
            "2026-12-06 14:03 – 14:09 UTC (09:33 – 09:39 -04:30)"
        );
        assert_eq!(
            zoned_minute("2026-12-06T14:03:22Z", None),
            "2026-12-06 14:03 UTC"
        );
        assert_eq!(
            zoned_minute("2026-12-06T14:03:22Z", Some(UtcOffset::UTC)),
            "2026-12-06 14:03 UTC"
        );
    }

    #[test]
    fn times_read_as_utc_minutes_and_spans() {
        assert_eq!(utc_minute("2026-12-06T14:03:22Z"), "2026-12-06 14:03 UTC");
        // Another offset is converted, across midnight.
        assert_eq!(
            utc_minute("2026-12-07T01:30:00+02:00"),
            "2026-12-06 23:30 UTC"
        );
        assert_eq!(
            utc_minute("yesterday"),
            "yesterday (as recorded; not a readable time)"
        );
        assert_eq!(
            utc_span("2026-12-06T14:03:01Z", "2026-12-06T14:09:59Z"),
            "2026-12-06 14:03 – 14:09 UTC"
        );
        assert_eq!(
            utc_span("2026-12-06T23:58:00Z", "2026-12-07T00:03:00Z"),
            "2026-12-06 23:58 – 2026-12-07 00:03 UTC"
        );
        assert_eq!(
            utc_span("2026-12-06T14:03:01Z", "2026-12-06T14:03:40Z"),
            "2026-12-06 14:03 UTC"
        );
    }

    #[test]
    fn consecutive_views_by_one_user_are_one_row_and_others_are_not() {
        let names: HashMap<String, String> =
            [(id(1), "Nurlan Abenov".to_owned())].into_iter().collect();
        let mut events = vec![event(
            1,
            "alice",
            Action::Create,
            &id(1),
            "2026-12-06T14:00:00Z",
        )];
        for (n, r) in [(2, 1), (3, 2), (4, 3), (5, 1), (6, 4), (7, 5), (8, 6)] {
            let mut e = event(n, "alice", Action::View, &id(r), "2026-12-06T14:03:00Z");
            e.time = format!("2026-12-06T14:{:02}:10Z", n);
            e.details = serde_json::json!({"version": 1, "via": "search"});
            events.push(e);
        }
        events.push(event(
            9,
            "bob",
            Action::View,
            &id(1),
            "2026-12-06T15:00:00Z",
        ));
        events.push(event(
            10,
            "alice",
            Action::View,
            &id(1),
            "2026-12-06T15:01:00Z",
        ));
        let mut amend = event(11, "alice", Action::Amend, &id(1), "2026-12-06T15:02:00Z");
        amend.details =
            serde_json::json!({"version": 2, "reason_sha256": "ab12cd34ef56", "body_sha256": "00"});
        events.push(amend);
        events.push(event(
            12,
            "alice",
            Action::View,
            &id(1),
            "2026-12-06T15:03:00Z",
        ));

        let rows = rows(&events, &names, None);
        let summary: Vec<(u64, u64, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.positions.0,
                    r.positions.1,
                    r.user.as_str(),
                    r.what.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 1, "alice", "created (version 1)"),
                (2, 8, "alice", "viewed 6 records (7 views)"),
                (9, 9, "bob", "viewed"),
                (10, 10, "alice", "viewed"),
                (
                    11,
                    11,
                    "alice",
                    "amended: version 2 (reason SHA-256 ab12cd34…)"
                ),
                (12, 12, "alice", "viewed"),
            ]
        );
        assert_eq!(rows[1].when, "2026-12-06 14:02 – 14:08 UTC");
        assert_eq!(
            rows[1].record,
            format!(
                "statement {} (Nurlan Abenov); statement {}; statement {}; statement {}; and 2 more",
                &id(1)[..12],
                &id(2)[..12],
                &id(3)[..12],
                &id(4)[..12]
            )
        );
        assert_eq!(rows[0].when, "2026-12-06 14:00 UTC");
        // Nothing of the JSON shows.
        for r in &rows {
            for s in [&r.what, &r.record, &r.when] {
                assert!(!s.contains('{') && !s.contains('"'), "{s}");
            }
        }
    }

    #[test]
    fn actions_read_as_plain_english() {
        let mut e = event(1, "alice", Action::Export, &id(1), "2026-12-06T14:00:00Z");
        e.details = serde_json::json!({"encryption": "age-recipients", "recipients": ["a", "b"], "reveal_protected": false});
        assert_eq!(
            what(&e),
            "exported in a bundle (encrypted with age to 2 recipients)"
        );
        e.details = serde_json::json!({"encryption": "none", "reveal_protected": true});
        assert_eq!(
            what(&e),
            "exported in a bundle (not encrypted; protected witnesses' names revealed)"
        );
        e.action = Action::Seal;
        e.details = serde_json::json!({"version": 3});
        assert_eq!(what(&e), "sealed at version 3 (no further amendment)");
        e.action = Action::Create;
        e.record_kind = "evidence".into();
        e.details = serde_json::json!({"sha256": "93c623058309ed36", "size": 1024});
        assert_eq!(what(&e), "added (SHA-256 93c62305…, 1024 bytes)");
        let names: HashMap<String, String> =
            [(id(1), "photo.jpg".to_owned())].into_iter().collect();
        assert_eq!(
            record(&e, &names),
            format!("exhibit {} (photo.jpg)", &id(1)[..12])
        );
        e.action = Action::Import;
        e.details = serde_json::json!({"signer": "E9A5CCAF5E97F0FB", "original_events": 6});
        assert_eq!(
            what(&e),
            "imported from a bundle signed by key E9A5CCAF5E97F0FB, with 6 events from its earlier vault"
        );
        e.action = Action::PassphraseChange;
        assert_eq!(what(&e), "changed their passphrase");
    }
}
