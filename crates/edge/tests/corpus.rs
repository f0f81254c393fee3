//! Replays the checked-in fuzz corpus (`fuzz/corpus/`) through the same checks the fuzz
//! targets run, so every input that once found a bug stays fixed without nightly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use envoi_edge::proto::{check, DataProblem, DataReader};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

#[test]
fn command_corpus_replays() {
    for (name, input) in corpus("command") {
        let result = std::panic::catch_unwind(|| check::command_input(&input));
        assert!(
            result.is_ok(),
            "command corpus file {name} fails its checks"
        );
    }
}

#[test]
fn data_corpus_replays() {
    for (name, input) in corpus("data") {
        let result = std::panic::catch_unwind(|| check::data_input(&input));
        assert!(result.is_ok(), "data corpus file {name} fails its checks");
    }
}

#[test]
fn smuggling_seeds_are_refused_whole() {
    for (name, input) in corpus("data") {
        if !name.contains("-dot-") {
            continue;
        }
        let mut reader = DataReader::new(4096);
        let (used, done) = reader.feed(&input);
        assert!(
            done && used == input.len(),
            "{name}: must end only at the final CRLF.CRLF"
        );
        assert_eq!(reader.finish(), Err(DataProblem::BareLineEnding), "{name}");
    }
}
