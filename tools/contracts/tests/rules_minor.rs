//! Additions that keep the events of both versions valid for the other version's consumers:
//! MINOR (`tests/pairs/minor.json`). Only an optional property added to an object that allows
//! undeclared properties: old consumers ignore it, new consumers accept events without it.

#[macro_use]
mod common;

pair_tests!("minor.json":
    added_optional_nested_property,
    added_optional_property,
    added_optional_property_where_undeclared_properties_are_allowed,
);
