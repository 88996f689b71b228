//! `specjet watch`: regenerate on every save of the spec or of any file it references, with a
//! one-line summary per run; a broken spec prints its diagnostics and waits for the next save.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::emit::{self, GeneratedFile};

/// Operation name → its generated file, to tell what a run changed.
type Snapshot = BTreeMap<String, String>;

fn snapshot(files: &[GeneratedFile]) -> Snapshot {
    files
        .iter()
        .filter_map(|file| {
            let name = file.path.strip_prefix("operations/")?.strip_suffix(".rs")?;
            (name != "mod").then(|| (name.to_owned(), file.contents.clone()))
        })
        .collect()
}

/// `+added -removed ~changed` between two runs.
pub fn summary(before: Option<&Snapshot>, after: &Snapshot) -> String {
    let Some(before) = before else {
        return format!("{} operations", after.len());
    };
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|old| old != *v))
        .map(|(k, _)| k)
        .collect();
    let list = |sign: &str, names: &[&String]| {
        names
            .iter()
            .map(|n| format!("{sign}{n}"))
            .collect::<Vec<_>>()
    };
    let mut parts = list("+", &added);
    parts.extend(list("-", &removed));
    parts.extend(list("~", &changed));
    if parts.is_empty() {
        format!("{} operations, no operation changed", after.len())
    } else {
        format!("{} operations: {}", after.len(), parts.join(" "))
    }
}

/// One generation run: prints its line, returns the snapshot and the files to watch.
fn run_once(
    spec: &Path,
    output: &Path,
    previous: Option<&Snapshot>,
) -> (Option<Snapshot>, Vec<PathBuf>) {
    match crate::generate(spec) {
        Ok(generated) => {
            let files = canonical(&generated.sources);
            let current = snapshot(&generated.files);
            match emit::write(output, &generated.files) {
                Ok(report) => println!(
                    "regenerated {}: {} ({} written, {} removed, {} warnings)",
                    output.display(),
                    summary(previous, &current),
                    report.written,
                    report.removed.len(),
                    generated.diagnostics.count(crate::diag::Severity::Warning)
                ),
                Err(error) => println!("error: cannot write {}: {error}", output.display()),
            }
            (Some(current), files)
        }
        Err(diagnostics) => {
            for diagnostic in diagnostics.items() {
                println!("{diagnostic}");
            }
            println!("not regenerated: the spec has errors; waiting for the next save");
            // The spec does not load, so its references are unknown: watch it alone.
            (None, canonical(&[spec.to_owned()]))
        }
    }
}

/// Canonical paths, as the watcher reports them.
fn canonical(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|f| f.canonicalize().unwrap_or_else(|_| f.clone()))
        .collect()
}

/// Watches until the process is stopped.
pub fn watch(spec: &Path, output: &Path) -> Result<(), String> {
    let (sender, events) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = sender.send(event);
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    let mut previous: Option<Snapshot> = None;
    let mut watched_dirs: Vec<PathBuf> = Vec::new();
    loop {
        let (current, files) = run_once(spec, output, previous.as_ref());
        if current.is_some() {
            previous = current;
        }
        // Editors save by renaming over the file: watch the directories, filter by file.
        for dir in files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
        {
            if !watched_dirs.contains(&dir)
                && watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok()
            {
                watched_dirs.push(dir);
            }
        }
        loop {
            let Ok(event) = events.recv() else {
                return Ok(());
            };
            let touches = |event: &notify::Event| {
                event.paths.iter().any(|p| {
                    files
                        .iter()
                        .any(|f| p == f || p.canonicalize().is_ok_and(|c| &c == f))
                })
            };
            if event
                .as_ref()
                .is_ok_and(|e| touches(e) && !e.kind.is_access())
            {
                // Let the editor finish writing, and fold the burst of events of one save.
                std::thread::sleep(Duration::from_millis(100));
                while events.try_recv().is_ok() {}
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let before: Snapshot = [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "1".to_owned()),
        ]
        .into();
        let after: Snapshot = [
            ("a".to_owned(), "2".to_owned()),
            ("c".to_owned(), "1".to_owned()),
        ]
        .into();
        assert_eq!(summary(Some(&before), &after), "2 operations: +c -b ~a");
        assert_eq!(
            summary(Some(&after), &after),
            "2 operations, no operation changed"
        );
        assert_eq!(summary(None, &after), "2 operations");
    }
}
