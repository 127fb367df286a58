//! A classified schema change and the version bump it needs.

use std::fmt;

/// How big a version bump a change needs (ordered: PATCH < MINOR < MAJOR).
///
/// Producers and consumers upgrade independently and every consumer validates, so a MINOR must
/// be compatible both ways (FULL compatibility): a consumer of the older MINOR accepts every
/// event of the newer one, and a consumer of the newer MINOR accepts every event of the older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bump {
    /// No effect on which events are valid (annotations, or a document change that validates
    /// the same).
    Patch,
    /// An addition that leaves the set of valid events as producers make them unchanged: an
    /// optional property added to an object that allowed undeclared properties (old consumers
    /// ignore it, new consumers accept events without it), or a new `$defs` entry.
    Minor,
    /// The set of valid events changed, either way: a consumer of one version drops an event of
    /// the other (or the change could not be proven safe).
    Major,
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bump::Patch => "PATCH",
            Bump::Minor => "MINOR",
            Bump::Major => "MAJOR",
        })
    }
}

/// What kind of change was found; each kind needs a fixed [`Bump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A property was removed from `properties` (MAJOR).
    RemovedProperty,
    /// A property was added and is optional, to an object that allowed undeclared properties
    /// (MINOR).
    AddedOptionalProperty,
    /// A property was added to an object whose old schema constrained undeclared properties
    /// (`additionalProperties`, `unevaluatedProperties` or `patternProperties`): old consumers
    /// may drop events that carry it (MAJOR).
    AddedPropertyToClosedObject,
    /// A property was added and is required (MAJOR).
    AddedRequiredProperty,
    /// An existing (or undeclared) property became required (MAJOR).
    NewlyRequired,
    /// A property is no longer required: new producers may omit what old consumers require
    /// (MAJOR).
    NoLongerRequired,
    /// `type` lost a type or was added (MAJOR).
    ChangedType,
    /// `type` gained a type, e.g. `null`, or was removed: old consumers drop the new values
    /// (MAJOR).
    WidenedType,
    /// An `enum` (or `const`) lost a value (MAJOR).
    NarrowedEnum,
    /// An `enum` gained a value: old consumers drop events that use it (MAJOR).
    WidenedEnum,
    /// A `const` changed its value (MAJOR).
    ChangedConst,
    /// A validation keyword was added or made stricter (MAJOR).
    TightenedConstraint,
    /// A validation keyword was removed or relaxed: old consumers drop the events it now lets
    /// through (MAJOR).
    LoosenedConstraint,
    /// An `anyOf`/`oneOf` branch was added: old consumers drop events of the new branch (MAJOR).
    AddedAlternative,
    /// An `anyOf`/`oneOf` branch was removed (MAJOR).
    RemovedAlternative,
    /// A `$defs` entry was added; nothing references it yet, so no event changes validity
    /// (MINOR: an addition other documents may now reference).
    AddedDefinition,
    /// A `$defs` entry was removed; other documents may reference it (MAJOR).
    RemovedDefinition,
    /// A keyword the differ does not analyse changed (MAJOR, to be safe).
    Unclassified,
    /// An annotation changed: title, description, examples, `$comment`, `default`, `x-*` (PATCH).
    Annotation,
    /// The document differs but no validation keyword did, e.g. a reordered enum or an inline
    /// schema moved into `$defs` (PATCH).
    NoValidationEffect,
}

impl ChangeKind {
    /// The bump this kind of change needs.
    pub fn bump(self) -> Bump {
        use ChangeKind::*;
        match self {
            RemovedProperty
            | AddedRequiredProperty
            | AddedPropertyToClosedObject
            | NewlyRequired
            | NoLongerRequired
            | ChangedType
            | WidenedType
            | NarrowedEnum
            | WidenedEnum
            | ChangedConst
            | TightenedConstraint
            | LoosenedConstraint
            | AddedAlternative
            | RemovedAlternative
            | RemovedDefinition
            | Unclassified => Bump::Major,
            AddedOptionalProperty | AddedDefinition => Bump::Minor,
            Annotation | NoValidationEffect => Bump::Patch,
        }
    }

    /// A short human description, e.g. "tightened constraint".
    pub fn describe(self) -> &'static str {
        use ChangeKind::*;
        match self {
            RemovedProperty => "removed property",
            AddedOptionalProperty => "added optional property",
            AddedPropertyToClosedObject => "added property to a closed object",
            AddedRequiredProperty => "added required property",
            NewlyRequired => "newly required property",
            NoLongerRequired => "property no longer required",
            ChangedType => "changed type",
            WidenedType => "widened type",
            NarrowedEnum => "narrowed enum",
            WidenedEnum => "widened enum",
            ChangedConst => "changed const",
            TightenedConstraint => "tightened constraint",
            LoosenedConstraint => "loosened constraint",
            AddedAlternative => "added alternative",
            RemovedAlternative => "removed alternative",
            AddedDefinition => "added definition",
            RemovedDefinition => "removed definition",
            Unclassified => "unclassified change",
            Annotation => "annotation change",
            NoValidationEffect => "no effect on validation",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One classified change between an old and a new schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// JSON pointer into the new schema (into the old one for removed parts); `""` is the root.
    pub path: String,
    /// What kind of change it is.
    pub kind: ChangeKind,
    /// What changed, e.g. `200 -> 100` or `removed "low"`.
    pub detail: String,
}

impl Change {
    /// A change at `path`.
    pub fn new(path: impl Into<String>, kind: ChangeKind, detail: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind,
            detail: detail.into(),
        }
    }

    /// The bump this change needs.
    pub fn bump(&self) -> Bump {
        self.kind.bump()
    }
}

impl fmt::Display for Change {
    /// `<path> <detail> (<kind>) needs <BUMP>`; the root is shown as `(root)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(
            f,
            "{path} {} ({}) needs {}",
            self.detail,
            self.kind,
            self.bump()
        )
    }
}

/// The largest bump any of `changes` needs; `None` when there are no changes.
pub fn required_bump(changes: &[Change]) -> Option<Bump> {
    changes.iter().map(Change::bump).max()
}
