//! Borrowed views of Python objects: what the walks read, without touching reference counts.

use std::ffi::c_char;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Input the fast path leaves to the Python code, which converts it or names the problem.
pub struct Unsupported;

pub type Walk<T> = Result<T, Unsupported>;

/// A borrowed reference to a Python object, valid while the GIL is held and its container is not
/// changed. The walks create no Python objects and run no Python code, so nothing can change the
/// input under them; borrowing (instead of counting references) is what makes them cheap.
#[derive(Clone, Copy)]
pub struct Object(pub *mut ffi::PyObject);

impl Object {
    pub fn is_dict(self) -> bool {
        unsafe { ffi::PyDict_CheckExact(self.0) != 0 }
    }

    pub fn is_list(self) -> bool {
        unsafe { ffi::PyList_CheckExact(self.0) != 0 }
    }

    pub fn is_true(self) -> bool {
        unsafe { self.0 == ffi::Py_True() }
    }

    pub fn is_false(self) -> bool {
        unsafe { self.0 == ffi::Py_False() }
    }

    /// The UTF-8 text of an exact `str`; lone surrogates (which orjson refuses too) are left to
    /// the Python codec, which reports them.
    pub fn text<'a>(self) -> Walk<&'a str> {
        unsafe {
            if ffi::PyUnicode_CheckExact(self.0) == 0 {
                return Err(Unsupported);
            }
            let mut size: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(self.0, &mut size);
            if data.is_null() {
                ffi::PyErr_Clear();
                return Err(Unsupported);
            }
            let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
            // CPython hands out valid UTF-8 here (it refused surrogates above).
            Ok(std::str::from_utf8_unchecked(bytes))
        }
    }

    pub fn bytes<'a>(self) -> Option<&'a [u8]> {
        unsafe {
            if ffi::PyBytes_CheckExact(self.0) == 0 {
                return None;
            }
            let data: *mut c_char = ffi::PyBytes_AsString(self.0);
            Some(std::slice::from_raw_parts(
                data.cast::<u8>(),
                ffi::PyBytes_Size(self.0) as usize,
            ))
        }
    }

    pub fn is_none(self) -> bool {
        unsafe { self.0 == ffi::Py_None() }
    }

    /// An exact `int` that fits 64 bits (not `bool`, which is a subclass).
    pub fn int(self) -> Option<i64> {
        unsafe {
            if ffi::PyLong_CheckExact(self.0) == 0 {
                return None;
            }
            let mut overflow = 0;
            let value = ffi::PyLong_AsLongLongAndOverflow(self.0, &mut overflow);
            (overflow == 0).then_some(value)
        }
    }

    /// An exact `float`.
    pub fn float(self) -> Option<f64> {
        unsafe { (ffi::PyFloat_CheckExact(self.0) != 0).then(|| ffi::PyFloat_AsDouble(self.0)) }
    }

    /// The value under a `str` key of an exact dict, if present (no error is raised).
    pub fn get(self, key: &Bound<'_, PyString>) -> Option<Object> {
        let value = unsafe { ffi::PyDict_GetItem(self.0, key.as_ptr()) };
        (!value.is_null()).then_some(Object(value))
    }

    pub fn dict_len(self) -> usize {
        unsafe { ffi::PyDict_Size(self.0) as usize }
    }

    /// The entries of an exact dict, in order.
    pub fn entries(self) -> Entries {
        Entries {
            dict: self,
            position: 0,
        }
    }

    /// The items of an exact list.
    pub fn items(self) -> impl Iterator<Item = Object> {
        let size = unsafe { ffi::PyList_Size(self.0) };
        (0..size).map(move |index| Object(unsafe { ffi::PyList_GetItem(self.0, index) }))
    }

    pub fn list_len(self) -> usize {
        unsafe { ffi::PyList_Size(self.0) as usize }
    }
}

pub struct Entries {
    dict: Object,
    position: ffi::Py_ssize_t,
}

impl Iterator for Entries {
    type Item = (Object, Object);

    fn next(&mut self) -> Option<(Object, Object)> {
        let mut key = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        let found =
            unsafe { ffi::PyDict_Next(self.dict.0, &mut self.position, &mut key, &mut value) };
        (found != 0).then_some((Object(key), Object(value)))
    }
}
