//! The layer rule: a module of the crate names only the modules below it.
//! The order is the one `src/lib.rs` states on its `//! Layers:` line; an
//! import that goes up (or a top-level module missing from that line)
//! fails here, naming the file.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The layers, bottom first, as `src/lib.rs` states them.
fn layers() -> Vec<String> {
    let lib = fs::read_to_string(Path::new(SRC).join("lib.rs")).unwrap();
    let line = lib
        .lines()
        .find_map(|line| line.strip_prefix("//! Layers: "))
        .expect("src/lib.rs states the layers on a `//! Layers: ` line");
    line.split(',').map(|name| name.trim().to_owned()).collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/auth/tokens.rs` -> `auth`).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(SRC).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// Source without comments, so that prose naming a module is no import.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file names: every `crate::x`, and in a
/// `crate::{a, b::c}` group each first name.
fn named_modules(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    names.push(first_ident(&item));
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            names.push(first_ident(rest));
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

fn first_ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every import that breaks the rule, as `file: from -> to`.
fn upward_imports(src: &Path) -> Vec<String> {
    let layers = layers();
    let rank = |name: &str| layers.iter().position(|layer| layer == name);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    for file in files {
        let from = module_of(&file);
        if from == "lib" || from == "main" {
            continue;
        }
        let Some(from_rank) = rank(&from) else {
            broken.push(format!("{}: module `{from}` is in no layer", file.display()));
            continue;
        };
        let text = fs::read_to_string(&file).unwrap();
        for to in named_modules(&code(&text)) {
            if let Some(to_rank) = rank(&to)
                && to != from
                && to_rank > from_rank
            {
                broken.push(format!("{}: {from} -> {to}", file.display()));
            }
        }
    }
    broken
}

#[test]
fn every_module_names_only_the_layers_below_it() {
    let broken = upward_imports(Path::new(SRC));
    assert!(
        broken.is_empty(),
        "imports against the layer order:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let layers = layers();
    let mut modules: BTreeMap<String, ()> = BTreeMap::new();
    for entry in fs::read_dir(SRC).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let name = name.trim_end_matches(".rs").to_owned();
        if name != "lib" && name != "main" {
            modules.insert(name, ());
        }
    }
    let missing: Vec<_> = modules.keys().filter(|m| !layers.contains(m)).collect();
    assert!(missing.is_empty(), "modules in no layer: {missing:?}");
    let absent: Vec<_> = layers.iter().filter(|l| !modules.contains_key(*l)).collect();
    assert!(absent.is_empty(), "layers that are no module: {absent:?}");
}

#[test]
fn the_import_reader_sees_groups_and_paths() {
    let source = "use crate::{\n    audit::{Action, Origin},\n    auth::{self, x::Y},\n    http,\n};\nlet a = crate::store::now_ms();";
    assert_eq!(named_modules(source), ["audit", "auth", "http", "store"]);
    assert_eq!(
        named_modules(&code("// crate::web is prose\nuse crate::http;")),
        ["http"]
    );
}
