//! The two forms a policy takes: built by the generator from the spec ([`Owned`]: `String`,
//! `Vec`), and written by it into a service as `const` data ([`Static`]: `&'static str`,
//! `&'static [T]`). One type definition serves both, so its fields and defaults exist once.
//!
//! The runtime names each type in its static form (`specjet::Policies` is
//! `Policies<Static>`), so a struct expression needs no annotation. One caveat of rustc (1.95):
//! a closure that builds a policy by `..policy` from a policy it captures (rather than takes
//! as its argument) crashes the compiler; write a `match` there.

use std::fmt::Debug;
use std::ops::Deref;

/// How a policy holds its text and its lists.
pub trait Form: Copy + Debug + PartialEq + Eq + Default + 'static {
    /// A piece of text: a name, a header, a tag's text.
    type Text: Clone + Debug + PartialEq + Eq + Deref<Target = str>;
    /// A list of values.
    type List<T: Clone + Debug + PartialEq + Eq + 'static>: Clone
        + Debug
        + PartialEq
        + Eq
        + Default
        + Deref<Target = [T]>;
}

/// The generator's form: the spec's values as it reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owned;

impl Form for Owned {
    type Text = String;
    type List<T: Clone + Debug + PartialEq + Eq + 'static> = Vec<T>;
}

/// A service's form: `const` data in the generated operations table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Static;

impl Form for Static {
    type Text = &'static str;
    type List<T: Clone + Debug + PartialEq + Eq + 'static> = &'static [T];
}
