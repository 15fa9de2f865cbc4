//! Tests of `sql.rs`.

/// A first load drops and rebuilds the people indexes: as the migrations of both backends
/// have them, or it would leave them different.
#[test]
fn the_rebuilt_people_indexes_are_those_of_the_migrations() {
    for backend in ["sqlite", "postgres"] {
        let path = format!("{}/migrations/{backend}/0001_initial.sql", env!("CARGO_MANIFEST_DIR"));
        let sql = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for (drop, create) in super::PEOPLE_INDEXES {
            assert!(sql.contains(&format!("{create};")), "{backend}: {create}");
            let name = drop.trim_start_matches("DROP INDEX ");
            assert_eq!(sql.matches(&format!("INDEX {name} ")).count(), 1, "{backend}: {name}");
        }
    }
}
