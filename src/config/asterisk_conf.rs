//! Asterisk's `asterisk.conf`, read for one default of ours: where astdb lives.

use std::path::{Path, PathBuf};

/// Where Asterisk keeps astdb when `asterisk.conf` sets neither `astdbdir` nor `astvarlibdir`.
pub const DEFAULT_ASTDB: &str = "/var/lib/asterisk/astdb.sqlite3";
/// The astdb file named by `asterisk.conf` text (`astdbdir`, else `astvarlibdir`, in `[directories]`),
/// or Asterisk's default.
pub fn path_from_asterisk_conf(text: Option<&str>) -> PathBuf {
    let mut dbdir = None;
    let mut varlibdir = None;
    let mut in_directories = false;
    for line in text.unwrap_or("").lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if let Some(section) = line.strip_prefix('[') {
            in_directories = section.split(']').next().is_some_and(|s| s.trim() == "directories");
            continue;
        }
        let Some((key, value)) = line.split_once("=>").or_else(|| line.split_once('=')) else { continue };
        let value = value.trim_start_matches('>').trim();
        match key.trim() {
            "astdbdir" if in_directories => dbdir = Some(value.to_owned()),
            "astvarlibdir" if in_directories => varlibdir = Some(value.to_owned()),
            _ => {}
        }
    }
    match dbdir.or(varlibdir) {
        Some(dir) => Path::new(&dir).join("astdb.sqlite3"),
        None => PathBuf::from(DEFAULT_ASTDB),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_comes_from_asterisk_conf() {
        assert_eq!(path_from_asterisk_conf(None), PathBuf::from(DEFAULT_ASTDB));
        let conf = "[directories](!)\nastetcdir => /etc/asterisk\nastvarlibdir => /srv/ast/lib\n";
        assert_eq!(path_from_asterisk_conf(Some(conf)), PathBuf::from("/srv/ast/lib/astdb.sqlite3"));
        let conf = "[directories]\nastdbdir => /data/db ; comment\nastvarlibdir => /srv/ast/lib\n[options]\nastdbdir => /x\n";
        assert_eq!(path_from_asterisk_conf(Some(conf)), PathBuf::from("/data/db/astdb.sqlite3"));
        let corpus = include_str!("../../tests/fixtures/asterisk-22/asterisk-conf/asterisk.conf");
        assert!(path_from_asterisk_conf(Some(corpus)).ends_with("astdb.sqlite3"));
    }
}
