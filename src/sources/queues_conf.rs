//! Asterisk `queues.conf`: the per-queue settings AMI does not report (`wrapuptime`, `servicelevel`) and the
//! static members (`member =>`), which write no queue_log line and so are unknown to a queue_log-only setup.
//!
//! Pure: text in, values out. Understands `[name]` sections, `key = value` and `key => value`, `;` comments
//! (`\;` is a literal semicolon), templates `[name](!)` and inheritance `[name](tmpl1,tmpl2)`. Lines it cannot
//! read are skipped, as Asterisk itself does with a warning.

use crate::engine::QueueSettings;
use crate::normalize::static_members::StaticMember;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
struct Section {
    name: String,
    template: bool,
    /// (key, value) in file order, inherited ones first.
    entries: Vec<(String, String)>,
}

/// Queue settings keyed by lower-cased queue name (templates and `[general]` excluded).
pub fn parse(text: &str) -> BTreeMap<String, QueueSettings> {
    queues(text)
        .into_iter()
        .map(|s| {
            let get = |key: &str| s.entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            let num = |key: &str| get(key).and_then(|v| v.trim().parse::<u32>().ok());
            (
                s.name.to_ascii_lowercase(),
                QueueSettings { wrapup_s: num("wrapuptime"), service_level_s: num("servicelevel") },
            )
        })
        .collect()
}

/// Everything the engine takes from queues.conf: per-queue settings into `config.queues`, static members'
/// names into `config.members` (so queue_log lines that name them resolve to their interface; names given in
/// the queuecast config win), and the static members themselves, which the caller adds as members because
/// queue_log never mentions them. The daemon and `replay` both use this, so they build the same state.
pub fn apply(text: &str, config: &mut crate::engine::PbxSetup) -> Vec<StaticMember> {
    config.queues = parse(text);
    let members = static_members(text);
    for member in &members {
        if let Some(name) = &member.name {
            config.members.entry(name.clone()).or_insert_with(|| member.interface.clone());
        }
    }
    members
}

/// Static members of every queue, in file order.
pub fn static_members(text: &str) -> Vec<StaticMember> {
    let mut out = Vec::new();
    for section in queues(text) {
        for (key, value) in &section.entries {
            if key != "member" {
                continue;
            }
            let mut parts = value.split(',').map(str::trim);
            let Some(interface) = parts.next().filter(|i| !i.is_empty()) else { continue };
            let penalty = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let name = parts.next().filter(|n| !n.is_empty()).map(str::to_owned);
            out.push(StaticMember {
                queue: section.name.to_ascii_lowercase(),
                interface: interface.to_owned(),
                penalty,
                name,
                paused: None,
                pause_reason: None,
                dynamic: false,
            });
        }
    }
    out
}

/// The queue sections with their template entries resolved.
fn queues(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for raw in text.lines() {
        let line = strip_comment(raw);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if let Some(section) = header(rest, &sections) {
                sections.push(section);
            }
            continue;
        }
        let Some(current) = sections.last_mut() else { continue };
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.strip_prefix('>').unwrap_or(value);
        current.entries.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    sections.retain(|s| !s.template && !s.name.eq_ignore_ascii_case("general"));
    sections
}

/// `name](!)`, `name](a,b)` or `name]`; inherited entries are copied from earlier sections.
fn header(rest: &str, earlier: &[Section]) -> Option<Section> {
    let (name, options) = rest.split_once(']')?;
    let mut section = Section { name: name.trim().to_owned(), ..Section::default() };
    let options = options.trim().strip_prefix('(').and_then(|o| o.strip_suffix(')')).unwrap_or("");
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if option == "!" {
            section.template = true;
        } else if let Some(parent) = earlier.iter().rev().find(|s| s.name == option) {
            section.entries.extend(parent.entries.iter().cloned());
        }
    }
    Some(section)
}

fn strip_comment(line: &str) -> std::borrow::Cow<'_, str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b';') => return line.get(..i).unwrap_or("").replace("\\;", ";").into(),
            _ => i += 1,
        }
    }
    if line.contains("\\;") { line.replace("\\;", ";").into() } else { line.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_templates_and_static_members() {
        let text = "[general]\nwrapuptime=9\n[base](!)\nwrapuptime = 4 ; comment\nservicelevel=15\n\
                    [Sales](base)\nservicelevel => 30\n[support]\nmember => Local/1@a/n,2,Ann \\; B\n";
        let queues = parse(text);
        assert_eq!(queues.keys().collect::<Vec<_>>(), ["sales", "support"]);
        assert_eq!(queues["sales"], QueueSettings { wrapup_s: Some(4), service_level_s: Some(30) });
        assert_eq!(queues["support"], QueueSettings::default());
        let members = static_members(text);
        assert_eq!(
            members,
            vec![StaticMember {
                queue: "support".into(),
                interface: "Local/1@a/n".into(),
                penalty: 2,
                name: Some("Ann ; B".into()),
                paused: None,
                pause_reason: None,
                dynamic: false,
            }]
        );
    }

    #[test]
    fn reads_the_corpus_config() {
        let text = include_str!("../../tests/fixtures/asterisk-22/asterisk-conf/queues.conf");
        let queues = parse(text);
        assert_eq!(queues["support"], QueueSettings { wrapup_s: Some(3), service_level_s: Some(20) });
        assert_eq!(queues["billing"].wrapup_s, Some(0));
        assert_eq!(queues.len(), 4);
        assert_eq!(static_members(text)[0].name.as_deref(), Some("Static Sally"));
    }
}
