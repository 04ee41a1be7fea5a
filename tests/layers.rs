//! The layer rule: a module of the crate names only the modules below it.
//! The order is the one `src/lib.rs` states on its `//! Layers:` line; an
//! import that goes up (or a top-level module missing from that line)
//! fails here, naming the file. Within a layer, files import each other in
//! one direction only (no circle, however long), and no file holds more
//! than 400 lines of code (its tests aside): a file does one job.

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

/// A file's module path: `src/http/error.rs` -> `["http", "error"]`,
/// `src/http/mod.rs` -> `["http"]`, `src/lib.rs` -> `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(SRC).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_owned())
        .collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        path.pop();
    }
    path
}

/// The code of a file before its tests, without comments.
fn non_test_code(text: &str) -> String {
    let code = code(text);
    match code.find("#[cfg(test)]") {
        Some(at) => code[..at].to_owned(),
        None => code,
    }
}

/// Every path a `use` tree names, its groups expanded: `crate::{a::{B, C}, d}`
/// -> `crate::a::B`, `crate::a::C`, `crate::d`.
fn use_paths(tree: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head = tree[..open].trim_end_matches("::");
            let prefix = [prefix, head]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("::");
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let (mut depth, mut start) = (0, 0);
            for (at, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&prefix, &inner[start..at], out);
                        start = at + 1;
                    }
                    _ => {}
                }
            }
            expand(&prefix, &inner[start..], out);
        } else if !tree.is_empty() {
            let item = tree.split(" as ").next().unwrap().trim();
            out.push(if prefix.is_empty() {
                item.to_owned()
            } else {
                format!("{prefix}::{item}")
            });
        }
    }
    let mut out = Vec::new();
    expand("", tree, &mut out);
    out
}

/// The files each file imports from (`crate::`, `super::` and `self::`
/// paths, in `use` declarations and inline), by the longest module path
/// that names a file.
fn file_imports(files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let by_module: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|file| (module_path(file), file.clone()))
        .collect();
    let resolve = |from: &[String], path: &str| -> Option<PathBuf> {
        let mut parts: Vec<&str> = path.split("::").map(str::trim).collect();
        let mut base: Vec<String> = match parts.first().copied() {
            Some("crate") => Vec::new(),
            Some("self") => from.to_vec(),
            Some("super") => from[..from.len().saturating_sub(1)].to_vec(),
            _ => return None,
        };
        parts.remove(0);
        while parts.first() == Some(&"super") {
            base.pop();
            parts.remove(0);
        }
        let mut found = None;
        for taken in 0..=parts.len() {
            let mut candidate = base.clone();
            candidate.extend(parts[..taken].iter().map(|p| (*p).to_owned()));
            if let Some(file) = by_module.get(&candidate) {
                found = Some(file.clone());
            }
        }
        found
    };
    let mut imports = BTreeMap::new();
    for file in files {
        let from = module_path(file);
        let code = non_test_code(&fs::read_to_string(file).unwrap());
        let mut targets = Vec::new();
        // A `use` item starts a line (after its visibility): text that
        // says "use" elsewhere (a string, say) is none.
        let mut offset = 0;
        for line in code.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let item = line.trim_start();
            let item = item.strip_prefix("pub ").unwrap_or(item);
            let item = match item.strip_prefix("pub(") {
                Some(rest) => rest.split_once(") ").map_or(item, |(_, rest)| rest),
                None => item,
            };
            let Some(tree) = item.strip_prefix("use ") else {
                continue;
            };
            let at = start + line.len() - tree.len();
            let Some(end) = code[at..].find(';') else { break };
            targets.extend(
                use_paths(&code[at..at + end])
                    .iter()
                    .filter_map(|path| resolve(&from, path)),
            );
        }
        for root in ["crate::", "super::"] {
            let mut rest = code.as_str();
            while let Some(at) = rest.find(root) {
                let path: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                // `super::{a, b}`: a group, whose paths the `use` reading
                // above resolved one by one; the bare prefix names no file.
                if !path.ends_with("::") {
                    targets.extend(resolve(&from, &path));
                }
                rest = &rest[at + root.len()..];
            }
        }
        targets.retain(|target| target != file);
        targets.sort();
        targets.dedup();
        imports.insert(file.clone(), targets);
    }
    imports
}

/// The circles among `imports`, each as its files in order.
fn circles(imports: &BTreeMap<PathBuf, Vec<PathBuf>>) -> Vec<Vec<PathBuf>> {
    // Depth-first, colouring files in progress; a file reached again while
    // in progress closes a circle through the files on the stack since it.
    fn visit(
        file: &PathBuf,
        imports: &BTreeMap<PathBuf, Vec<PathBuf>>,
        done: &mut Vec<PathBuf>,
        stack: &mut Vec<PathBuf>,
        found: &mut Vec<Vec<PathBuf>>,
    ) {
        if done.contains(file) {
            return;
        }
        if let Some(at) = stack.iter().position(|f| f == file) {
            found.push(stack[at..].to_vec());
            return;
        }
        stack.push(file.clone());
        for target in imports.get(file).into_iter().flatten() {
            visit(target, imports, done, stack, found);
        }
        stack.pop();
        done.push(file.clone());
    }
    let (mut done, mut found) = (Vec::new(), Vec::new());
    for file in imports.keys() {
        visit(file, imports, &mut done, &mut Vec::new(), &mut found);
    }
    found
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let found = circles(&file_imports(&files));
    let described: Vec<String> = found
        .iter()
        .map(|circle| {
            circle
                .iter()
                .map(|f| f.strip_prefix(SRC).unwrap().display().to_string())
                .collect::<Vec<_>>()
                .join(" -> ")
        })
        .collect();
    assert!(described.is_empty(), "import circles:\n{}", described.join("\n"));
}

#[test]
fn the_circle_finder_sees_a_circle_through_groups_and_super() {
    let src = Path::new(SRC);
    let files: Vec<PathBuf> = ["http/a.rs", "http/b.rs", "http/c.rs"]
        .iter()
        .map(|f| src.join(f))
        .collect();
    assert_eq!(
        use_paths("super::{a::{X, Y}, b::Z as W}"),
        ["super::a::X", "super::a::Y", "super::b::Z"]
    );
    let mut imports = BTreeMap::new();
    imports.insert(files[0].clone(), vec![files[1].clone()]);
    imports.insert(files[1].clone(), vec![files[2].clone()]);
    imports.insert(files[2].clone(), vec![files[0].clone()]);
    assert_eq!(circles(&imports).len(), 1);
    imports.insert(files[2].clone(), vec![]);
    assert!(circles(&imports).is_empty());
}

/// Lines of code in a file before its tests: neither blank nor a comment.
fn lines_of_code(text: &str) -> usize {
    non_test_code(text)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

#[test]
fn no_file_holds_more_than_400_lines_of_code() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|file| (file, lines_of_code(&fs::read_to_string(file).unwrap())))
        .filter(|(_, lines)| *lines > 400)
        .map(|(file, lines)| format!("{}: {lines}", file.strip_prefix(SRC).unwrap().display()))
        .collect();
    assert!(
        long.is_empty(),
        "files over 400 lines of code:\n{}",
        long.join("\n")
    );
}
