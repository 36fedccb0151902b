//! The archiver's hot path, compiled: DynamoDB Streams records to change-table columns.
//!
//! The Python code is the definition: `schemas/dynamodb_types.py` (the type codec) and
//! `archiver/stream_records.py` (`record_to_row`). This module takes only input whose output it
//! can give byte for byte as they would (orjson's compact JSON, numbers with the digits
//! received, sets sorted) and leaves everything else to them: invalid values, non-canonical
//! base64, loose number spellings, other Python types. They then convert it or name the problem.

mod json;
mod python;
mod records;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::python::Object;
use crate::records::{Buffer, Columns};

/// An image as `(plain JSON, DynamoDB-typed JSON)`, or `None` when the Python codec must decide.
#[pyfunction]
fn encode_image<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
) -> Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let image = Object(image.as_ptr());
    if !image.is_dict() {
        return None;
    }
    let (mut plain, mut typed) = (Vec::with_capacity(1024), Vec::with_capacity(2048));
    json::write_image(image, &mut plain, &mut typed, None).ok()?;
    Some((PyBytes::new(py, &plain), PyBytes::new(py, &typed)))
}

/// Convert `records[start:]` into change-record columns, in order, until a record the Python
/// code must decide (it is left out), or until the JSON text reaches `max_bytes`, or the end.
///
/// Returns `(stop, columns)`: `stop` is the index of the first record not converted. `columns`
/// maps each column `record_to_row` fills per record to its Arrow buffers: `(validity, offsets,
/// data)` for text, `(validity, values)` for 64-bit integers (creation times in epoch
/// microseconds), and for `user_identity` its validity and its two fields' buffers; a validity
/// is `None` when the column has no nulls. `table_name` is given when the caller names the table.
#[pyfunction]
fn stream_records_to_columns<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyList>,
    start: usize,
    table_name: Option<&str>,
    max_bytes: usize,
) -> PyResult<(usize, Bound<'py, PyDict>)> {
    let mut columns = Columns::default();
    let mut index = start;
    while index < records.len() {
        // A reference to the record keeps it (and all it holds) alive while it is read.
        let record = records.get_item(index)?;
        if columns
            .push(py, Object(record.as_ptr()), table_name)
            .is_err()
        {
            break;
        }
        index += 1;
        if columns.rows == 1 {
            columns.reserve_like_so_far(records.len() - index, max_bytes);
        }
        if columns.json_bytes >= max_bytes {
            break;
        }
    }
    Ok((index, columns.into_dict(py)?))
}

#[pymodule]
fn changelake_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Buffer>()?;
    module.add_function(wrap_pyfunction!(encode_image, module)?)?;
    module.add_function(wrap_pyfunction!(stream_records_to_columns, module)?)
}
