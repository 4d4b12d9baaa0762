//! What the packages are made of, checked without building them (packaging/build.sh builds and checks the
//! real .deb and .rpm; too slow for every test run): the man pages' own sections, the glibc check, the
//! two packagers' file lists, the docs' links as installed, and the units' fitness for systemd 219.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DOC_DIR: &str = "/usr/share/doc/queuecast/";

fn repo(path: &str) -> PathBuf {
    Path::new(ROOT).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn man_pages() -> (tempfile::TempDir, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_queuecast")).arg("man").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut pages = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        pages.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    (dir, pages)
}

/// The roff text of section `name` (up to the next `.SH`).
fn section<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    let heading = if name.contains(' ') { format!(".SH \"{name}\"\n") } else { format!(".SH {name}\n") };
    let start = page.find(&heading)? + heading.len();
    let rest = &page[start..];
    Some(&rest[..rest.find("\n.SH ").map_or(rest.len(), |end| end + 1)])
}

#[test]
fn every_man_page_has_exit_status_environment_files_and_see_also() {
    let (_dir, pages) = man_pages();
    assert!(pages.len() >= 8, "pages: {:?}", pages.keys());
    for (name, page) in &pages {
        let exit = section(page, "EXIT STATUS").unwrap_or_else(|| panic!("{name}: no EXIT STATUS"));
        assert!(exit.contains("\\fB0\\fR"), "{name}: EXIT STATUS without 0:\n{exit}");
        let env = section(page, "ENVIRONMENT").unwrap_or_else(|| panic!("{name}: no ENVIRONMENT"));
        assert!(env.contains("RUST_LOG"), "{name}: ENVIRONMENT without RUST_LOG");
        let files = section(page, "FILES").unwrap_or_else(|| panic!("{name}: no FILES"));
        for path in [
            "/etc/queuecast/queuecast.toml",
            "/usr/lib/systemd/system/queuecast.service",
            "/usr/lib/systemd/system/queuecast\\-gateway.service",
            "/var/lib/queuecast",
        ] {
            assert!(files.contains(path), "{name}: FILES lacks {path}:\n{files}");
        }
        let see_also = section(page, "SEE ALSO").unwrap_or_else(|| panic!("{name}: no SEE ALSO"));
        // Every page of this set that SEE ALSO names exists; each page names all the others.
        for other in pages.keys().filter(|other| *other != name) {
            let reference = format!("\\fB{}\\fR(1)", other.replace('-', "\\-"));
            assert!(see_also.contains(&reference), "{name}: SEE ALSO lacks {other}(1):\n{see_also}");
        }
    }
    // The daemon's page and the top page list every code it returns (sysexits).
    for name in ["queuecast", "queuecast-run"] {
        let exit = section(&pages[name], "EXIT STATUS").unwrap();
        for code in ["0", "1", "69", "78"] {
            assert!(exit.contains(&format!("\\fB{code}\\fR")), "{name}: EXIT STATUS lacks {code}:\n{exit}");
        }
    }
    let check = section(&pages["queuecast-check-config"], "EXIT STATUS").unwrap();
    assert!(check.contains("\\fB78\\fR") && !check.contains("\\fB69\\fR"), "{check}");
    // An option read from the environment is listed, from clap's own `env = …`.
    assert!(section(&pages["queuecast-status"], "ENVIRONMENT").unwrap().contains("QUEUECAST_REDIS"));
    // Only the top page carries VERSION (clap knows a version there only), with the package version.
    assert!(pages["queuecast"].contains(env!("CARGO_PKG_VERSION")));
}

/// packaging/check-glibc.sh on this test's own binary (linked against the build host's glibc): every x86_64
/// glibc binary needs GLIBC_2.2.5, so a floor of 2.2 must fail and name the symbols; 99.0 must pass.
#[test]
fn glibc_check_fails_past_the_floor_and_names_the_symbols() {
    let run = |floor: &str| {
        Command::new(repo("packaging/check-glibc.sh"))
            .arg(env!("CARGO_BIN_EXE_queuecast"))
            .arg(floor)
            .output()
            .expect("packaging/check-glibc.sh (needs objdump: apt-get install binutils)")
    };
    let low = run("2.2");
    let stderr = String::from_utf8_lossy(&low.stderr);
    assert_eq!(low.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("newer than the floor 2.2"), "{stderr}");
    assert!(stderr.contains("(GLIBC_2.2.5)"), "no symbol named: {stderr}");
    let high = run("99.0");
    assert!(high.status.success(), "{}", String::from_utf8_lossy(&high.stderr));
    assert!(String::from_utf8_lossy(&high.stdout).starts_with("ok: "));
}

/// (source in the repository, absolute installed path) for every asset; a glob source or a directory
/// destination is expanded against the repository (generated `target/` files stay as patterns).
fn expand(source: &str, dest: &str) -> Vec<(String, String)> {
    let dest = if dest.starts_with('/') { dest.to_string() } else { format!("/{dest}") };
    let Some((dir, pattern)) = source.rsplit_once("/*") else {
        let installed = if dest.ends_with('/') {
            format!("{dest}{}", Path::new(source).file_name().unwrap().to_string_lossy())
        } else {
            dest
        };
        return vec![(source.to_string(), installed)];
    };
    if source.starts_with("target/") {
        return vec![(source.to_string(), format!("{dest}*{pattern}"))];
    }
    let mut out: Vec<(String, String)> = std::fs::read_dir(repo(dir))
        .unwrap_or_else(|err| panic!("{dir}: {err}"))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(pattern))
        .map(|name| (format!("{dir}/{name}"), format!("{dest}{name}")))
        .collect();
    out.sort();
    out
}

fn metadata() -> toml::Table {
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    manifest["package"]["metadata"].as_table().unwrap().clone()
}

/// The .deb's files: its assets plus what cargo-deb installs from `systemd-units` (each unit, and the
/// sysusers file found beside them).
fn deb_files() -> BTreeSet<(String, String)> {
    let deb = &metadata()["deb"];
    let mut files = BTreeSet::new();
    for asset in deb["assets"].as_array().unwrap() {
        let asset = asset.as_array().unwrap();
        files.extend(expand(asset[0].as_str().unwrap(), asset[1].as_str().unwrap()));
    }
    for unit in deb["systemd-units"].as_array().unwrap() {
        let name = unit["unit-name"].as_str().unwrap();
        let dir = unit["unit-scripts"].as_str().unwrap().trim_end_matches('/');
        files.insert((format!("{dir}/{name}.service"), format!("/usr/lib/systemd/system/{name}.service")));
        if repo(&format!("{dir}/queuecast.sysusers")).exists() {
            files.insert((format!("{dir}/queuecast.sysusers"), "/usr/lib/sysusers.d/queuecast.conf".into()));
        }
    }
    files
}

fn rpm_files() -> BTreeSet<(String, String)> {
    let rpm = &metadata()["generate-rpm"];
    let mut files = BTreeSet::new();
    for asset in rpm["assets"].as_array().unwrap() {
        files.extend(expand(asset["source"].as_str().unwrap(), asset["dest"].as_str().unwrap()));
    }
    files
}

#[test]
fn the_deb_and_the_rpm_ship_the_same_files() {
    let (deb, rpm) = (deb_files(), rpm_files());
    assert_eq!(deb, rpm, "Cargo.toml: [package.metadata.deb] and [package.metadata.generate-rpm] differ");
    let installed: BTreeSet<&str> = deb.iter().map(|(_, dest)| dest.as_str()).collect();
    for path in [
        "/usr/bin/queuecast",
        "/usr/lib/queuecast/setup-system",
        "/usr/lib/systemd/system/queuecast.service",
        "/usr/lib/systemd/system/queuecast-gateway.service",
        "/usr/lib/sysusers.d/queuecast.conf",
        "/usr/lib/tmpfiles.d/queuecast.conf",
        "/etc/queuecast/queuecast.toml",
        "/usr/share/doc/queuecast/docs/DESIGN.md",
        "/usr/share/doc/queuecast/docs/protocol/AMI.md",
        "/usr/share/man/man1/*.1.gz",
    ] {
        assert!(installed.contains(path), "the packages do not install {path}");
    }
    let rpm = &metadata()["generate-rpm"];
    let config = rpm["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|asset| asset["dest"].as_str() == Some("/etc/queuecast/queuecast.toml"));
    assert_eq!(config.unwrap()["config"].as_str(), Some("noreplace"));
    let deb = &metadata()["deb"];
    assert_eq!(deb["conf-files"].as_array().unwrap()[0].as_str(), Some("/etc/queuecast/queuecast.toml"));
    for unit in deb["systemd-units"].as_array().unwrap() {
        assert_eq!(unit["enable"].as_bool(), Some(false), "units are installed disabled: {unit}");
        assert_eq!(unit["start"].as_bool(), Some(false), "units are installed stopped: {unit}");
    }
    let manifest = read("Cargo.toml");
    assert!(!manifest.contains("example.invalid"), "a placeholder address in Cargo.toml");
}

/// Markdown links `](target)` that point into the repository (not URLs, not in-page anchors).
fn relative_links(markdown: &str) -> Vec<String> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .map(|target| target.split('#').next().unwrap().trim().to_string())
        .filter(|target| !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:"))
        .collect()
}

/// Lexically resolves `link` relative to the directory of `from` (both repository paths).
fn resolve(from: &str, link: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in link.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

#[test]
fn every_link_of_an_installed_doc_resolves_to_an_installed_file() {
    let files = deb_files();
    // Docs keep the repository layout under DOC_DIR, so a relative link works iff its target is shipped
    // at the same relative place.
    let docs: BTreeMap<String, String> = files
        .iter()
        .filter_map(|(source, dest)| dest.strip_prefix(DOC_DIR).map(|rel| (source.clone(), rel.to_string())))
        .collect();
    for (source, rel) in &docs {
        assert_eq!(source, rel, "{source} is installed as {DOC_DIR}{rel}: its relative links would break");
    }
    for linked in ["README.md", "docs/DESIGN.md", "docs/consumers.md", "docs/protocol/AMI.md"] {
        assert!(docs.contains_key(linked), "{linked} is not installed under {DOC_DIR}");
    }
    for source in docs.keys().filter(|source| source.ends_with(".md")) {
        for link in relative_links(&read(source)) {
            let target = resolve(source, &link);
            assert!(
                docs.contains_key(&target),
                "{source} links {link}: {target} is not installed under {DOC_DIR} (add it to both asset lists in Cargo.toml)"
            );
        }
    }
}

/// `Key=value` lines of a unit, in order.
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';', '[']))
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not Key=value: {line}"));
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// The directives docs/packaging.md's table says systemd 219 knows or skips.
fn documented_directives() -> BTreeSet<String> {
    let doc = read("docs/packaging.md");
    let table =
        &doc[doc.find("| directive | since | 219 |").expect("the directive table in docs/packaging.md")..];
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .flat_map(|line| line.split('|').nth(1).unwrap().split(',').map(|name| name.trim().to_string()))
        .collect()
}

#[test]
fn the_units_are_safe_on_systemd_219_and_documented() {
    let documented = documented_directives();
    let tmpfiles = read("systemd/queuecast.tmpfiles");
    let sysusers = read("systemd/queuecast.sysusers");
    for name in ["queuecast.service", "queuecast-gateway.service"] {
        let unit = directives(&read(&format!("systemd/{name}")));
        for (key, _) in &unit {
            assert!(documented.contains(key), "{name}: {key}= is not in docs/packaging.md's directive table");
        }
        let values =
            |key: &str| unit.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        // Before 231 an allow list of unknown @groups allows nothing and kills the service.
        let filters = values("SystemCallFilter");
        assert!(!filters.is_empty() && filters.iter().all(|f| f.starts_with('~')), "{name}: {filters:?}");
        // 219 skips "strict" and keeps the "full" before it; newer systemd takes the later "strict".
        assert_eq!(values("ProtectSystem"), ["full", "strict"], "{name}");
        // A missing group fails the start (216/GROUP): the package adds the group membership instead.
        assert!(
            values("SupplementaryGroups").is_empty(),
            "{name}: SupplementaryGroups fails where the group is missing"
        );
        let user = values("User");
        assert_eq!(user.len(), 1, "{name}");
        assert!(
            sysusers.lines().any(|line| line.starts_with(&format!("u {} ", user[0]))),
            "{name}: User={} not in sysusers",
            user[0]
        );
        assert_eq!(values("CapabilityBoundingSet"), [""], "{name}: no capabilities");
        assert_eq!(values("NoNewPrivileges"), ["yes"], "{name}");
        // StateDirectory= (235) has a tmpfiles.d twin with the same mode and owner.
        for dir in values("StateDirectory") {
            let mode = values("StateDirectoryMode");
            let line = format!("d /var/lib/{dir} {} {} {} -", mode[0], user[0], values("Group")[0]);
            assert!(tmpfiles.lines().any(|l| l == line), "{name}: tmpfiles lacks `{line}`");
        }
    }
    let gateway = directives(&read("systemd/queuecast-gateway.service"));
    let hidden: Vec<&str> =
        gateway.iter().filter(|(k, _)| k == "InaccessiblePaths").flat_map(|(_, v)| v.split(' ')).collect();
    for path in ["-/var/log/asterisk", "-/etc/asterisk", "-/run/asterisk"] {
        assert!(hidden.contains(&path), "the gateway can reach {path}");
    }
    assert!(
        gateway.iter().any(|(k, v)| k == "ExecStart"
            && v == "/usr/bin/queuecast gateway --config /etc/queuecast/queuecast.toml")
    );
}
