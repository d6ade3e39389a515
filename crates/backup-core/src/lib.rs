//! placeholder during construction
#![allow(missing_docs)]
mod backup_id;
mod layout;
mod manifest;
mod sink;
mod source;
mod store_error;
mod target;
mod transform {
    pub mod spec;
}
pub use backup_id::*;
pub use layout::*;
pub use manifest::*;
pub use sink::*;
pub use source::*;
pub use store_error::*;
pub use target::*;
pub use transform::spec::TransformSpec;
