//! The WIT package as a [`Model`]: records, `option<T>` (optional and nullable), `list<T>`,
//! enums, type aliases and primitive types.

use std::collections::BTreeMap;

use wit_parser::{InterfaceId, Resolve, Type, TypeDefKind};

use super::model::{enum_value, Class, Model, Shape};

/// The model of record `record_name` of interface `interface`, its path named `root_path`.
pub fn model(
    resolve: &Resolve,
    interface: InterfaceId,
    record_name: &str,
    root_path: &str,
) -> Result<Model, String> {
    let id = *resolve.interfaces[interface]
        .types
        .get(record_name)
        .ok_or_else(|| format!("no type {record_name} in the WIT interface"))?;
    let mut model = Model::new();
    let (class, nullable) = shape_of(resolve, &Type::Id(id), root_path, &mut model)?;
    if class != Class::Record || nullable {
        return Err(format!("{record_name} is not a record"));
    }
    Ok(model)
}

fn shape_of(
    resolve: &Resolve,
    ty: &Type,
    path: &str,
    model: &mut Model,
) -> Result<(Class, bool), String> {
    let class = match ty {
        Type::Bool => Class::Boolean,
        Type::String | Type::Char => Class::String,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Class::Integer,
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => Class::Integer,
        Type::F32 | Type::F64 => Class::Number,
        Type::ErrorContext => return Err(format!("{path}: error-context is not modelled")),
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::Type(inner) => return shape_of(resolve, inner, path, model),
            TypeDefKind::Option(inner) => {
                let (class, nested) = shape_of(resolve, inner, path, model)?;
                if nested {
                    return Err(format!("{path}: option<option<T>> is not modelled"));
                }
                return Ok((class, true));
            }
            TypeDefKind::List(inner) => {
                let (item, nullable) = shape_of(resolve, inner, &format!("{path}[]"), model)?;
                if nullable {
                    return Err(format!("{path}: list<option<T>> is not modelled"));
                }
                Class::List(Box::new(item))
            }
            TypeDefKind::Enum(e) => {
                Class::Enum(e.cases.iter().map(|c| enum_value(&c.name)).collect())
            }
            TypeDefKind::Record(r) => {
                let mut fields = BTreeMap::new();
                for field in &r.fields {
                    let name = field.name.replace('-', "_");
                    let (class, nullable) =
                        shape_of(resolve, &field.ty, &format!("{path}/{name}"), model)?;
                    let shape = Shape {
                        class,
                        optional: nullable,
                        nullable,
                    };
                    fields.insert(name, shape);
                }
                model.insert(path.to_owned(), fields);
                Class::Record
            }
            other => return Err(format!("{path}: WIT {} is not modelled", other.as_str())),
        },
    };
    Ok((class, false))
}
