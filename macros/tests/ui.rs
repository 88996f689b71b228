//! Compile-time behaviour of the macros: a passing crate, and checked-in compiler output for
//! each kind of error (`TRYBUILD=overwrite cargo test -p specjet-macros` refreshes it).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass.rs");
    cases.compile_fail("tests/ui/wrong_impl.rs");
    cases.compile_fail("tests/ui/spec_errors.rs");
    cases.compile_fail("tests/ui/policy_errors.rs");
    cases.compile_fail("tests/ui/limit_errors.rs");
    cases.compile_fail("tests/ui/missing_verifier.rs");
}
