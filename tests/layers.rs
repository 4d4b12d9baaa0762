//! The house is one-way: the library's top-level modules import only from layers below their own
//! (docs/DESIGN.md "Layers"), so no module imports from a module that imports it. Read from the source
//! text: every `crate::<module>` path (`queuecast::<module>` in the binary's `src/cli`), `use crate::{…}`
//! groups included, comments left out.
//!
//! Test code is left out too (`tests.rs`, `*_tests.rs`, and the `#[cfg(test)]` module at the end of a
//! file): a test may drive its module with a higher layer's helper, e.g. the engine's tests turn real
//! queue_log lines into events through `replay`, and that builds no arrow into the shipped code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may import from the layers before its own, never from its own or a later one:
/// two modules of one layer know nothing of each other.
const LAYERS: &[&[&str]] = &[
    // Leaves: the settings of every component, the names of the metrics, and client TLS set-up.
    &["config", "metrics", "tls"],
    // Logging set-up and the rate-limited report of bad input (takes `[log]` from config).
    &["telemetry"],
    // The pure state: its `Event`s are the vocabulary of everything upstream, its changes of everything
    // downstream.
    &["engine"],
    // Parsed feed items → engine events.
    &["normalize"],
    // The edges that read Asterisk (queue_log, AMI, astdb, queues.conf), through normalize.
    &["sources"],
    // The engine's state → Redis; writes the sources' health into `meta`.
    &["sink"],
    // Commands from panels: the wire format and the client that submits one (the gateway's and the CLI's),
    // and the daemon's task that executes them on AMI and answers through the sink.
    &["commands"],
    // Lifecycle owner of `run`; the offline pipeline of `replay`; the fake PBX of `simulate`.
    &["daemon", "replay", "simulate"],
    // Beside the pipeline, a Redis consumer (see GATEWAY_READS).
    &["gateway"],
    // The binary's subcommands.
    &["cli"],
];

/// The gateway reads what the sink wrote and submits commands through `commands::client`; it never needs
/// the pipeline that produced the state.
const GATEWAY_READS: &[&str] = &["config", "metrics", "tls", "telemetry", "sink", "commands"];

/// Known arrows that break the order, each with the reason it is still there. Empty: keep it so.
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_import_goes_down_the_layers() {
    let imports = imports();
    assert!(imports.contains_key("daemon") && imports.contains_key("cli"), "the scan found the modules");
    let mut wrong = Vec::new();
    for (from, targets) in &imports {
        let Some(from_layer) = layer_of(from) else {
            wrong.push(format!("{from}: a top-level module with no layer in LAYERS (add it)"));
            continue;
        };
        for (to, files) in targets {
            if KNOWN_EXCEPTIONS.iter().any(|(f, t, _)| f == from && t == to) {
                continue;
            }
            let ok = match layer_of(to) {
                Some(to_layer) => to_layer < from_layer,
                None => false,
            };
            let gateway_ok = from != "gateway" || GATEWAY_READS.contains(&to.as_str());
            if !ok || !gateway_ok {
                wrong.push(format!(
                    "{from} → {to} ({})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers (docs/DESIGN.md \"Layers\"):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    // Implied by the layers, checked on its own so that a cycle is named as one even if LAYERS is edited.
    let imports = imports();
    let graph: BTreeMap<&str, BTreeSet<&str>> =
        imports.iter().map(|(from, to)| (from.as_str(), to.keys().map(String::as_str).collect())).collect();
    for start in graph.keys() {
        let mut stack: Vec<Vec<&str>> = vec![vec![start]];
        while let Some(path) = stack.pop() {
            let last = path[path.len() - 1];
            for next in graph.get(last).into_iter().flatten() {
                if next == start {
                    panic!("import cycle: {} → {start}", path.join(" → "));
                }
                if !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push(longer);
                }
            }
        }
    }
}

#[test]
fn the_scan_reads_paths_as_written() {
    let text = "use crate::{config::Config, engine::{self, Event}};\n// crate::daemon in a comment\n\
                fn f() { crate::sink::now_ms(); let _ = (\"crate::gateway {\", '{'); }\n#[cfg(test)]\n\
                mod tests {\nuse crate::replay;\nfn g() {}\n}\nfn h() -> crate::normalize::X {}\n";
    let found: BTreeSet<String> = modules_named(&shipped_code(text), "crate").collect();
    assert_eq!(found, ["config", "engine", "normalize", "sink"].map(String::from).into_iter().collect());
}

/// Top-level module → module it imports → files that do.
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("below src").to_string_lossy().into_owned();
        let module = rel.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if module == "lib" || module == "main" || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let code = shipped_code(&text);
        let root = if module == "cli" { "queuecast" } else { "crate" };
        let entry = out.entry(module.clone()).or_default();
        for target in modules_named(&code, root) {
            if target != module {
                entry.entry(target).or_default().insert(rel.clone());
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The text without comments, string and char literals, and `#[cfg(test)] mod tests { … }` blocks.
fn shipped_code(text: &str) -> String {
    let mut code = without_literals(text);
    while let Some(at) = code.find("#[cfg(test)]\nmod tests {") {
        let open = at + code[at..].find('{').unwrap_or_default();
        let mut depth = 0;
        let mut end = code.len();
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        code.replace_range(at..end, "");
    }
    code
}

fn without_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '/' if chars.get(i) == Some(&'/') => {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            }
            // A char literal ('"', '\'', '\\'), not a lifetime.
            '\'' if chars.get(i) == Some(&'\\') => i += 3,
            '\'' if chars.get(i + 1) == Some(&'\'') => i += 2,
            '"' => {
                while let Some(&c) = chars.get(i) {
                    i += 1;
                    match c {
                        '\\' => i += 1,
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The first segment of every `root::…` path, and of every path in a `root::{…}` group.
fn modules_named<'a>(code: &'a str, root: &str) -> impl Iterator<Item = String> + 'a {
    let needle = format!("{root}::");
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + needle.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: what follows `{` or a `,` at depth 0.
            let mut depth = 0;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => ident.push(c),
                    _ if item_start && !ident.is_empty() => {
                        found.insert(std::mem::take(&mut ident));
                        item_start = false;
                    }
                    _ => {}
                }
            }
            if !ident.is_empty() {
                found.insert(ident);
            }
        } else {
            let ident: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() {
                found.insert(ident);
            }
        }
    }
    found.into_iter().filter(|m| m != "self" && m != "super")
}
