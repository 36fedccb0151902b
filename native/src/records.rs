//! Lambda-shaped stream records to the columns of a change table, as Arrow buffers.

use std::ffi::{c_int, c_void};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::json::{encode_base64, is_json_number, write_image};
use crate::python::{Object, Unsupported, Walk};

const SEQUENCE_ORDER_WIDTH: usize = 40;
// Epoch numbers by magnitude, as `creation_time` reads them: seconds, then milliseconds, then
// microseconds, each range from 1973 to 5138.
const MILLISECONDS_FROM: i64 = 100_000_000_000;
const MICROSECONDS_FROM: i64 = 100_000_000_000_000;
const MICROSECONDS_UNTIL: i64 = 100_000_000_000_000_000;

/// The per-record columns of a change table being built.
#[derive(Default)]
pub struct Columns {
    table_name: TextColumn,
    event_id: TextColumn,
    event_name: TextColumn,
    item_key: TextColumn,
    keys: TextColumn,
    keys_ddb: TextColumn,
    sequence_number: TextColumn,
    sequence_order: TextColumn,
    approximate_creation_time: IntColumn,
    user_identity: IntColumn,
    user_identity_type: TextColumn,
    user_identity_principal_id: TextColumn,
    stream_arn: TextColumn,
    stream_view_type: TextColumn,
    aws_region: TextColumn,
    size_bytes: IntColumn,
    new_image: TextColumn,
    old_image: TextColumn,
    new_image_ddb: TextColumn,
    old_image_ddb: TextColumn,
    new_image_shape: TextColumn,
    pub rows: usize,
    pub json_bytes: usize,
}

impl Columns {
    /// Add one record as a row, or leave the columns as they were and answer `Unsupported`.
    /// `table_name` is the caller's name for the table; without it the name comes from the ARN.
    pub fn push(&mut self, py: Python<'_>, record: Object, table_name: Option<&str>) -> Walk<()> {
        let fields = StreamRecord::read(py, record)?;
        let table_name = match table_name {
            Some(name) => name,
            None => table_name_from_arn(fields.stream_arn.ok_or(Unsupported)?.text()?)?,
        };
        let json_before = self.json_len();
        if let Err(unsupported) = self.write_images(&fields) {
            self.cut_json(json_before);
            return Err(unsupported);
        }
        self.table_name.push(Some(table_name.as_bytes()));
        self.event_id.push_text(Some(fields.event_id));
        self.event_name.push_text(Some(fields.event_name));
        self.item_key.push(Some(fields.item_key.as_bytes()));
        self.sequence_number.push_text(Some(fields.sequence_number));
        self.sequence_order
            .push(Some(fields.sequence_order.as_bytes()));
        self.approximate_creation_time
            .push(Some(fields.created_micros));
        let (kind, principal) = fields.user_identity.unwrap_or((None, None));
        self.user_identity.push(fields.user_identity.map(|_| 0));
        self.user_identity_type.push_text(kind);
        self.user_identity_principal_id.push_text(principal);
        self.stream_arn.push_text(fields.stream_arn);
        self.stream_view_type.push_text(fields.stream_view_type);
        self.aws_region.push_text(fields.aws_region);
        self.size_bytes.push(fields.size_bytes);
        self.rows += 1;
        self.json_bytes = self.json_len().iter().sum();
        Ok(())
    }

    /// The key and images (and the new image's shape), written straight into their columns'
    /// data; the rows are closed only when all are written.
    fn write_images(&mut self, fields: &StreamRecord) -> Walk<()> {
        write_image(
            fields.keys,
            &mut self.keys.data,
            &mut self.keys_ddb.data,
            None,
        )?;
        if let Some(image) = fields.new_image {
            write_image(
                image,
                &mut self.new_image.data,
                &mut self.new_image_ddb.data,
                Some(&mut self.new_image_shape.data),
            )?;
        }
        if let Some(image) = fields.old_image {
            write_image(
                image,
                &mut self.old_image.data,
                &mut self.old_image_ddb.data,
                None,
            )?;
        }
        self.keys.close_row(true);
        self.keys_ddb.close_row(true);
        for (image, plain, typed) in self.image_columns(fields) {
            plain.close_row(image.is_some());
            typed.close_row(image.is_some());
        }
        self.new_image_shape.close_row(fields.new_image.is_some());
        Ok(())
    }

    /// The record's new and old image, each with its plain and typed column.
    fn image_columns(&mut self, fields: &StreamRecord) -> [ImageColumns<'_>; 2] {
        [
            (
                fields.new_image,
                &mut self.new_image,
                &mut self.new_image_ddb,
            ),
            (
                fields.old_image,
                &mut self.old_image,
                &mut self.old_image_ddb,
            ),
        ]
    }

    fn json_columns(&mut self) -> [&mut TextColumn; 7] {
        [
            &mut self.keys,
            &mut self.keys_ddb,
            &mut self.new_image,
            &mut self.old_image,
            &mut self.new_image_ddb,
            &mut self.old_image_ddb,
            &mut self.new_image_shape,
        ]
    }

    fn json_len(&mut self) -> [usize; 7] {
        self.json_columns().map(|column| column.data.len())
    }

    fn cut_json(&mut self, lengths: [usize; 7]) {
        for (column, length) in self.json_columns().into_iter().zip(lengths) {
            column.data.truncate(length);
        }
    }

    /// Room for about `rows` more rows like the ones so far, but no more than the `max_bytes`
    /// of JSON a call converts, so that the large columns grow once instead of doubling (each
    /// doubling copies and faults in fresh pages) and a batch of large items reserves no more
    /// than it will write.
    pub fn reserve_like_so_far(&mut self, rows: usize, max_bytes: usize) {
        if self.rows == 0 {
            return;
        }
        let so_far = self.rows;
        let rows = rows.min(max_bytes / (self.json_bytes / so_far).max(1) + 1);
        for column in self.json_columns() {
            column.data.reserve(column.data.len() / so_far * rows);
        }
    }

    pub fn into_dict(self, py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let columns = PyDict::new(py);
        for (name, column) in [
            ("table_name", self.table_name),
            ("event_id", self.event_id),
            ("event_name", self.event_name),
            ("item_key", self.item_key),
            ("keys", self.keys),
            ("keys_ddb", self.keys_ddb),
            ("sequence_number", self.sequence_number),
            ("sequence_order", self.sequence_order),
            ("stream_arn", self.stream_arn),
            ("stream_view_type", self.stream_view_type),
            ("aws_region", self.aws_region),
            ("new_image", self.new_image),
            ("old_image", self.old_image),
            ("new_image_ddb", self.new_image_ddb),
            ("old_image_ddb", self.old_image_ddb),
            ("new_image_shape", self.new_image_shape),
        ] {
            columns.set_item(name, column.into_buffers(py)?)?;
        }
        let times = self.approximate_creation_time.into_buffers(py)?;
        columns.set_item("approximate_creation_time", times)?;
        columns.set_item("size_bytes", self.size_bytes.into_buffers(py)?)?;
        let identity = (
            self.user_identity.into_buffers(py)?[0].take(),
            self.user_identity_type.into_buffers(py)?,
            self.user_identity_principal_id.into_buffers(py)?,
        );
        columns.set_item("user_identity", identity)?;
        Ok(columns)
    }
}

type ImageColumns<'a> = (Option<Object>, &'a mut TextColumn, &'a mut TextColumn);

/// Bytes handed to Python without a copy, through the buffer protocol (`pyarrow.py_buffer`).
#[pyclass(frozen)]
pub struct Buffer {
    data: Vec<u8>,
}

#[pymethods]
impl Buffer {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("the buffer is read-only"));
        }
        let data = &slf.get().data;
        // Fills a read-only, one-dimensional byte view and takes a reference to `slf`.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut c_void,
                data.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

fn buffer(py: Python<'_>, data: Vec<u8>) -> PyResult<Bound<'_, Buffer>> {
    Bound::new(py, Buffer { data })
}

/// An Arrow text column being built: validity bits, 32-bit offsets, UTF-8 data.
struct TextColumn {
    validity: Vec<u8>,
    offsets: Vec<u8>,
    data: Vec<u8>,
    rows: usize,
    nulls: usize,
}

impl Default for TextColumn {
    fn default() -> Self {
        TextColumn {
            validity: Vec::new(),
            offsets: 0i32.to_le_bytes().to_vec(),
            data: Vec::new(),
            rows: 0,
            nulls: 0,
        }
    }
}

impl TextColumn {
    fn push(&mut self, value: Option<&[u8]>) {
        if let Some(bytes) = value {
            self.data.extend_from_slice(bytes);
        }
        self.close_row(value.is_some());
    }

    fn push_text(&mut self, value: Option<Object>) {
        self.push(value.map(|object| object.text().unwrap_or_default().as_bytes()));
    }

    /// End the current row at the data written so far (none for a null).
    fn close_row(&mut self, present: bool) {
        push_validity(&mut self.validity, self.rows, present);
        self.nulls += usize::from(!present);
        self.rows += 1;
        // Offsets stay within 32 bits: the caller cuts batches far below 2 GiB of text.
        self.offsets
            .extend_from_slice(&(self.data.len() as i32).to_le_bytes());
    }

    fn into_buffers(self, py: Python<'_>) -> PyResult<Buffers<'_, 3>> {
        let validity = (self.nulls > 0)
            .then(|| buffer(py, self.validity))
            .transpose()?;
        Ok([
            validity,
            Some(buffer(py, self.offsets)?),
            Some(buffer(py, self.data)?),
        ])
    }
}

type Buffers<'py, const N: usize> = [Option<Bound<'py, Buffer>>; N];

/// An Arrow 64-bit integer column being built.
#[derive(Default)]
struct IntColumn {
    validity: Vec<u8>,
    values: Vec<u8>,
    rows: usize,
    nulls: usize,
}

impl IntColumn {
    fn push(&mut self, value: Option<i64>) {
        push_validity(&mut self.validity, self.rows, value.is_some());
        self.nulls += usize::from(value.is_none());
        self.rows += 1;
        self.values
            .extend_from_slice(&value.unwrap_or(0).to_le_bytes());
    }

    fn into_buffers(self, py: Python<'_>) -> PyResult<Buffers<'_, 2>> {
        let validity = (self.nulls > 0)
            .then(|| buffer(py, self.validity))
            .transpose()?;
        Ok([validity, Some(buffer(py, self.values)?)])
    }
}

fn push_validity(validity: &mut Vec<u8>, row: usize, present: bool) {
    if row.is_multiple_of(8) {
        validity.push(0);
    }
    if present {
        validity[row / 8] |= 1 << (row % 8);
    }
}

/// What a stream record holds besides its images' text, read and checked.
struct StreamRecord {
    event_id: Object,
    event_name: Object,
    item_key: String,
    keys: Object,
    sequence_number: Object,
    sequence_order: String,
    created_micros: i64,
    user_identity: Option<(Option<Object>, Option<Object>)>,
    stream_arn: Option<Object>,
    stream_view_type: Option<Object>,
    aws_region: Option<Object>,
    size_bytes: Option<i64>,
    new_image: Option<Object>,
    old_image: Option<Object>,
}

impl StreamRecord {
    fn read(py: Python<'_>, record: Object) -> Walk<StreamRecord> {
        if !record.is_dict() {
            return Err(Unsupported);
        }
        let event_id = record.get(intern!(py, "eventID")).ok_or(Unsupported)?;
        if event_id.text()?.is_empty() {
            return Err(Unsupported);
        }
        let event_name = record.get(intern!(py, "eventName")).ok_or(Unsupported)?;
        if !matches!(event_name.text()?, "INSERT" | "MODIFY" | "REMOVE") {
            return Err(Unsupported);
        }
        let block = record.get(intern!(py, "dynamodb")).ok_or(Unsupported)?;
        if !block.is_dict() {
            return Err(Unsupported);
        }
        let keys = block.get(intern!(py, "Keys")).ok_or(Unsupported)?;
        if !keys.is_dict() || keys.dict_len() == 0 {
            return Err(Unsupported);
        }
        let sequence_number = block
            .get(intern!(py, "SequenceNumber"))
            .ok_or(Unsupported)?;
        let created = block.get(intern!(py, "ApproximateCreationDateTime"));
        Ok(StreamRecord {
            event_id,
            event_name,
            item_key: keys_to_item_key(keys)?,
            keys,
            sequence_number,
            sequence_order: sequence_to_order(sequence_number.text()?)?,
            created_micros: creation_micros(created)?,
            user_identity: user_identity(py, record.get(intern!(py, "userIdentity")))?,
            stream_arn: optional_text(record.get(intern!(py, "eventSourceARN")))?,
            stream_view_type: optional_text(block.get(intern!(py, "StreamViewType")))?,
            aws_region: optional_text(record.get(intern!(py, "awsRegion")))?,
            size_bytes: size_bytes(block.get(intern!(py, "SizeBytes")))?,
            new_image: image(block.get(intern!(py, "NewImage")))?,
            old_image: image(block.get(intern!(py, "OldImage")))?,
        })
    }
}

/// A present image must be an exact dict; `None` and a missing key are the same.
fn image(value: Option<Object>) -> Walk<Option<Object>> {
    match value {
        Some(value) if value.is_none() => Ok(None),
        Some(value) if value.is_dict() => Ok(Some(value)),
        Some(_) => Err(Unsupported),
        None => Ok(None),
    }
}

/// A present value must be an exact `str`; `None` and a missing key are the same.
fn optional_text(value: Option<Object>) -> Walk<Option<Object>> {
    match value {
        Some(value) if value.is_none() => Ok(None),
        Some(value) => value.text().map(|_| Some(value)),
        None => Ok(None),
    }
}

fn user_identity(
    py: Python<'_>,
    value: Option<Object>,
) -> Walk<Option<(Option<Object>, Option<Object>)>> {
    match value {
        Some(value) if value.is_dict() => Ok(Some((
            optional_text(value.get(intern!(py, "type")))?,
            optional_text(value.get(intern!(py, "principalId")))?,
        ))),
        Some(value) if !value.is_none() => Err(Unsupported),
        _ => Ok(None),
    }
}

fn size_bytes(value: Option<Object>) -> Walk<Option<i64>> {
    match value {
        Some(value) if value.is_none() => Ok(None),
        Some(value) => value
            .int()
            .filter(|&size| size >= 0)
            .map(Some)
            .ok_or(Unsupported),
        None => Ok(None),
    }
}

/// ApproximateCreationDateTime in microseconds: epoch seconds, milliseconds or microseconds by
/// magnitude; seconds as `datetime.fromtimestamp` rounds, the others as Python's `round`.
fn creation_micros(value: Option<Object>) -> Walk<i64> {
    let value = value.ok_or(Unsupported)?;
    if let Some(number) = value.int() {
        return match number {
            0..MILLISECONDS_FROM => Ok(number * 1_000_000),
            MILLISECONDS_FROM..MICROSECONDS_FROM => Ok(number * 1_000),
            MICROSECONDS_FROM..MICROSECONDS_UNTIL => Ok(number),
            _ => Err(Unsupported),
        };
    }
    let number = value.float().ok_or(Unsupported)?;
    if !(0.0..MICROSECONDS_UNTIL as f64).contains(&number) {
        return Err(Unsupported);
    }
    if number >= MICROSECONDS_FROM as f64 {
        return Ok(number.round_ties_even() as i64);
    }
    if number >= MILLISECONDS_FROM as f64 {
        return Ok((number * 1e3).round_ties_even() as i64);
    }
    // CPython: split off the whole seconds, round the fraction's microseconds half to even.
    let whole = number.trunc();
    let mut micros = ((number - whole) * 1e6).round_ties_even();
    let mut whole = whole as i64;
    if micros >= 1e6 {
        micros -= 1e6;
        whole += 1;
    }
    Ok(whole * 1_000_000 + micros as i64)
}

/// Zero-pad a sequence number so that text order equals numeric order.
fn sequence_to_order(sequence_number: &str) -> Walk<String> {
    let digits = sequence_number.as_bytes();
    if digits.is_empty()
        || digits.len() > SEQUENCE_ORDER_WIDTH
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return Err(Unsupported);
    }
    let mut order = "0".repeat(SEQUENCE_ORDER_WIDTH - digits.len());
    order.push_str(sequence_number);
    Ok(order)
}

/// The table inside `...:table/<name>/stream/<label>` or a table ARN ending `...:table/<name>`,
/// when it is a valid DynamoDB table name.
fn table_name_from_arn(arn: &str) -> Walk<&str> {
    let mut rest = arn;
    while let Some(found) = rest.find(":table/") {
        let after = &rest[found + ":table/".len()..];
        let name = match after.find('/') {
            Some(end) if end > 0 && after[end..].starts_with("/stream/") => Some(&after[..end]),
            None if !after.is_empty() => Some(after),
            _ => None,
        };
        if let Some(name) = name {
            let valid = (3..=255).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            return if valid { Ok(name) } else { Err(Unsupported) };
        }
        rest = &rest[found + 1..];
    }
    Err(Unsupported)
}

/// `name=value` pairs sorted by name and joined with `&`; `%`, `&`, `=` percent-encoded.
fn keys_to_item_key(keys: Object) -> Walk<String> {
    let mut parts = Vec::with_capacity(keys.dict_len());
    for (name, value) in keys.entries() {
        if !value.is_dict() || value.dict_len() != 1 {
            return Err(Unsupported);
        }
        let (tag, inner) = value.entries().next().ok_or(Unsupported)?;
        let text = match (tag.text()?, inner.bytes()) {
            ("S", _) => inner.text()?.to_owned(),
            ("N", _) => {
                let number = inner.text()?;
                if !is_json_number(number.as_bytes()) {
                    return Err(Unsupported);
                }
                number.to_owned()
            }
            ("B", Some(bytes)) => encode_base64(bytes),
            ("B", None) => inner.text()?.to_owned(),
            _ => return Err(Unsupported),
        };
        parts.push((name.text()?, text));
    }
    parts.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut item_key = String::new();
    for (index, (name, text)) in parts.iter().enumerate() {
        if index > 0 {
            item_key.push('&');
        }
        push_escaped(&mut item_key, name);
        item_key.push('=');
        push_escaped(&mut item_key, text);
    }
    Ok(item_key)
}

fn push_escaped(out: &mut String, text: &str) {
    for character in text.chars() {
        match character {
            '%' => out.push_str("%25"),
            '&' => out.push_str("%26"),
            '=' => out.push_str("%3D"),
            _ => out.push(character),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_from_stream_and_table_arns() {
        let named = [
            (
                "arn:aws:dynamodb:r:1:table/Posts-prod.v2/stream/2026-11-01T00:00:00.000",
                "Posts-prod.v2",
            ),
            (
                "arn:aws:dynamodb:us-east-1:111122223333:table/EventSourceTable",
                "EventSourceTable",
            ),
            ("arn:aws:dynamodb:r:1:table/a:table/posts", "posts"),
            ("arn:aws:dynamodb:r:1:table/a:table/posts/stream/x", "posts"),
        ];
        for (arn, table) in named {
            assert_eq!(table_name_from_arn(arn).ok(), Some(table), "{arn}");
        }
        for arn in [
            "arn:aws:dynamodb:r:1:table/",
            "arn:aws:dynamodb:r:1:table/posts/",
            "arn:aws:dynamodb:r:1:table/posts/index/x",
            "arn:aws:dynamodb:r:1:table/no",
            "arn:aws:sqs:r:1:queue",
        ] {
            assert!(table_name_from_arn(arn).is_err(), "{arn}");
        }
    }
}
