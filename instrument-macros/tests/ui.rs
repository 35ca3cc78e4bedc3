//! Compile-time behaviour of the macros: every misuse is one clear error on the user's own token
//! (`ui/*/fail`, with the expected output beside each case), and unusual but valid input compiles
//! (`ui/*/pass`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/span/fail/*.rs");
    t.compile_fail("tests/ui/event/fail/*.rs");
    t.pass("tests/ui/span/pass/*.rs");
    t.pass("tests/ui/event/pass/*.rs");
}
