//! Version parsing and steps.

use todo_contracts::{Bump, SchemaVersion, Step};

fn v(s: &str) -> SchemaVersion {
    s.parse().unwrap()
}

#[test]
fn parses_strict_semver() {
    assert_eq!(v("1.10.0"), SchemaVersion::new(1, 10, 0));
    for bad in [
        "1.0",
        "1.0.0.0",
        "01.0.0",
        "1.0.0-rc.1",
        "v1.0.0",
        "",
        "1..0",
        "1.0.x",
    ] {
        assert!(
            bad.parse::<SchemaVersion>().is_err(),
            "{bad} must be rejected"
        );
    }
}

#[test]
fn steps() {
    assert_eq!(v("1.0.0").step_from(&v("1.0.0")), Step::Same);
    assert_eq!(v("1.0.1").step_from(&v("1.0.0")), Step::Up(Bump::Patch));
    assert_eq!(v("1.1.0").step_from(&v("1.0.9")), Step::Up(Bump::Minor));
    assert_eq!(v("2.0.0").step_from(&v("1.9.9")), Step::Up(Bump::Major));
    assert_eq!(v("1.9.0").step_from(&v("1.10.0")), Step::Lower);
}

#[test]
fn satisfies() {
    assert!(Step::Up(Bump::Major).satisfies(Some(Bump::Minor)));
    assert!(!Step::Up(Bump::Patch).satisfies(Some(Bump::Minor)));
    assert!(!Step::Same.satisfies(Some(Bump::Patch)));
    assert!(Step::Same.satisfies(None));
    assert!(!Step::Lower.satisfies(None));
}
